package artifacts

import (
	"testing"

	"github.com/linux-builder/linux-builder/internal/artifacts/artifactstest"
)

// The fake S3 server of artifactstest, under this package's test names.
const (
	testAccessKey = artifactstest.AccessKey
	testSecretKey = artifactstest.SecretKey
	testRegion    = artifactstest.Region
	testBucket    = artifactstest.Bucket
)

type fakeS3 struct {
	*artifactstest.S3
	proxy *artifactstest.DropProxy
}

func newFakeS3(t testing.TB) *fakeS3 {
	f := artifactstest.NewS3(t)
	return &fakeS3{S3: f, proxy: f.Proxy}
}

func setCreds(t testing.TB, id, secret string) { artifactstest.SetCreds(t, id, secret) }
