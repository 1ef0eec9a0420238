package github

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// keyForms says what a private key may look like, for error messages.
const keyForms = `want the App's RSA private key as PEM (-----BEGIN RSA PRIVATE KEY----- …), ` +
	`the same PEM on one line with \n escapes, or its base64 encoding`

// errNotAKey is why a value is not a private key, without any of the value.
var errNotAKey = errors.New(keyForms)

// PrivateKeyFromEnv reads the App's private key from GITHUB_PRIVATE_KEY,
// or else from the file GITHUB_PRIVATE_KEY_PATH names (getenv is
// os.Getenv), in any of the forms DecodePrivateKey accepts, and returns
// it as PEM. Its errors name the variable and the forms expected, never
// the key.
func PrivateKeyFromEnv(getenv func(string) string) ([]byte, error) {
	if v := getenv("GITHUB_PRIVATE_KEY"); v != "" {
		key, err := DecodePrivateKey([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("GITHUB_PRIVATE_KEY: %w", err)
		}
		return key, nil
	}
	path := getenv("GITHUB_PRIVATE_KEY_PATH")
	if path == "" {
		return nil, errors.New("GITHUB_PRIVATE_KEY or GITHUB_PRIVATE_KEY_PATH is required: the App's private key")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_PRIVATE_KEY_PATH: %w", err)
	}
	key, err := DecodePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_PRIVATE_KEY_PATH (%s): %w", path, err)
	}
	return key, nil
}

// DecodePrivateKey returns the PEM of the RSA private key in raw, given
// as GitHub hands it out (a multi-line PEM file), as that PEM on one line
// with literal \n escapes (environment files), or as the base64 encoding
// of the PEM (as Probot accepts), and checks that it parses (PKCS #1 or
// PKCS #8). Errors never include raw.
func DecodePrivateKey(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if !bytes.Contains(raw, []byte("-----BEGIN")) {
		decoded, ok := decodeBase64(raw)
		if !ok || !bytes.Contains(decoded, []byte("-----BEGIN")) {
			return nil, errNotAKey
		}
		raw = bytes.TrimSpace(decoded)
	}
	raw = bytes.ReplaceAll(raw, []byte(`\n`), []byte("\n"))
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("the PEM does not decode: %w", errNotAKey)
	}
	if err := checkRSAKey(block); err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes}), nil
}

// checkRSAKey checks that block holds an RSA private key.
func checkRSAKey(block *pem.Block) error {
	switch block.Type {
	case "RSA PRIVATE KEY":
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return fmt.Errorf("the RSA PRIVATE KEY does not parse (%w): %w", err, errNotAKey)
		}
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return fmt.Errorf("the PRIVATE KEY does not parse (%w): %w", err, errNotAKey)
		}
		if _, ok := k.(*rsa.PrivateKey); !ok {
			return fmt.Errorf("a %T, not an RSA key: %w", k, errNotAKey)
		}
	default:
		return fmt.Errorf("a PEM %q block, not a private key: %w", block.Type, errNotAKey)
	}
	return nil
}

// decodeBase64 decodes standard base64, padded or not, ignoring line
// breaks and spaces (base64 wraps its output).
func decodeBase64(raw []byte) ([]byte, bool) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if out, err := enc.DecodeString(string(clean)); err == nil {
			return out, true
		}
	}
	return nil, false
}
