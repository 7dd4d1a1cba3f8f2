package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

func consentEnv(fake *klaviyotest.Server) map[string]string {
	return map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL": fake.URL, "SNIPPETD_LIST_ID": "AbC123"}
}

// subscribedOnce returns how often each email was subscribed at the fake
// (bulk jobs only).
func subscribedOnce(fake *klaviyotest.Server) (map[string]int, int) {
	got := map[string]int{}
	jobs := 0
	for _, j := range fake.SubscriptionJobs() {
		if j.Path != klaviyotest.PathSubscribeBulk {
			continue
		}
		jobs++
		for _, p := range j.Profiles {
			got[p.Email]++
		}
	}
	return got, jobs
}

// waitJobs waits until the outbox holds no pending job.
func waitJobs(t *testing.T, m *Main) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := m.Outbox.JobCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending", c.Pending)
		}
	}
}

// TestSubscriptionBurstSurvivesRestart: 10,000 subscriptions posted in a
// burst by 16 clients (500 requests of 20), with the server closed hard
// (no drain: requests in flight cancelled) halfway and opened again on
// the same data: every acknowledged subscription reaches the fake once,
// in at most 10 bulk jobs, with no 429 from the fake's rate limiter.
func TestSubscriptionBurstSurvivesRestart(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	fake.SetStrictLimits(true)
	dir := t.TempDir()
	env := consentEnv(fake)
	const requests, per = 500, 20
	body := func(r int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email":"b%d-%d@example.com","channels":{"email":true},"source":"burst"}`, r, i)
		}
		b.WriteByte(']')
		return b.String()
	}
	var acked sync.Map
	post := func(m *Main, from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					r := int(next.Add(1) - 1)
					if r >= to {
						return
					}
					if st, got := call(t, m, "/v1/subscriptions", "tok", "application/json", body(r)); st == 202 {
						acked.Store(r, true)
					} else {
						t.Errorf("request %d: %d %s", r, st, got)
					}
				}
			})
		}
		wg.Wait()
	}
	m := openMainIn(t, dir, env)
	post(m, 0, requests/2)
	// Hard close: Stop's context has already ended, so requests in flight
	// are cancelled rather than answered.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.Close(ctx)
	before, _ := subscribedOnce(fake)

	m = openMainIn(t, dir, env)
	post(m, requests/2, requests)
	waitJobs(t, m)

	got, jobs := subscribedOnce(fake)
	n := 0
	acked.Range(func(k, _ any) bool {
		r := k.(int)
		for i := range per {
			e := fmt.Sprintf("b%d-%d@example.com", r, i)
			if got[e] != 1 {
				t.Errorf("%s subscribed %d times", e, got[e])
			}
			n++
		}
		return true
	})
	if n != requests*per {
		t.Errorf("%d subscriptions acknowledged, want %d", n, requests*per)
	}
	st := fake.StatsFor(klaviyotest.PathSubscribeBulk)
	t.Logf("%d subscriptions in %d bulk jobs (%d delivered before the restart); fake stats %+v", len(got), jobs, len(before), st)
	if jobs > 10 {
		t.Errorf("%d bulk jobs, want at most 10", jobs)
	}
	if st.Throttled > 0 {
		t.Errorf("the fake throttled %d requests", st.Throttled)
	}
}
