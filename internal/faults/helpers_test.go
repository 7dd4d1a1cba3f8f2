package faults

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

const token = "tok-faults"

// server is one snippetd under test with the fake Klaviyo it delivers to.
type server struct {
	*app.Main
	fake  *klaviyotest.Server
	dbURL string // empty for SQLite
}

// start runs snippetd on backend with a private key pointed at a fresh
// fake Klaviyo; env adds settings.
func start(t *testing.T, backend string, env map[string]string) *server {
	t.Helper()
	s := &server{fake: klaviyotest.NewServer(t)}
	e := map[string]string{
		"SNIPPETD_API_TOKEN":   token,
		"SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL": s.fake.URL,
	}
	if backend == "postgres" {
		s.dbURL = dbtest.PostgresURL(t, "snippetd_faults")
		if s.dbURL == "" {
			t.Skip("PostgreSQL unreachable")
		}
		e["SNIPPETD_DATABASE_URL"] = s.dbURL
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return e[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s.Main = app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	s.DB.SetProbeEvery(10 * time.Millisecond)
	return s
}

// orderBody is a valid order with id.
func orderBody(id string) string {
	return fmt.Sprintf(`{"id":%q,"placed_at":"2026-02-05T15:00:00Z","currency":"USD",
 "customer":{"email":"ann@example.com","first_name":"Ann"},
 "items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":2}]}`, id)
}

// answer is one HTTP response as a test looks at it.
type answer struct {
	status     int
	code       string // error.code, when any
	retryAfter string
	err        error // transport error
}

var client = &http.Client{Timeout: 10 * time.Second}

// post sends body to path with the API token.
func post(url, path, body string) answer {
	req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return do(req)
}

func get(url, path string) answer {
	req, _ := http.NewRequest("GET", url+path, nil)
	return do(req)
}

func do(req *http.Request) answer {
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if i := strings.Index(string(b), `"code":"`); i >= 0 {
		rest := string(b)[i+8:]
		a.code = rest[:strings.IndexByte(rest, '"')]
	}
	return a
}

// checkHonest fails the test unless a is a 2xx, or a 503 `unavailable`
// with Retry-After; it reports whether a was acknowledged.
func checkHonest(t *testing.T, what string, a answer) bool {
	t.Helper()
	switch {
	case a.err != nil:
		t.Errorf("%s: %v", what, a.err)
	case a.status/100 == 2:
		return true
	case a.status != http.StatusServiceUnavailable || a.code != "unavailable" || a.retryAfter == "":
		t.Errorf("%s: status %d code %q Retry-After %q; a storage failure must be 503 unavailable with Retry-After", what, a.status, a.code, a.retryAfter)
	}
	return false
}

// load posts orders from workers goroutines until stop is closed and
// returns the ids that were acknowledged (202) and every answer seen.
type load struct {
	mu      sync.Mutex
	acked   []string
	answers map[int]int
	bad     []answer
	wg      sync.WaitGroup
	stop    chan struct{}
}

func startLoad(url, prefix string, workers int) *load {
	l := &load{answers: map[int]int{}, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				a := post(url, "/v1/orders", orderBody(id))
				l.mu.Lock()
				l.answers[a.status]++
				if a.status == http.StatusAccepted {
					l.acked = append(l.acked, id)
				} else if a.err != nil || a.status != http.StatusServiceUnavailable || a.code != "unavailable" || a.retryAfter == "" {
					l.bad = append(l.bad, a)
				} else {
					// A client retries a 503 after a pause.
					l.mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAck waits until the load has n more acknowledgements than before,
// and returns how long that took.
func (l *load) waitAck(t *testing.T, before int, within time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for l.count() <= before {
		if time.Since(t0) > within {
			t.Fatalf("no order acknowledged within %s of the fault ending", within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(t0)
}

// tally compares what was acknowledged with what the fake Klaviyo
// accepted: every acknowledged order must arrive as a Placed Order.
type tally struct {
	acknowledged, delivered, missing, twice int
}

func (s *server) tally(t *testing.T, acked []string, within time.Duration) tally {
	t.Helper()
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	deadline := time.Now().Add(within)
	var tl tally
	for {
		seen := map[string]int{}
		for _, e := range s.fake.EventsFor("Placed Order") {
			seen[e.UniqueID]++
		}
		tl = tally{acknowledged: len(acked), twice: s.fake.Stats().Duplicates}
		for id := range want {
			if seen[id] > 0 {
				tl.delivered++
			} else {
				tl.missing++
			}
		}
		if tl.missing == 0 || time.Now().After(deadline) {
			return tl
		}
		time.Sleep(20 * time.Millisecond)
	}
}
