// Package metricstest scrapes a metrics handler the way Prometheus does
// and reads values out of the exposition, for tests.
package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one parsed exposition: metric families by name.
type Scrape map[string]*dto.MetricFamily

// Get scrapes h (GET /metrics, with the headers given as name, value
// pairs), checks the answer is 200 in Prometheus's text format and parses
// it.
func Get(t testing.TB, h http.Handler, headers ...string) Scrape {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body.String())
	}
	return Parse(t, rec.Result().Header.Get("Content-Type"), rec.Body)
}

// Parse parses an exposition in the text format.
func Parse(t testing.TB, contentType string, body io.Reader) Scrape {
	t.Helper()
	if !strings.HasPrefix(contentType, "text/plain") {
		t.Fatalf("exposition content type %q, want text/plain", contentType)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(body)
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// Value is the value of the sample of family name whose labels are
// exactly labels ("k=v" pairs in any order): a counter's or gauge's
// value, a histogram's sample count. ok is false when there is none.
func (s Scrape) Value(name string, labels ...string) (float64, bool) {
	m := s.metric(name, labels)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// Must is Value, failing the test when the sample is missing.
func (s Scrape) Must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.Value(name, labels...)
	if !ok {
		t.Fatalf("no sample %s{%s}; the family has %s", name, strings.Join(labels, ","), s.Labels(name))
	}
	return v
}

// Histogram is the histogram sample of family name with labels, or nil.
func (s Scrape) Histogram(name string, labels ...string) *dto.Histogram {
	if m := s.metric(name, labels); m != nil {
		return m.Histogram
	}
	return nil
}

// Labels lists the label sets of family name, for messages.
func (s Scrape) Labels(name string) string {
	f, ok := s[name]
	if !ok {
		return "(no family)"
	}
	var out []string
	for _, m := range f.Metric {
		out = append(out, "{"+strings.Join(pairs(m), ",")+"}")
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func (s Scrape) metric(name string, labels []string) *dto.Metric {
	f, ok := s[name]
	if !ok {
		return nil
	}
	want := append([]string(nil), labels...)
	sort.Strings(want)
	for _, m := range f.Metric {
		if fmt.Sprint(pairs(m)) == fmt.Sprint(want) {
			return m
		}
	}
	return nil
}

func pairs(m *dto.Metric) []string {
	var out []string
	for _, l := range m.Label {
		out = append(out, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(out)
	return out
}
