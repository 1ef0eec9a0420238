package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Scope is what an API token may do. Scopes are ordered: read < build <
// admin; a token may do what its scope and every lower one allow.
type Scope string

// Scopes.
const (
	// ScopeRead reads the token's own runs, their logs and artifacts,
	// and validates specs.
	ScopeRead Scope = "read"
	// ScopeBuild also starts, cancels and rebuilds the token's runs and
	// generates specs.
	ScopeBuild Scope = "build"
	// ScopeAdmin sees and acts on every run, GitHub's included.
	ScopeAdmin Scope = "admin"
)

var scopeRank = map[Scope]int{ScopeRead: 1, ScopeBuild: 2, ScopeAdmin: 3}

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool { return scopeRank[s] > 0 }

// Allows reports whether a token of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool { return s.Valid() && scopeRank[s] >= scopeRank[need] }

// ParseScope reads a scope name.
func ParseScope(v string) (Scope, error) {
	s := Scope(strings.ToLower(strings.TrimSpace(v)))
	if !s.Valid() {
		return "", fmt.Errorf("scope %q: want read, build or admin", v)
	}
	return s, nil
}

// APIToken is a bearer token of the REST API. Only the sha256 of its
// secret is stored: the secret is shown once, when it is made.
type APIToken struct {
	bun.BaseModel `bun:"table:api_tokens,alias:t"`

	ID           int64      `bun:"id,pk,autoincrement"`
	Name         string     `bun:"name,notnull"`
	Scope        Scope      `bun:"scope,notnull"`
	SecretSHA256 string     `bun:"secret_sha256,notnull"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	LastUsedAt   *time.Time `bun:"last_used_at"`
	RevokedAt    *time.Time `bun:"revoked_at"`
}

// ErrTokenExists is returned when a live token already has the name asked
// for.
var ErrTokenExists = errors.New("a live token has that name")

// MaxTokenName is the longest token name.
const MaxTokenName = 64

// ValidTokenName checks a token name: 1 to 64 letters, digits and . _ -.
func ValidTokenName(name string) error {
	if name == "" || len(name) > MaxTokenName {
		return fmt.Errorf("token name %q: 1 to %d characters", name, MaxTokenName)
	}
	for _, c := range name {
		if !tokenNameRune(c) {
			return fmt.Errorf("token name %q: letters, digits, '.', '_' and '-' only", name)
		}
	}
	return nil
}

func tokenNameRune(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// CreateToken records a token with the sha256 (hex) of its secret. A name
// that a live token has is ErrTokenExists.
func (db *DB) CreateToken(ctx context.Context, name string, scope Scope, secretSHA256 string) (*APIToken, error) {
	if err := ValidTokenName(name); err != nil {
		return nil, err
	}
	if !scope.Valid() {
		return nil, fmt.Errorf("token scope %q: want read, build or admin", scope)
	}
	t := &APIToken{Name: name, Scope: scope, SecretSHA256: secretSHA256}
	err := db.inTx(ctx, "create token", func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*APIToken)(nil)).Where("name = ? AND revoked_at IS NULL", name).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("token %q: %w", name, ErrTokenExists)
		}
		t.ID, t.CreatedAt = 0, db.utcNow()
		_, err = tx.NewInsert().Model(t).Returning("id").Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TokenByHash returns the live (not revoked) token whose secret has the
// sha256 hash (hex); ErrNotFound when there is none.
func (db *DB) TokenByHash(ctx context.Context, secretSHA256 string) (*APIToken, error) {
	var t APIToken
	err := db.withRetry(ctx, "get token", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&t).Where("secret_sha256 = ? AND revoked_at IS NULL", secretSHA256).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, "token")
	}
	return &t, nil
}

// Tokens lists the tokens by name, the revoked ones too when all is set.
func (db *DB) Tokens(ctx context.Context, all bool) ([]APIToken, error) {
	var out []APIToken
	err := db.withRetry(ctx, "list tokens", func(ctx context.Context) error {
		out = nil
		q := db.Bun.NewSelect().Model(&out).OrderExpr("name, id")
		if !all {
			q = q.Where("revoked_at IS NULL")
		}
		return q.Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeToken revokes the live token named name; ErrNotFound when none
// has that name. A revoked token is refused from then on.
func (db *DB) RevokeToken(ctx context.Context, name string) error {
	return db.withRetry(ctx, "revoke token", func(ctx context.Context) error {
		res, err := db.Bun.NewUpdate().Model((*APIToken)(nil)).Set("revoked_at = ?", db.utcNow()).
			Where("name = ? AND revoked_at IS NULL", name).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("live token %q: %w", name, ErrNotFound)
		}
		return nil
	})
}

// TouchToken records that token id was used at at.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return db.withRetry(ctx, "touch token", func(ctx context.Context) error {
		_, err := db.Bun.NewUpdate().Model((*APIToken)(nil)).Set("last_used_at = ?", at.UTC()).Where("id = ?", id).Exec(ctx)
		return err
	})
}
