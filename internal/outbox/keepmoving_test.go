package outbox

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// drainThroughFake enqueues events, delivers them through the real client
// to fake, and returns the fake's bulk and single request counts once
// nothing is pending.
func drainThroughFake(t *testing.T, fake *klaviyotest.Server, events []klaviyo.Event) (bulk, single klaviyotest.Stats, dead []DeadLetter) {
	t.Helper()
	d := dbtest.SQLite(t)
	o := openOutbox(t, d, testOptions())
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(context.Background(), events, "test"); err != nil {
		t.Fatal(err)
	}
	run(t, o, c)
	waitFor(t, "the backlog to drain", func() bool { return status(t, o).Pending == 0 })
	dead, err = DeadLetters(context.Background(), d, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fake.StatsFor(klaviyotest.PathBulkEvents), fake.StatsFor(klaviyotest.PathEvents), dead
}

// TestScatteredRejectionsKeepBulkMoving: a backlog of 3,000 events over
// 50 profiles with 2% scattered events that Klaviyo refuses drains with
// every good event delivered once and every bad one dead-lettered, using
// the bulk requests the good events alone need plus one resend per
// refused request (Klaviyo's answer names each bad event), and one single
// request per bad event.
func TestScatteredRejectionsKeepBulkMoving(t *testing.T) {
	const total = 3000
	var events, good []klaviyo.Event
	bad := map[string]bool{}
	for n := range total {
		e := ev(fmt.Sprint("p", n%50), n)
		e.UniqueID = fmt.Sprint("u-", n)
		if n%50 == 17 { // 2%, one in every 50, each profile's at a different place
			bad[e.UniqueID] = true
		} else {
			good = append(good, e)
		}
		events = append(events, e)
	}
	alone, _, _ := drainThroughFake(t, klaviyotest.NewServer(t), good)

	for _, noPointer := range []bool{false, true} {
		t.Run(fmt.Sprint("no pointer ", noPointer), func(t *testing.T) {
			fake := klaviyotest.NewServer(t)
			fake.Reject(klaviyotest.Rejection{Match: func(e klaviyotest.Event) bool { return bad[e.UniqueID] }, Detail: "bad on purpose", NoPointer: noPointer})
			bulk, single, dead := drainThroughFake(t, fake, events)
			if len(dead) != len(bad) {
				t.Errorf("%d dead letters, want %d", len(dead), len(bad))
			}
			for _, l := range dead {
				if !bad[l.UniqueID] || l.Status != 400 || !strings.Contains(l.Response, "bad on purpose") {
					t.Errorf("dead letter %s: status %d %q, want a bad event refused with 400", l.UniqueID, l.Status, l.Response)
				}
			}
			seen := map[string]int{}
			for _, e := range fake.Events() {
				seen[e.UniqueID]++
			}
			for _, e := range good {
				if seen[e.UniqueID] != 1 {
					t.Errorf("%s delivered %d times", e.UniqueID, seen[e.UniqueID])
				}
			}
			t.Logf("good events alone: %d bulk requests; with %d bad: %d bulk (%d refused), %d single", alone.Requests, len(bad), bulk.Requests, bulk.Rejected, single.Requests)
			if bulk.Rejected > alone.Requests {
				t.Errorf("%d bulk requests refused, more than the %d the good events need", bulk.Rejected, alone.Requests)
			}
			if noPointer {
				// Nothing names the bad events: every event of a refused
				// request goes singly, none in a further bulk request.
				if bulk.Requests != alone.Requests || single.Requests > total {
					t.Errorf("%d bulk and %d single requests, want %d bulk and at most %d single", bulk.Requests, single.Requests, alone.Requests, total)
				}
				return
			}
			if bulk.Requests > alone.Requests+bulk.Rejected {
				t.Errorf("%d bulk requests, want at most %d (the good events alone) + %d (one resend per refused request)", bulk.Requests, alone.Requests, bulk.Rejected)
			}
			if single.Requests != len(bad) || single.Rejected != len(bad) {
				t.Errorf("%d single requests (%d refused), want one per bad event (%d)", single.Requests, single.Rejected, len(bad))
			}
		})
	}
}

// TestRefusedKeyPausesAndResumes: a key Klaviyo refuses (401) pauses
// delivery with the setting to fix in Status, Ready and the deliverer's
// row, sends only a probe per MaxBackoff, and resumes at once when the key
// is replaced.
func TestRefusedKeyPausesAndResumes(t *testing.T) {
	d := dbtest.SQLite(t)
	opts := testOptions()
	opts.MaxBackoff = time.Hour // only Resume can end the pause within the test
	opts.KeySetting = "SNIPPETD_PRIVATE_KEY_FILE (/run/secrets/klaviyo)"
	opts.Heartbeat = 20 * time.Millisecond
	o := openOutbox(t, d, opts)
	fake := klaviyotest.NewServer(t)
	c, err := klaviyo.NewClient("pk_revoked0123456789", klaviyo.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	var events []klaviyo.Event
	for n := range 150 { // a bulk backlog
		events = append(events, ev(fmt.Sprint("p", n%10), n))
	}
	if err := o.Enqueue(context.Background(), events, "test"); err != nil {
		t.Fatal(err)
	}
	run(t, o, c)
	waitFor(t, "the pause", func() bool { return status(t, o).Paused != "" })
	st := status(t, o)
	for _, want := range []string{"401", "SNIPPETD_PRIVATE_KEY_FILE (/run/secrets/klaviyo)", "paused"} {
		if !strings.Contains(st.Paused, want) {
			t.Errorf("Paused %q does not say %q", st.Paused, want)
		}
	}
	if st.Dead != 0 || st.Pending != 150 {
		t.Errorf("status %+v, want all 150 pending, none dead", st)
	}
	err = o.Ready(context.Background())
	if apperr.ErrorCode(err) != apperr.EUNAVAILABLE || !strings.Contains(apperr.ErrorMessage(err), "SNIPPETD_PRIVATE_KEY_FILE") {
		t.Errorf("Ready = %v, want unavailable naming the setting", err)
	}
	waitFor(t, "the deliverer row to say paused", func() bool {
		ds, err := Deliverers(context.Background(), d)
		return err == nil && len(ds) == 1 && strings.Contains(ds[0].Paused, "SNIPPETD_PRIVATE_KEY_FILE")
	})
	time.Sleep(100 * time.Millisecond)
	if n := fake.Stats().Requests; n != 1 {
		t.Errorf("%d requests while paused, want the one refused", n)
	}
	if err := c.SetKey(klaviyotest.PrivateKey); err != nil {
		t.Fatal(err)
	}
	o.Resume()
	waitFor(t, "delivery with the fixed key", func() bool { return status(t, o).Delivered == 150 })
	if st := status(t, o); st.Paused != "" || o.Ready(context.Background()) != nil {
		t.Errorf("still paused after delivering: %+v", st)
	}
}

// TestDeliverersRecordWhere: the delivering process records its target,
// pid and host while it delivers, and removes the row when it stops.
func TestDeliverersRecordWhere(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			opts.Target = TargetLocalSink
			o := openOutbox(t, d, opts)
			stop := run(t, o, &fakeSender{})
			var ds []Deliverer
			waitFor(t, "the deliverer row", func() bool {
				var err error
				ds, err = Deliverers(context.Background(), d)
				if err != nil {
					t.Fatal(err)
				}
				return len(ds) == 1
			})
			if !ds[0].LocalSink() || ds[0].Instance != o.Instance() || ds[0].PID == 0 || ds[0].Host == "" {
				t.Errorf("deliverer %+v", ds[0])
			}
			stop()
			waitFor(t, "the row to go", func() bool {
				ds, err := Deliverers(context.Background(), d)
				return err == nil && len(ds) == 0
			})
		})
	}
}
