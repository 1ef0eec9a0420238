package webhook

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

func stubApp(t *testing.T, cfg Config) *fiber.App {
	t.Helper()
	cfg.Secret, cfg.AppID, cfg.Store, cfg.Intake, cfg.Logger = secret, 1, stubStore{}, stubIntake{}, quiet
	app, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// Requests are judged by their headers before their bodies are read.
func TestHeadersAreCheckedFirst(t *testing.T) {
	app := stubApp(t, Config{})
	body := []byte(`{"zen":"Keep it logically awesome."}`)
	sig := Sign(secret, body)
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{name: "signed", want: 200},
		{name: "identity encoding", header: map[string]string{"Content-Encoding": "identity"}, want: 200},
		{name: "gzip", header: map[string]string{"Content-Encoding": "gzip"}, want: 415},
		{name: "br", header: map[string]string{"Content-Encoding": "br"}, want: 415},
		{name: "unknown encoding", header: map[string]string{"Content-Encoding": "x-whatever"}, want: 415},
		{name: "no signature", header: map[string]string{"X-Hub-Signature-256": ""}, want: 401},
		{name: "sha1 only", header: map[string]string{"X-Hub-Signature-256": "", "X-Hub-Signature": "sha1=00"}, want: 401},
		{name: "short signature", header: map[string]string{"X-Hub-Signature-256": "sha256=abcd"}, want: 401},
		{name: "no event", header: map[string]string{"X-GitHub-Event": ""}, want: 400},
		{name: "event with spaces", header: map[string]string{"X-GitHub-Event": "push now"}, want: 400},
		{name: "event too long", header: map[string]string{"X-GitHub-Event": strings.Repeat("a", 65)}, want: 400},
		{name: "no delivery id", header: map[string]string{"X-GitHub-Delivery": ""}, want: 400},
		{name: "delivery id with a newline escape", header: map[string]string{"X-GitHub-Delivery": "a\\nlevel=ERROR"}, want: 400},
		{name: "delivery id too long", header: map[string]string{"X-GitHub-Delivery": strings.Repeat("a", 101)}, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
			req.Header.Set("X-GitHub-Event", "ping")
			req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
			req.Header.Set("X-Hub-Signature-256", sig)
			for k, v := range tt.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := app.Test(req, 5000)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, msg, tt.want)
			}
		})
	}
}

// rawPost writes a request by hand on a loopback connection and returns
// the connection (left open) after writing head and the start of a body.
func rawPost(t *testing.T, addr, head string, body []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d1\r\nX-Hub-Signature-256: %s\r\n%s\r\n", Sign(secret, body), head)
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	return conn
}

func status(t *testing.T, conn net.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The bodies held in memory at once are bounded: a body that does not
// fit in the budget while others are being read waits, then is answered
// 503 (small bodies have a budget of their own); a chunked body over the
// limit is answered 413.
func TestBodyBudget(t *testing.T) {
	app := stubApp(t, Config{MaxBody: 4 << 20, BodyBudget: 4 << 20, BodyWait: 200 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	addr := ln.Addr().String()
	tests := []struct {
		name string
		head string
		body []byte
	}{
		// Exactly the 8 KiB the server reads ahead: every byte sent is
		// read, so closing the connection loses no answer.
		{name: "large body", head: "Content-Length: 3145728\r\n", body: make([]byte, 8<<10)},
		{name: "chunked body (counts as the limit)", head: "Transfer-Encoding: chunked\r\n"},
	}
	// The first holds the whole 4 MiB budget: it sends 8 KiB and stalls.
	holder := rawPost(t, addr, "Content-Length: 4194304\r\n", make([]byte, 8<<10))
	time.Sleep(100 * time.Millisecond)
	for _, tt := range tests {
		t.Run(tt.name+" while another is read", func(t *testing.T) {
			if got := status(t, rawPost(t, addr, tt.head, tt.body)); got != 503 {
				t.Fatalf("status %d, want 503", got)
			}
		})
	}
	t.Run("small body while the budget is held", func(t *testing.T) {
		b := []byte(`{}`)
		conn := rawPost(t, addr, fmt.Sprintf("Content-Length: %d\r\n", len(b)), b)
		if got := status(t, conn); got != 202 {
			t.Fatalf("status %d, want 202", got)
		}
	})
	holder.Close()
	time.Sleep(100 * time.Millisecond)
	t.Run("oversized headers", func(t *testing.T) {
		// Refused after 4 KiB: the answer is 431, or lost when the
		// unread rest of the headers makes the close a reset.
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", 5<<10))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		switch {
		case err != nil && !errors.Is(err, syscall.ECONNRESET):
			t.Fatalf("no answer: %v", err)
		case err == nil && resp.StatusCode != 431:
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		conn := rawPost(t, addr, "Transfer-Encoding: chunked\r\n", append(append([]byte(fmt.Sprintf("%x\r\n", 4<<20+1)), make([]byte, 4<<20+1)...), "\r\n"...))
		if got := status(t, conn); got != 413 {
			t.Fatalf("status %d, want 413", got)
		}
	})
}
