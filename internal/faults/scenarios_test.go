package faults

import (
	"fmt"
	"net/http"
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
	tl := s.tally(t, l.acked, 30*time.Second)
	report(t, name, tl, recover)
	// Klaviyo answered every request: an event it accepted is recorded
	// as delivered, however long storage takes to come back, and never
	// sent again.
	if tl.twice != 0 {
		t.Errorf("%s: %d events sent twice", name, tl.twice)
	}
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

// rejectMarker in an order's product name makes the fake Klaviyo refuse
// its events for good, naming each one by source.pointer in a bulk
// answer, as Klaviyo does.
const rejectMarker = "REJECT-ME"

// TestScenarioRejectionsInBulkBacklog: a backlog built while Klaviyo was
// down holds 2% of events Klaviyo refuses for good; once it is back, every
// good event must arrive, the bad ones be dead-lettered, and the refused
// events must not cost the backlog more bulk requests than one resend per
// refused request: the bad events go through the single-event endpoint.
func TestScenarioRejectionsInBulkBacklog(t *testing.T) {
	s := start(t, "sqlite", nil)
	fake := s.fake
	fake.Reject(klaviyotest.Rejection{Detail: "refused by the fault suite", Match: func(e klaviyotest.Event) bool {
		return strings.Contains(fmt.Sprint(e.Properties), rejectMarker)
	}})
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
	// Each order is two events (Placed Order, Ordered Product).
	badEvents, goodEvents := 2*(total/every), 2*len(good)
	bulk0, single0 := fake.StatsFor(klaviyotest.PathBulkEvents), fake.StatsFor(klaviyotest.PathEvents)
	up := time.Now()
	fake.SetDown(false)
	tl := s.tally(t, good, 60*time.Second)
	waitFor(t, "every bad event dead-lettered", func() bool { st, _ := s.Outbox.Status(t.Context()); return st.Pending == 0 })
	drain := time.Since(up)
	st, _ := s.Outbox.Status(t.Context())
	bulk, single := fake.StatsFor(klaviyotest.PathBulkEvents), fake.StatsFor(klaviyotest.PathEvents)
	bulkReqs, refused, singles := bulk.Requests-bulk0.Requests, bulk.Rejected-bulk0.Rejected, single.Requests-single0.Requests
	t.Logf("backlog of %d orders (%d events, %d refused by Klaviyo): drained in %s with %d bulk requests (%d refused) and %d single; dead letters %d",
		total, goodEvents+badEvents, badEvents, drain.Round(time.Millisecond), bulkReqs, refused, singles, st.Dead)
	report(t, "rejections scattered in a bulk backlog", tl, drain)
	if st.Dead != int64(badEvents) {
		t.Errorf("%d dead letters, want the %d refused events", st.Dead, badEvents)
	}
	// The good events alone fit in ceil(goodEvents/1000) bulk requests;
	// the first round after the outage may be a one-event probe.
	need := (goodEvents + 999) / 1000
	if bulkReqs-refused > need || refused > need {
		t.Errorf("%d bulk requests (%d refused) for %d good events, want at most %d accepted and %d refused", bulkReqs, refused, goodEvents, need, need)
	}
	if singles > badEvents+1 {
		t.Errorf("%d single requests, want one per refused event (%d) and at most one probe", singles, badEvents)
	}
	if tl.twice != 0 {
		t.Errorf("%d events sent twice", tl.twice)
	}
}

// waitFor polls cond every 20ms for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
