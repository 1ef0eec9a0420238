package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// byteRange is a satisfiable single range of an artifact.
type byteRange struct {
	off, n  int64
	partial bool
}

// errRangeNotSatisfiable answers 416.
var errRangeNotSatisfiable = errors.New("range not satisfiable")

// parseRange reads a Range header for an object of size bytes. No header,
// another unit or several ranges ask for the whole object (RFC 9110 lets a
// server ignore a Range; several ranges would be a multipart answer this
// server does not give); a malformed or unsatisfiable bytes range is
// errRangeNotSatisfiable.
func parseRange(h string, size int64) (byteRange, error) {
	whole := byteRange{off: 0, n: size}
	h = strings.TrimSpace(h)
	if h == "" {
		return whole, nil
	}
	unit, spec, ok := strings.Cut(h, "=")
	if !ok {
		return byteRange{}, errRangeNotSatisfiable
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return whole, nil
	}
	if strings.Contains(spec, ",") {
		return whole, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, errRangeNotSatisfiable
	}
	if first == "" { // the last N bytes
		n, err := parseOffset(last)
		if err != nil || n == 0 || size == 0 {
			return byteRange{}, errRangeNotSatisfiable
		}
		n = min(n, size)
		return byteRange{off: size - n, n: n, partial: true}, nil
	}
	start, err := parseOffset(first)
	if err != nil || start >= size {
		return byteRange{}, errRangeNotSatisfiable
	}
	end := size - 1
	if last != "" {
		if end, err = parseOffset(last); err != nil || end < start {
			return byteRange{}, errRangeNotSatisfiable
		}
		end = min(end, size-1)
	}
	return byteRange{off: start, n: end - start + 1, partial: true}, nil
}

// parseOffset reads a range's decimal number: digits only (no sign, no
// space), at most 19 of them.
func parseOffset(s string) (int64, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("range offset %q", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// etagMatches reports whether an If-None-Match or If-Range value names
// etag (weak comparison, as If-None-Match asks; "*" matches anything).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// safeFilename keeps the characters of name that are safe in a
// Content-Disposition filename (artifact names are already of these).
func safeFilename(name string) string {
	var b strings.Builder
	for _, c := range name {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._+-", c) {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	if s := strings.Trim(b.String(), "."); s != "" {
		return s
	}
	return "artifact"
}

// serveArtifact answers a GET (or HEAD) of artifact x: the whole object or
// one range of it, streamed from the artifact store with a ranged read
// (never whole in memory), with its sha256 as ETag. The whole object is
// checked against its sha256 as it is sent: a mismatch cuts the
// connection rather than end a download that is wrong.
func (a *API) serveArtifact(c *fiber.Ctx, x store.Artifact, head bool) error {
	if x.Key == "" {
		if x.Type == run.ArtifactImageRef {
			return problem(c, fiber.StatusNotFound, fmt.Sprintf("%s is an image in a registry: pull %s", x.Name, x.Location))
		}
		return problem(c, fiber.StatusNotFound, x.Name+" is not in the artifact store")
	}
	if a.cfg.Artifacts == nil {
		return problem(c, fiber.StatusServiceUnavailable, "no artifact store is configured")
	}
	etag := ""
	if x.SHA256 != "" {
		etag = `"` + x.SHA256 + `"`
		c.Set(fiber.HeaderETag, etag)
	}
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+safeFilename(x.Name)+`"`)
	if inm := c.Get(fiber.HeaderIfNoneMatch); etag != "" && inm != "" && etagMatches(inm, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	rangeHeader := c.Get(fiber.HeaderRange)
	if ir := c.Get(fiber.HeaderIfRange); ir != "" && (etag == "" || strings.TrimSpace(ir) != etag) {
		rangeHeader = "" // the client's copy is another version: send it whole
	}
	rg, err := parseRange(rangeHeader, x.Size)
	if err != nil {
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", x.Size))
		return problem(c, fiber.StatusRequestedRangeNotSatisfiable,
			fmt.Sprintf("Range %q: one range of bytes within the artifact's %d bytes", trimHeader(rangeHeader), x.Size))
	}
	status := fiber.StatusOK
	if rg.partial {
		status = fiber.StatusPartialContent
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", rg.off, rg.off+rg.n-1, x.Size))
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	if head {
		c.Status(status)
		c.Context().Response.Header.SetContentLength(int(rg.n))
		return nil
	}
	return a.stream(c, x, rg, status)
}

// stream sends range rg of x.
func (a *API) stream(c *fiber.Ctx, x store.Artifact, rg byteRange, status int) error {
	ctx := c.UserContext()
	rc, obj, err := a.cfg.Artifacts.GetRange(ctx, x.Key, rg.off, rg.n)
	switch {
	case artifacts.IsNotFound(err):
		clearDownloadHeaders(c)
		return problem(c, fiber.StatusNotFound, x.Name+" is no longer in the artifact store (expired)")
	case err != nil:
		a.cfg.Logger.ErrorContext(ctx, "api: open artifact", "key", x.Key, "err", err)
		clearDownloadHeaders(c)
		return problem(c, fiber.StatusServiceUnavailable, "the artifact store is unavailable; try again")
	}
	if obj.Size != x.Size {
		rc.Close()
		a.cfg.Logger.ErrorContext(ctx, "api: artifact size differs from its record", "key", x.Key, "stored", obj.Size, "recorded", x.Size)
		clearDownloadHeaders(c)
		return problem(c, fiber.StatusInternalServerError, "the stored artifact does not match its record")
	}
	var body io.Reader = rc
	if !rg.partial {
		body = artifacts.Verify(rc, artifacts.Object{Key: x.Key, Size: x.Size, SHA256: x.SHA256})
	}
	c.Status(status)
	c.Context().SetBodyStream(KeepWriting(c.Context().Conn(), readCloser{body, rc}, a.cfg.StreamIdle), int(rg.n))
	return nil
}

func clearDownloadHeaders(c *fiber.Ctx) {
	for _, h := range []string{fiber.HeaderETag, fiber.HeaderContentDisposition, fiber.HeaderAcceptRanges, fiber.HeaderContentRange} {
		c.Response().Header.Del(h)
	}
}

func trimHeader(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

type readCloser struct {
	io.Reader
	io.Closer
}

// KeepWriting wraps a response body that fasthttp copies to conn after the
// handler returns (SetBodyStream): before each read it moves conn's write
// deadline idle ahead. The server's WriteTimeout, which would cut off any
// download longer than it, then bounds only a client that stops taking
// bytes: a download goes on as long as it moves, and a reader that stalls
// is dropped after idle, its connection and store reader released. Long
// streams (Server-Sent Events) use it the same way.
func KeepWriting(conn net.Conn, r io.ReadCloser, idle time.Duration) io.ReadCloser {
	return &deadlineReader{conn: conn, r: r, idle: idle}
}

type deadlineReader struct {
	conn net.Conn
	r    io.ReadCloser
	idle time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.conn != nil {
		if err := d.conn.SetWriteDeadline(time.Now().Add(d.idle)); err != nil {
			return 0, fmt.Errorf("extend the write deadline: %w", err)
		}
	}
	return d.r.Read(p)
}

func (d *deadlineReader) Close() error { return d.r.Close() }
