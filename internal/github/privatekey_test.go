package github_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linux-builder/linux-builder/internal/github"
)

func TestDecodePrivateKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec8, _ := x509.MarshalPKCS8PrivateKey(ec)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey)})
	escaped := strings.ReplaceAll(strings.TrimSpace(string(pkcs1)), "\n", `\n`)
	b64 := base64.StdEncoding.EncodeToString(pkcs1)
	var wrapped strings.Builder // as base64(1) prints it: 76 columns
	for s := b64; s != ""; {
		n := min(76, len(s))
		wrapped.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	broken := bytes.Replace(pkcs1, []byte("\n"), []byte("\nAAAA"), 3)
	tests := []struct {
		name string
		in   string
		want []byte // nil: an error
	}{
		{name: "PEM as GitHub hands it out", in: string(pkcs1), want: pkcs1},
		{name: "PEM with CRLF line ends", in: strings.ReplaceAll(string(pkcs1), "\n", "\r\n"), want: pkcs1},
		{name: "PKCS #8 PEM", in: string(pkcs8), want: pkcs8},
		{name: `one line with \n escapes`, in: escaped, want: pkcs1},
		{name: `\n escapes and a trailing newline`, in: escaped + "\n", want: pkcs1},
		{name: "base64 of the PEM", in: b64, want: pkcs1},
		{name: "base64 wrapped at 76 columns", in: wrapped.String(), want: pkcs1},
		{name: "unpadded base64", in: base64.RawStdEncoding.EncodeToString(pkcs8), want: pkcs8},
		{name: "garbage", in: "not a key at all"},
		{name: "base64 of something else", in: base64.StdEncoding.EncodeToString([]byte("hello"))},
		{name: "PEM that does not parse", in: string(broken)},
		{name: "a public key", in: string(pub)},
		{name: "an EC key", in: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ec8}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := github.DecodePrivateKey([]byte(tt.in))
			if tt.want != nil {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("got %q, %v; want the PEM", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, "base64") || !strings.Contains(msg, "PEM") {
				t.Fatalf("error %q does not say what form is expected", msg)
			}
			if strings.Contains(msg, "MII") || len(tt.in) > 20 && strings.Contains(msg, tt.in[len(tt.in)/2:len(tt.in)/2+8]) {
				t.Fatalf("error %q echoes the key", msg)
			}
		})
	}
}

func TestPrivateKeyFromEnv(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	dir := t.TempDir()
	b64File := filepath.Join(dir, "key.b64")
	if err := os.WriteFile(b64File, []byte(base64.StdEncoding.EncodeToString(pemKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(badFile, []byte("secret-ish junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // "" accepted
	}{
		{name: "key in the variable", env: map[string]string{"GITHUB_PRIVATE_KEY": base64.StdEncoding.EncodeToString(pemKey)}},
		{name: "base64 key in a file", env: map[string]string{"GITHUB_PRIVATE_KEY_PATH": b64File}},
		{name: "the variable wins", env: map[string]string{"GITHUB_PRIVATE_KEY": string(pemKey), "GITHUB_PRIVATE_KEY_PATH": badFile}},
		{name: "neither", env: map[string]string{}, wantErr: "GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required"},
		{name: "bad variable", env: map[string]string{"GITHUB_PRIVATE_KEY": "hunter2-hunter2"}, wantErr: "GITHUB_PRIVATE_KEY: want"},
		{name: "bad file", env: map[string]string{"GITHUB_PRIVATE_KEY_PATH": badFile}, wantErr: "GITHUB_PRIVATE_KEY_PATH (" + badFile + "): want"},
		{name: "missing file", env: map[string]string{"GITHUB_PRIVATE_KEY_PATH": filepath.Join(dir, "none")}, wantErr: "GITHUB_PRIVATE_KEY_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := github.PrivateKeyFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr == "" {
				if err != nil || !bytes.Equal(got, pemKey) {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "junk") {
				t.Fatalf("error %q echoes the key", err)
			}
		})
	}
}
