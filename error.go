package auditlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Error codes shared by every layer. The HTTP API maps each to one status and
// writes it as the "code" of its error body.
const (
	EINVALID      = "invalid"      // bad input; Field names it
	ETOOLARGE     = "too_large"    // a request body over its limit
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // credentials lack the permission
	ENOTFOUND     = "not_found"    // no such object
	ECONFLICT     = "conflict"     // the object exists already
	ERATELIMIT    = "rate_limited" // too many requests
	EUNAVAILABLE  = "unavailable"  // the store cannot be reached
	ECANCELED     = "canceled"     // the caller cancelled the request, or its deadline passed
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is an error meant for the caller: a code, a message that a user can
// act on, and, for bad input, the field it concerns.
type Error struct {
	Code    string
	Message string
	// Field names the offending input, e.g. "activities[3].username".
	Field string
	// Index is the position in a batch of the offending item, or -1.
	Index int
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("auditlog: %s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("auditlog: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Index: -1}
}

// FieldErrorf returns an EINVALID *Error about the named field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...), Index: -1}
}

// ErrorCode returns the code of err: ECANCELED for a context's
// cancellation, EINTERNAL when err is no *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ECANCELED
	}
	return EINTERNAL
}

// ErrorMessage returns the message of an *Error, or a generic one for any
// other error so that internal details never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if ErrorCode(err) == ECANCELED {
		return "the request was cancelled before it completed; nothing of it was recorded"
	}
	return "internal error"
}

// CountOf is n and the noun that goes with it: "1 session", "3 sessions".
func CountOf(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}
