// Package httpx is the small HTTP toolkit the API server and the proxy
// share: the one error funnel that maps apperr codes to statuses (storage
// failures to 503 with Retry-After), the bounded request-body reader, Accept
// negotiation (WantsJSON), the access log and the constant-time token
// comparison.
package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db"
)

// RetryAfter is the Retry-After, in seconds, of every 503 that does not set
// its own: long enough that a client does not hammer a database that is
// failing over or a disk that is full, short enough that a blip costs
// little.
const RetryAfter = "5"

// statusOf maps snippetd error codes to HTTP statuses.
var statusOf = map[string]int{
	apperr.EBADREQUEST:   http.StatusBadRequest,
	apperr.EINVALID:      http.StatusUnprocessableEntity,
	apperr.ENOTFOUND:     http.StatusNotFound,
	apperr.EUNAUTHORIZED: http.StatusUnauthorized,
	apperr.EFORBIDDEN:    http.StatusForbidden,
	apperr.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	apperr.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	apperr.ECONFLICT:     http.StatusConflict,
	apperr.ERATELIMIT:    http.StatusTooManyRequests,
	apperr.EUNAVAILABLE:  http.StatusServiceUnavailable,
	apperr.EINTERNAL:     http.StatusInternalServerError,
	"method_not_allowed": http.StatusMethodNotAllowed,
}

// ErrorStatus returns the HTTP status for err.
func ErrorStatus(err error) int {
	if st, ok := statusOf[apperr.ErrorCode(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// Error writes err as a JSON error response. An internal error of a
// request whose context has ended (shutdown) is a 503. A storage failure from any
// handler (db.Unavailable: database unreachable, session killed, disk
// full, busy) is a 503 `unavailable`, logged as a warning; other internal
// errors are logged and answered 500 with a generic message; their text
// never reaches the client. Every 503 carries Retry-After.
func Error(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := apperr.ErrorCode(err)
	if code == apperr.EINTERNAL && r.Context().Err() != nil {
		// The request's context ended under the handler: the server is
		// shutting down (Close cancels every request) or the client left.
		// Nothing was acknowledged, so the client may retry elsewhere.
		err, code = apperr.Errorf(apperr.EUNAVAILABLE, "the request was cut short (server shutting down); retry"), apperr.EUNAVAILABLE
	} else if code == apperr.EINTERNAL {
		if u := db.Unavailable(err); u != err {
			err, code = u, apperr.EUNAVAILABLE
			if logger != nil {
				logger.Warn("storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
			}
		} else if logger != nil {
			logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = apperr.ErrorMessage(err)
	body.Error.Field = apperr.ErrorField(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	status := ErrorStatus(err)
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", RetryAfter)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// NotFound answers a path no route has.
func NotFound(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, apperr.Errorf(apperr.ENOTFOUND, "no route for %s", r.URL.Path))
	})
}

// MethodNotAllowed answers a method a route does not take.
func MethodNotAllowed(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, &apperr.Error{Code: "method_not_allowed", Message: r.Method + " is not allowed here"})
	})
}

// ReadBody reads a request body of at most limit bytes whose content type
// is one of types (the first is the default when none is sent; an empty
// list accepts any). It answers ETOOLARGE, EUNSUPPORTED or EBADREQUEST.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, types ...string) ([]byte, error) {
	if err := CheckContentType(r.Header.Get("Content-Type"), types...); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, TooLarge(limit)
	} else if err != nil {
		return nil, apperr.Errorf(apperr.EBADREQUEST, "could not read body")
	}
	return body, nil
}

// CheckContentType is ReadBody's content type check: ct (empty when none
// was sent) must be one of types (an empty list accepts any).
func CheckContentType(ct string, types ...string) error {
	if len(types) == 0 || ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	for _, t := range types {
		if err == nil && mt == t {
			return nil
		}
	}
	return apperr.Errorf(apperr.EUNSUPPORTED, "Content-Type must be %s", types[0])
}

// TooLarge is ReadBody's error for a body of more than limit bytes.
func TooLarge(limit int64) error {
	return apperr.Errorf(apperr.ETOOLARGE, "body exceeds %d bytes", limit)
}
