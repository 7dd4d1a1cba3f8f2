package httpx

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAccessLog: a request carrying a cookie, a bearer token and a
// ?token= query is logged with method, path, status, bytes, duration and
// remote address, and with none of the three secrets.
func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := AccessLog(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("hello"))
		// Streaming handlers flush through http.ResponseController.
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		w.Write([]byte(" world"))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/debug/events?token=querySECRET&x=1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bearerSECRET")
	req.AddCookie(&http.Cookie{Name: "snippetd_token", Value: "cookieSECRET"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close() // the handler has returned: the line is written

	line := buf.String()
	for _, secret := range []string{"querySECRET", "bearerSECRET", "cookieSECRET", "token=", "x=1", "Bearer", "snippetd_token"} {
		if strings.Contains(line, secret) {
			t.Errorf("the access log holds %q:\n%s", secret, line)
		}
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("want one JSON line: %v\n%s", err, line)
	}
	if d, ok := got["duration"].(float64); !ok || d <= 0 || time.Duration(d) > time.Minute {
		t.Errorf("duration %v: want a positive number of nanoseconds", got["duration"])
	}
	for _, k := range []string{"time", "duration"} {
		delete(got, k)
	}
	want := map[string]any{
		"level": "INFO", "msg": "request", "method": "POST", "path": "/debug/events",
		"status": float64(201), "bytes": float64(len("hello world")), "remote": "127.0.0.1",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("access log line (-want +got):\n%s", d)
	}
}

// TestAccessLogImplicitStatus: a handler that writes no header is logged
// with the 200 net/http sends.
func TestAccessLogImplicitStatus(t *testing.T) {
	var buf bytes.Buffer
	h := AccessLog(slog.New(slog.NewTextHandler(&buf, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if !strings.Contains(buf.String(), "status=200") || !strings.Contains(buf.String(), "bytes=0") || !strings.Contains(buf.String(), "remote=192.0.2.1") {
		t.Errorf("got %s", buf.String())
	}
}
