package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
)

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

// Error writes err as a JSON error response. Internal errors are logged and
// answered with a generic message; their text never reaches the client.
func Error(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	WriteError(w, r.Method, r.URL.Path, logger, err)
}

// WriteError is Error for a request that is not an *http.Request (the
// proxy's fasthttp listener): method and path are logged with an internal
// error.
func WriteError(w http.ResponseWriter, method, path string, logger *slog.Logger, err error) {
	code := apperr.ErrorCode(err)
	if code == apperr.EINTERNAL && logger != nil {
		logger.Error("internal error", "method", method, "path", path, "err", err)
	}
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = apperr.ErrorMessage(err)
	body.Error.Field = apperr.ErrorField(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(ErrorStatus(err))
	json.NewEncoder(w).Encode(body)
}

func http404(s *Server) http.Handler { return NotFound(s.Logger) }

func http405(s *Server) http.Handler { return MethodNotAllowed(s.Logger) }

// NotFound is the server's answer to a path no route has, for a router
// other than the server's (the proxy's dedicated listener).
func NotFound(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, apperr.Errorf(apperr.ENOTFOUND, "no route for %s", r.URL.Path))
	})
}

// MethodNotAllowed is the server's answer to a method a route does not
// take, for a router other than the server's.
func MethodNotAllowed(logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, logger, &apperr.Error{Code: "method_not_allowed", Message: r.Method + " is not allowed here"})
	})
}

// ReadBody reads a request body of at most limit bytes whose content type
// is one of types (the first is the default when none is sent; an empty
// list accepts any). It answers ETOOLARGE, EUNSUPPORTED or EBADREQUEST.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64, types ...string) ([]byte, error) {
	if len(types) > 0 {
		if err := CheckContentType(r.Header.Get("Content-Type"), types...); err != nil {
			return nil, err
		}
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	var body []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= limit {
		// The usual case: read into one buffer of the announced size
		// instead of letting io.ReadAll grow one.
		body = make([]byte, n)
		_, err = io.ReadFull(rd, body)
		if err == nil {
			var one [1]byte
			if m, _ := rd.Read(one[:]); m > 0 {
				err = errors.New("body longer than Content-Length")
			}
		}
	} else {
		body, err = io.ReadAll(rd)
	}
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
