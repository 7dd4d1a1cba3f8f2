package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// syncBuf is a bytes.Buffer safe for the server goroutine and the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestStandalone runs the fake as a real listener on a free port, from an
// empty working directory (nothing beside the module to find), and sends
// an event to it with the real client and a body Klaviyo's schema refuses.
func TestStandalone(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, &out, &errb) }()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; time.Sleep(10 * time.Millisecond) {
		if m := regexp.MustCompile(`at (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL printed: %q %q", out.String(), errb.String())
		}
	}
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: url})
	if err != nil {
		t.Fatal(err)
	}
	e := klaviyo.Event{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, UniqueID: "1"}
	enc, err := klaviyo.Encode(e, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if out := c.CreateEvent(context.Background(), enc); out.Kind != klaviyo.Delivered {
		t.Fatalf("%+v", out)
	}
	// The old flat v2 shape passes every hand-written check but not the
	// OpenAPI request-body schema.
	req, _ := http.NewRequest("POST", url+"/api/events", strings.NewReader(`{"data":{"type":"event","attributes":{"metric":"Placed Order","profile":{"email":"a@example.com"},"properties":{}}}}`))
	req.Header.Set("Authorization", "Klaviyo-API-Key "+klaviyotest.PrivateKey)
	req.Header.Set("revision", klaviyotest.NewestRevision)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "/data/attributes") {
		t.Errorf("schema-invalid event: %d %s; want 400 naming the pointer", resp.StatusCode, b)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("%d embedded Klaviyo OpenAPI slices", len(klaviyotest.SliceFiles))) {
		t.Errorf("start-up line %q does not count the slices", out.String())
	}
	if resp, err := http.Get(url + "/api/events"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /api/events: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "events 1 (duplicates dropped 0)") {
		t.Errorf("summary %q", s)
	}
}
