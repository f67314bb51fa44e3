package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/auditlog/auditlog"
)

// statusOf maps each error code to its HTTP status: the one table of them.
var statusOf = map[string]int{
	auditlog.EINVALID:      http.StatusBadRequest,
	auditlog.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	auditlog.EUNAUTHORIZED: http.StatusUnauthorized,
	auditlog.EFORBIDDEN:    http.StatusForbidden,
	auditlog.ENOTFOUND:     http.StatusNotFound,
	auditlog.ECONFLICT:     http.StatusConflict,
	auditlog.ERATELIMIT:    http.StatusTooManyRequests,
	auditlog.EUNAVAILABLE:  http.StatusServiceUnavailable,
	auditlog.ECANCELED:     statusClientClosedRequest,
	auditlog.EINTERNAL:     http.StatusInternalServerError,
}

// statusClientClosedRequest answers a request whose client went away
// before it completed (the status nginx made known for it): the client
// never reads it, but the request log says what happened, not a 500.
const statusClientClosedRequest = 499

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Index   *int   `json:"index,omitempty"`
}

// writeError writes err as the contract's error body. Errors that are not
// *auditlog.Error are internal: they are logged by the caller and answered
// with a generic message, never with their text.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := auditlog.ErrorCode(err)
	detail := errorDetail{Code: code, Message: auditlog.ErrorMessage(err)}
	var e *auditlog.Error
	if errors.As(err, &e) {
		detail.Field = e.Field
		if e.Index >= 0 {
			detail.Index = &e.Index
		}
	}
	status := statusFor(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="auditlog"`)
	}
	writeJSON(w, status, errorBody{Error: detail})
}

// statusFor is the HTTP status of err's code.
func statusFor(err error) int {
	if status, ok := statusOf[auditlog.ErrorCode(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // bodies are application/json with nosniff: never read as HTML
	enc.Encode(v)
}

// fail logs an internal error and answers it; other errors are answered as they are.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if auditlog.ErrorCode(err) == auditlog.EINTERNAL {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, r, err)
}
