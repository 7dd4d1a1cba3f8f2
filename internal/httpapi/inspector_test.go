package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/outbox"
)

// inspectorServer is a Server with the inspector mounted, over a real
// SQLite outbox (one event from "orders") and a ring holding one rendered
// push; the render API records into the ring.
func inspectorServer(t *testing.T, sink *localsink.Sink, token string) (*httpapi.Server, *inspect.Inspector) {
	t.Helper()
	d := dbtest.SQLite(t)
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close(context.Background()) })
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{"OrderId":"A-1"}`), UniqueID: "A-1"}}
	if err := ob.Enqueue(context.Background(), ev, "orders"); err != nil {
		t.Fatal(err)
	}
	in := &inspect.Inspector{DB: d, Ring: inspect.NewRing(0), Sink: sink}
	in.Ring.RecordRender("v1", []json.RawMessage{json.RawMessage(`["track","Viewed Product",{"ProductID":"1"}]`)})
	s := httpapi.NewServer()
	s.Addr = "127.0.0.1:0"
	s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s.Inspector = inspect.NewHandler(in, inspect.HandlerOptions{Token: token, StreamPoll: 20 * time.Millisecond, Logger: s.Logger})
	s.Rendered = in.Ring
	s.APIToken = token
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, in
}

// TestInspectorMounted: the server serves the inspector's pages at
// /debug/events and below, and answers 404 there without one.
func TestInspectorMounted(t *testing.T) {
	s, _ := inspectorServer(t, localsink.New(0), "")
	for _, path := range []string{"/debug/events", "/debug/events/b1"} {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:5555"
		req.Host = "localhost:8080"
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%s: %d, want 200: %s", path, rec.Code, rec.Body)
		}
	}
	for _, path := range []string{"/debug/events", "/debug/events/b1", "/debug/events/stream"} {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "127.0.0.1:5555"
		rec := httptest.NewRecorder()
		httpapi.NewServer().ServeHTTP(rec, req)
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), "the inspector is not enabled") {
			t.Errorf("no inspector, %s: %d %s, want 404", path, rec.Code, rec.Body)
		}
	}
}

func TestRenderAPIFeedsTheInspector(t *testing.T) {
	s, in := inspectorServer(t, localsink.New(0), "")
	req := httptest.NewRequest("POST", "/v1/render/identify", strings.NewReader(bodies["identify"]))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("render: %d %s", rec.Code, rec.Body)
	}
	es, err := in.List(context.Background(), inspect.Filter{Source: "render", Metric: "identify"})
	if err != nil || len(es) != 1 || es[0].State != inspect.StateRendered || es[0].Profile != "shopper@example.com" {
		t.Errorf("ring after a render: %+v, %v", es, err)
	}
}

// TestCloseEndsEventStream: a connected inspector stream does not hold
// Close until its deadline: Close cancels the request's context, the
// stream's handler returns, and the client sees the body end.
func TestCloseEndsEventStream(t *testing.T) {
	s, _ := inspectorServer(t, localsink.New(0), "")
	resp, err := http.Get(s.URL() + "/debug/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "event: events") {
		t.Fatalf("first line %q, %v; want the first event", line, err)
	}
	bodyEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		bodyEnded <- err
	}()
	// The bound is the default shutdown timeout (15 s): a stream that
	// only ended when Shutdown gave up would take all of it.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close = %v, want nil: the stream held shutdown until its deadline", err)
	}
	select {
	case <-bodyEnded:
	case <-ctx.Done():
		t.Fatal("the stream's body did not end after Close")
	}
}
