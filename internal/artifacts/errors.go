package artifacts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
)

// Kind classifies a store error by what the caller can do about it.
type Kind int

// The kinds of error.
const (
	// KindOther is an error of no known kind: retry it.
	KindOther Kind = iota
	// KindBadKey is an invalid key or range: a bug or hostile input, not retried.
	KindBadKey
	// KindNotFound is a missing object.
	KindNotFound
	// KindNoBucket is a missing bucket or directory: configuration.
	KindNoBucket
	// KindDenied is refused credentials or permissions: configuration.
	KindDenied
	// KindCorrupt is bytes that do not match their record.
	KindCorrupt
	// KindUnavailable is a network failure or a server error: retry.
	KindUnavailable
	// KindCancelled is a cancelled or expired context.
	KindCancelled
)

var kindText = map[Kind]string{
	KindOther:       "failed",
	KindBadKey:      "invalid request",
	KindNotFound:    "no such object",
	KindNoBucket:    "the bucket does not exist",
	KindDenied:      "access denied (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's policy)",
	KindCorrupt:     "the stored bytes do not match their record",
	KindUnavailable: "the store is unreachable or failing",
	KindCancelled:   "cancelled",
}

func (k Kind) String() string { return kindText[k] }

// Error is an error of the store: the operation, the key, the store (its
// URL without secrets), the kind and the cause.
type Error struct {
	Op    string
	Key   string
	Store string
	Kind  Kind
	Err   error
}

func (e *Error) Error() string {
	where := e.Op
	if e.Key != "" {
		where += fmt.Sprintf(" %q", e.Key)
	}
	if e.Store != "" {
		where += " in " + e.Store
	}
	return fmt.Sprintf("artifact store: %s: %s: %v", where, e.Kind, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's kind (KindOther for an error not from this package).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// IsNotFound reports whether err is a missing object.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }

// Retryable reports whether calling again may succeed: network and server
// failures and errors of no known kind are; a bad key, a missing bucket or
// object, refused credentials, corruption and cancellation are not.
func Retryable(err error) bool {
	switch KindOf(err) {
	case KindOther, KindUnavailable:
		return err != nil
	}
	return false
}

// wrap makes err an *Error of operation op on key, classifying it.
func (s *Store) wrap(op, key string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Op == "" {
		e.Op, e.Key, e.Store = op, key, s.url
		return e
	}
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Key: key, Store: s.url, Kind: classify(err), Err: err}
}

func classify(err error) Kind {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindCancelled
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return KindNoBucket
		case "NoSuchKey", "NotFound":
			return KindNotFound
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "Forbidden":
			return KindDenied
		case "InvalidRange", "InvalidArgument", "KeyTooLongError":
			return KindBadKey
		case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout":
			return KindUnavailable
		}
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		if errors.Is(err, os.ErrNotExist) || ae == nil || ae.ErrorCode() != "NoSuchBucket" {
			return KindNotFound
		}
	case gcerrors.PermissionDenied:
		return KindDenied
	case gcerrors.InvalidArgument:
		return KindBadKey
	case gcerrors.Canceled, gcerrors.DeadlineExceeded:
		return KindCancelled
	case gcerrors.Internal, gcerrors.ResourceExhausted:
		return KindUnavailable
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) {
		return KindUnavailable
	}
	return KindOther
}
