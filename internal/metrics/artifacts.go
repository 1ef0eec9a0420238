package metrics

import "github.com/prometheus/client_golang/prometheus"

// artifactBytes are the artifact store's metrics: bytes stored.
type artifactBytes struct {
	bytes   *prometheus.CounterVec
	objects *prometheus.CounterVec
}

// artifactOps are the ways bytes reach the artifact store: an upload (put)
// or a copy of another run's object (copy: a cache hit).
var artifactOps = []string{"put", "copy"}

func newArtifactBytes() *artifactBytes {
	a := &artifactBytes{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "artifacts", Name: "stored_bytes_total",
			Help: "Bytes written to the artifact store by objects stored successfully, by operation (put: an upload; copy: a cache hit's copy).",
		}, []string{"op"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "artifacts", Name: "stored_objects_total",
			Help: "Objects stored successfully in the artifact store, by operation (put, copy).",
		}, []string{"op"}),
	}
	for _, op := range artifactOps {
		a.bytes.WithLabelValues(op)
		a.objects.WithLabelValues(op)
	}
	return a
}

func (a *artifactBytes) register(reg prometheus.Registerer) {
	reg.MustRegister(a.bytes, a.objects)
}

// ArtifactStored counts an object stored (artifacts.Observer).
func (a *artifactBytes) ArtifactStored(op string, size int64) {
	op = oneOf(op, artifactOps)
	a.objects.WithLabelValues(op).Inc()
	if size > 0 {
		a.bytes.WithLabelValues(op).Add(float64(size))
	}
}
