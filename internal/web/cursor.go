package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// The runs list's page links carry the id of the last run scanned, which
// may be a run the viewer may not read: the id is sealed (AES-GCM) so the
// link tells nothing of it. The key comes from Config.CursorSecret (the
// webhook secret, shared by every replica: a link works on any of them);
// without one, a random key of this process's.

func newCursorAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("cursor key: %w", err)
		}
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "linux-builder run-list cursor", 32)
	if err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	return cipher.NewGCM(block)
}

func (w *Web) sealCursor(id int64) string {
	nonce := make([]byte, w.cursor.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	plain := binary.BigEndian.AppendUint64(nil, uint64(id))
	return base64.RawURLEncoding.EncodeToString(w.cursor.Seal(nonce, nonce, plain, nil))
}

func (w *Web) openCursor(s string) (int64, error) {
	if len(s) > 128 {
		return 0, errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < w.cursor.NonceSize() {
		return 0, errors.New("not a cursor")
	}
	plain, err := w.cursor.Open(nil, b[:w.cursor.NonceSize()], b[w.cursor.NonceSize():], nil)
	if err != nil || len(plain) != 8 {
		return 0, errors.New("not a cursor")
	}
	id := int64(binary.BigEndian.Uint64(plain))
	if id <= 0 {
		return 0, errors.New("not a cursor")
	}
	return id, nil
}
