// Package ai turns a plain-English description into a valid spec with a
// language model served by Ollama: a system prompt that embeds the spec's
// JSON Schema, Ollama's structured output (the schema as `format`) when the
// server supports it, extraction of the JSON object from the answer, and a
// repair loop that sends the validator's errors back to the model.
package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// Client is a client of Ollama's HTTP API.
type Client struct {
	// URL is the server, default http://127.0.0.1:11434 (OLLAMA_URL).
	URL string
	// Model, default linux-builder (OLLAMA_MODEL).
	Model string
	// Timeout bounds one chat request; default 5 minutes (models are slow
	// on CPUs).
	Timeout time.Duration
	HTTP    *http.Client
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"` // system, user, assistant
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string          `json:"model"`
	Messages []Message       `json:"messages"`
	Stream   bool            `json:"stream"`
	Format   json.RawMessage `json:"format,omitempty"`
	Options  map[string]any  `json:"options,omitempty"`
}

type chatResponse struct {
	Message    Message `json:"message"`
	Done       bool    `json:"done"`
	DoneReason string  `json:"done_reason"`
	Error      string  `json:"error"`
}

// Errors a caller can tell apart.
var (
	ErrUnreachable  = errors.New("the AI service (Ollama) cannot be reached")
	ErrModelMissing = errors.New("the model is not available on the AI service")
)

func (c *Client) base() string {
	if c.URL == "" {
		return "http://127.0.0.1:11434"
	}
	return strings.TrimSuffix(c.URL, "/")
}

// unreachable is ErrUnreachable with the reason, never the URL: OLLAMA_URL
// may carry credentials (user:password@, a token in the query), and this
// error is quoted in pull request comments. Neither the URL nor the
// address is in the message (net/http's errors quote both).
func unreachable(err error) error {
	var dns *net.DNSError
	var ne net.Error
	reason := "the request failed"
	switch {
	case errors.As(err, &dns):
		reason = "its host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		reason = "no route to its host"
	case errors.As(err, &ne) && ne.Timeout():
		reason = "connecting timed out"
	}
	return fmt.Errorf("%w (%s)", ErrUnreachable, reason)
}

func (c *Client) model() string {
	if c.Model == "" {
		return "linux-builder"
	}
	return c.Model
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// StructuredOutput reports whether the server takes a JSON Schema as
// `format` (Ollama 0.5.0 and later).
func (c *Client) StructuredOutput(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base()+"/api/version", nil)
	if err != nil {
		return false, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return false, unreachable(err)
	}
	defer closeBody(resp.Body)
	var v struct {
		Version string `json:"version"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v) != nil {
		return false, nil
	}
	return versionAtLeast(v.Version, 0, 5), nil
}

func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// Chat sends messages and returns the assistant's answer (non-streaming).
// format is a JSON Schema, "json" (as a JSON string) or nil.
func (c *Client) Chat(ctx context.Context, messages []Message, format json.RawMessage) (string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(chatRequest{Model: c.model(), Messages: messages, Stream: false, Format: format,
		Options: map[string]any{"temperature": 0.2}})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+"/api/chat", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("the AI service did not answer within %s: %w", timeout, ctx.Err())
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", unreachable(err)
	}
	defer closeBody(resp.Body)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("the AI service did not answer within %s: %w", timeout, ctx.Err())
		}
		return "", fmt.Errorf("read the AI service's answer: %w", err)
	}
	var out chatResponse
	_ = json.Unmarshal(raw, &out)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", fmt.Errorf("%w: model %q (%s); pull it with `ollama pull %s` or set OLLAMA_MODEL", ErrModelMissing, c.model(), strings.TrimSpace(out.Error), c.model())
	case resp.StatusCode != http.StatusOK:
		msg := out.Error
		if msg == "" {
			msg = strings.TrimSpace(string(raw[:min(len(raw), 300)]))
		}
		return "", fmt.Errorf("the AI service answered %s: %s", resp.Status, msg)
	case out.Error != "":
		return "", fmt.Errorf("the AI service: %s", out.Error)
	}
	return out.Message.Content, nil
}

// closeBody closes a response body once it is read or of no more use;
// failing to close it changes nothing for the caller, so it is only logged.
func closeBody(body io.Closer) {
	if err := body.Close(); err != nil {
		slog.Debug("close the AI service's response", logging.KeyErr, err)
	}
}
