package httpx

import (
	"log/slog"
	"net"
	"net/http"
	"time"
)

// AccessLog returns next with one log line per answered request: method,
// path, status, bytes of body written, duration and the connection's
// remote address. Only these fields are written, so cookies, the
// Authorization header and query strings (the inspector's ?token=) never
// reach the log; the path is logged without its query.
func AccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		aw := &accessWriter{ResponseWriter: w}
		defer func() {
			status := aw.status
			if status == 0 {
				// A handler that wrote nothing is answered 200 by net/http.
				status = http.StatusOK
			}
			remote, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				remote = r.RemoteAddr
			}
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", aw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", remote),
			)
		}()
		next.ServeHTTP(aw, r)
	})
}

// accessWriter counts what a handler writes.
type accessWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *accessWriter) WriteHeader(code int) {
	// 1xx informational headers precede the real status.
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *accessWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// inspector's event stream flushes through it).
func (w *accessWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
