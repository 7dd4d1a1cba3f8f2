package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestFastServerPanicAndClose checks the dedicated listener's lifecycle:
// a handler that panics gets the internal error's 500 and leaves the
// server serving (fasthttp itself would end the process), and Close
// stops it: the port no longer accepts connections.
func TestFastServerPanicAndClose(t *testing.T) {
	store, err := OpenStore(context.Background(), openTestDBs(t)["sqlite"])
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	panics := EnqueueFunc(func(context.Context, []klaviyo.Event) error { panic("enqueue broke") })
	p := New(Options{AllowedOrigins: []string{shopOrigin}}, store, panics, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := NewFastServer(p, "127.0.0.1:0", nil)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		req, _ := http.NewRequest("POST", s.URL()+"/s/e", strings.NewReader(`{"events":[{"metric":"Viewed Product"}],"profile":{"email":"a@b.co"}}`))
		req.Header.Set("Origin", shopOrigin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "enqueue broke") {
			t.Errorf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := strings.TrimPrefix(s.URL(), "http://")
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
}
