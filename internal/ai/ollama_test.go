package ai

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// The Ollama URL may carry credentials (user:password@, a token in the
// query): errors that reach comments and check runs never quote it.
func TestErrorsNeverQuoteTheOllamaURL(t *testing.T) {
	// A loopback port nobody listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"lb-user", "s3cret-pw", "t0k3n", addr}
	c := &Client{URL: "http://lb-user:s3cret-pw@" + addr + "/ollama?token=t0k3n"}
	tests := []struct {
		name string
		call func() error
	}{
		{name: "chat", call: func() error {
			_, err := c.Chat(context.Background(), []Message{{Role: "user", Content: "hi"}}, nil)
			return err
		}},
		{name: "version", call: func() error {
			_, err := c.StructuredOutput(context.Background())
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("error %v, want ErrUnreachable", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error quotes %q: %v", s, err)
				}
			}
		})
	}
}
