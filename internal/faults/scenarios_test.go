package faults

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// report logs a scenario's figures (docs/reliability.md collects them)
// and fails the test when anything acknowledged is missing.
func report(t *testing.T, name string, tl tally, recover time.Duration) {
	t.Helper()
	t.Logf("SCENARIO %-40s acknowledged %5d  delivered %5d  missing %d  sent twice %d  recovered in %s",
		name, tl.acknowledged, tl.delivered, tl.missing, tl.twice, recover.Round(time.Millisecond))
	if tl.missing != 0 {
		t.Errorf("%s: %d acknowledged orders never reached Klaviyo", name, tl.missing)
	}
	if tl.acknowledged == 0 {
		t.Errorf("%s: nothing was acknowledged; the scenario measured nothing", name)
	}
}

// storageFault runs load against a server, breaks its storage with
// breakFor for d, and measures: every answer honest, every
// acknowledged order delivered, and the time from repair to the next
// acknowledgement.
func storageFault(t *testing.T, s *server, name string, d time.Duration, breakIt func() (repair func())) {
	l := startLoad(s.Server.URL(), name, 4)
	time.Sleep(200 * time.Millisecond)
	repair := breakIt()
	time.Sleep(d)
	repair()
	recover := l.waitAck(t, l.count(), 15*time.Second)
	time.Sleep(200 * time.Millisecond)
	l.end()
	for _, a := range l.bad {
		t.Errorf("%s: dishonest answer %+v (want 202 or 503 unavailable with Retry-After)", name, a)
	}
	report(t, name, s.tally(t, l.acked, 30*time.Second), recover)
}

func TestScenarioPostgresOutage(t *testing.T) {
	s := start(t, "postgres", nil)
	storageFault(t, s, "postgres: refuse connections 1s", time.Second, func() func() { return dbtest.Refuse(t, s.dbURL) })
}

func TestScenarioPostgresSessionsKilled(t *testing.T) {
	s := start(t, "postgres", nil)
	storageFault(t, s, "postgres: kill every session 3x", 0, func() func() {
		for range 3 {
			dbtest.TerminateSessions(t, s.dbURL)
			time.Sleep(200 * time.Millisecond)
		}
		return func() {}
	})
}

func TestScenarioSQLiteDiskFull(t *testing.T) {
	s := start(t, "sqlite", nil)
	storageFault(t, s, "sqlite: disk full 1s", time.Second, func() func() { return dbtest.Fill(t, s.DB) })
}

// klaviyoFault runs load while fault is applied to the fake Klaviyo for d,
// and measures the time from the fault's end until every acknowledged
// order is delivered.
func klaviyoFault(t *testing.T, backend, name string, d time.Duration, apply func(f *klaviyotest.Server), clear func(f *klaviyotest.Server)) {
	s := start(t, backend, nil)
	l := startLoad(s.Server.URL(), name, 4)
	time.Sleep(200 * time.Millisecond)
	apply(s.fake)
	time.Sleep(d)
	clear(s.fake)
	end := time.Now()
	time.Sleep(200 * time.Millisecond)
	l.end()
	for _, a := range l.bad {
		t.Errorf("%s: dishonest answer %+v", name, a)
	}
	tl := s.tally(t, l.acked, 60*time.Second)
	report(t, name+" ("+backend+")", tl, time.Since(end))
}

func TestScenarioKlaviyoDownThenUp(t *testing.T) {
	for _, b := range []string{"sqlite", "postgres"} {
		t.Run(b, func(t *testing.T) {
			klaviyoFault(t, b, "klaviyo down 1s", time.Second,
				func(f *klaviyotest.Server) { f.SetDown(true) }, func(f *klaviyotest.Server) { f.SetDown(false) })
		})
	}
}

func TestScenario429Storm(t *testing.T) {
	storms := map[string]klaviyotest.Fault{
		"429 storm with Retry-After 1s": klaviyotest.Throttle(1),
		"429 storm without Retry-After": klaviyotest.ThrottleNoRetryAfter(0),
	}
	for name, f := range storms {
		t.Run(name, func(t *testing.T) {
			klaviyoFault(t, "sqlite", name, time.Second,
				func(k *klaviyotest.Server) { k.FailFor(time.Second, f) }, func(k *klaviyotest.Server) {})
		})
	}
}

// rejectMarker in an event makes the rejecting front answer 400 to the
// request that carries it, as Klaviyo does for an event it refuses.
const rejectMarker = "REJECT-ME"

// rejectingFront is the fake Klaviyo behind a front that answers a
// permanent 400 to any event request carrying rejectMarker.
func rejectingFront(t *testing.T, fake *klaviyotest.Server) string {
	u, _ := url.Parse(fake.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(rejectMarker)) {
			w.Header().Set("Content-Type", "application/vnd.api+json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"id":"x","status":400,"code":"invalid","title":"Invalid input.","detail":"rejected by the fault suite","source":{"pointer":"/data/attributes"}}]}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front.URL
}

// TestScenarioRejectionsInBulkBacklog: a backlog built while Klaviyo was
// down holds a few events Klaviyo refuses for good; once it is back, every
// good event must arrive and the bad ones be dead-lettered, and the time
// the backlog takes to drain is recorded.
func TestScenarioRejectionsInBulkBacklog(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	front := rejectingFront(t, fake)
	s := start(t, "sqlite", map[string]string{"SNIPPETD_KLAVIYO_URL": front})
	s.fake = fake
	fake.SetDown(true)
	const total, every = 200, 50
	var good []string
	for i := range total {
		id := fmt.Sprintf("backlog-%d", i)
		body := orderBody(id)
		if i%every == every/2 {
			body = strings.Replace(body, `"Mug"`, `"`+rejectMarker+`"`, 1)
		} else {
			good = append(good, id)
		}
		if a := post(s.Server.URL(), "/v1/orders", body); a.status != http.StatusAccepted {
			t.Fatalf("POST %s: %+v", id, a)
		}
	}
	up := time.Now()
	fake.SetDown(false)
	tl := s.tally(t, good, 60*time.Second)
	drain := time.Since(up)
	st, _ := s.Outbox.Status(t.Context())
	t.Logf("backlog of %d orders (%d refused by Klaviyo): drained in %s with %d requests; dead letters %d",
		total, total/every, drain.Round(time.Millisecond), fake.Stats().Requests, st.Dead)
	report(t, "rejections scattered in a bulk backlog", tl, drain)
}
