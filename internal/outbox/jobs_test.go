package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// jobRecorder is a JobSender that records each request.
type jobRecorder struct {
	mu   sync.Mutex
	reqs []jobReq
	fn   func(kind string, payloads [][]byte) klaviyo.Outcome
}

type jobReq struct {
	kind, grp string
	payloads  []string
}

func (r *jobRecorder) SendJob(ctx context.Context, kind, grp string, payloads [][]byte) klaviyo.Outcome {
	r.mu.Lock()
	fn := r.fn
	r.mu.Unlock()
	out := klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
	if fn != nil {
		out = fn(kind, payloads)
	}
	if out.Kind == klaviyo.Delivered {
		req := jobReq{kind: kind, grp: grp}
		for _, p := range payloads {
			req.payloads = append(req.payloads, string(p))
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
	}
	return out
}

func (r *jobRecorder) requests() []jobReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]jobReq(nil), r.reqs...)
}

func subJob(grp string, i int) Job {
	return Job{Kind: JobSubscribe, Group: grp, ProfileKey: fmt.Sprintf("email:s%d@example.com", i), Payload: fmt.Appendf(nil, `{"email":"s%d@example.com"}`, i)}
}

func jobCounts(t *testing.T, o *Outbox) SourceCounts {
	t.Helper()
	c, err := o.JobCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestJobsBatchByGroupAndLinger: 2,500 subscriptions of one group and 5
// of another go out as full jobs of 1,000 plus one job per group's rest,
// and each subscription exactly once.
func TestJobsBatchByGroupAndLinger(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			rec := &jobRecorder{}
			opts.JobSender = rec
			opts.JobLinger = 300 * time.Millisecond
			o := openOutbox(t, d, opts)
			var jobs []Job
			for i := range 2500 {
				jobs = append(jobs, subJob(`{"list":"AAAAAA"}`, i))
			}
			for i := range 5 {
				jobs = append(jobs, subJob(`{"list":"BBBBBB"}`, 10000+i))
			}
			if n, err := o.EnqueueJobs(context.Background(), jobs); err != nil || n != len(jobs) {
				t.Fatalf("EnqueueJobs = %d, %v", n, err)
			}
			run(t, o, &fakeSender{})
			waitFor(t, "jobs delivered", func() bool { return jobCounts(t, o).Delivered == int64(len(jobs)) })
			reqs := rec.requests()
			seen := map[string]int{}
			sizes := map[string][]int{}
			for _, r := range reqs {
				sizes[r.grp] = append(sizes[r.grp], len(r.payloads))
				for _, p := range r.payloads {
					seen[p]++
				}
			}
			if len(reqs) != 4 {
				t.Errorf("%d requests (%v), want 3 for list A and 1 for list B", len(reqs), sizes)
			}
			for p, n := range seen {
				if n != 1 {
					t.Errorf("%s sent %d times", p, n)
				}
			}
			if len(seen) != len(jobs) {
				t.Errorf("%d distinct subscriptions sent, want %d", len(seen), len(jobs))
			}
		})
	}
}

// TestJobsCoalesceAndOnce: ten quick upserts of one profile send its
// merged latest state once; a Once key stores its job only the first time.
func TestJobsCoalesceAndOnce(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			opts := testOptions()
			rec := &jobRecorder{}
			opts.JobSender = rec
			o := openOutbox(t, d, opts)
			ctx := context.Background()
			for i := range 10 {
				p := map[string]any{"email": "a@example.com", "properties": map[string]any{fmt.Sprintf("k%d", i): i, "last": i}}
				payload, _ := json.Marshal(p)
				merge := func(older []byte) ([]byte, error) {
					var o map[string]any
					if err := json.Unmarshal(older, &o); err != nil {
						return nil, err
					}
					props := o["properties"].(map[string]any)
					for k, v := range p["properties"].(map[string]any) {
						props[k] = v
					}
					return json.Marshal(o)
				}
				if _, err := o.EnqueueJobs(ctx, []Job{{Kind: JobProfile, ProfileKey: "email:a@example.com", Coalesce: "email:a@example.com", Payload: payload, Merge: merge}}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				n, err := o.EnqueueJobs(ctx, []Job{{Kind: JobSubscribe, Group: "{}", ProfileKey: "email:b@example.com", Payload: []byte(`{"email":"b@example.com"}`), Once: "order:1:email"}})
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{true: 1, false: 0}[i == 0]; n != want {
					t.Errorf("Once job stored %d times on try %d, want %d", n, i, want)
				}
			}
			if c := jobCounts(t, o); c.Pending != 2 {
				t.Fatalf("%d pending jobs, want 2 (one coalesced upsert, one subscription)", c.Pending)
			}
			run(t, o, &fakeSender{})
			waitFor(t, "jobs delivered", func() bool { return jobCounts(t, o).Delivered == 2 })
			reqs := rec.requests()
			var profile jobReq
			for _, r := range reqs {
				if r.kind == JobProfile {
					profile = r
				}
			}
			var got struct{ Properties map[string]float64 }
			json.Unmarshal([]byte(profile.payloads[0]), &got)
			if len(got.Properties) != 11 || got.Properties["last"] != 9 || got.Properties["k0"] != 0 {
				t.Errorf("coalesced upsert sent %s, want k0..k9 and last=9", profile.payloads)
			}
		})
	}
}

// TestJobsUpsertDuringSendIsSentAfter: an upsert stored while the earlier
// one is in flight is not marked delivered with it; it goes out next.
func TestJobsUpsertDuringSendIsSentAfter(t *testing.T) {
	d := dbtest.SQLite(t)
	opts := testOptions()
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	var once sync.Once
	rec := &jobRecorder{fn: func(kind string, p [][]byte) klaviyo.Outcome {
		once.Do(func() { entered <- struct{}{}; <-block })
		return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 200}
	}}
	opts.JobSender = rec
	o := openOutbox(t, d, opts)
	ctx := context.Background()
	put := func(name string) {
		if _, err := o.EnqueueJobs(ctx, []Job{{Kind: JobProfile, ProfileKey: "email:a@example.com", Coalesce: "email:a@example.com", Payload: []byte(`{"first_name":"` + name + `"}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	put("Ada")
	run(t, o, &fakeSender{})
	<-entered
	put("Grace")
	close(block)
	waitFor(t, "both versions sent", func() bool { return len(rec.requests()) == 2 })
	if last := rec.requests()[1].payloads[0]; !strings.Contains(last, "Grace") {
		t.Errorf("second request sent %s, want the newer state", last)
	}
	waitFor(t, "job delivered", func() bool { return jobCounts(t, o).Delivered == 1 && jobCounts(t, o).Pending == 0 })
}

// TestJobsPermanentIsolatedRetryableKept: a refused subscription in a job
// of 8 is isolated (dead), the other 7 delivered; a 429 keeps jobs
// pending until Klaviyo accepts them.
func TestJobsPermanentIsolatedRetryableKept(t *testing.T) {
	d := dbtest.SQLite(t)
	opts := testOptions()
	opts.JobLinger = time.Millisecond
	var mu sync.Mutex
	throttled := 2
	rec := &jobRecorder{fn: func(kind string, p [][]byte) klaviyo.Outcome {
		mu.Lock()
		defer mu.Unlock()
		if throttled > 0 {
			throttled--
			return klaviyo.Outcome{Kind: klaviyo.Retryable, Status: 429, RetryAfter: 10 * time.Millisecond}
		}
		for _, b := range p {
			if strings.Contains(string(b), "s3@") {
				return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: "bad profile"}
			}
		}
		return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
	}}
	opts.JobSender = rec
	o := openOutbox(t, d, opts)
	var jobs []Job
	for i := range 8 {
		jobs = append(jobs, subJob("{}", i))
	}
	if _, err := o.EnqueueJobs(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
	run(t, o, &fakeSender{})
	waitFor(t, "jobs settled", func() bool { c := jobCounts(t, o); return c.Delivered == 7 && c.Dead == 1 })
	for _, r := range rec.requests() {
		for _, p := range r.payloads {
			if strings.Contains(p, "s3@") {
				t.Errorf("the refused subscription was recorded as sent")
			}
		}
	}
}

// TestPlanJobsKeepsProfileOrder: a profile's unsubscribe after its
// subscribe waits for the next round.
func TestPlanJobsKeepsProfileOrder(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Hour).UnixMilli()
	rows := []jobRow{
		{id: 1, kind: JobSubscribe, grp: "{}", profileKey: "email:a", createdAt: old},
		{id: 2, kind: JobSubscribe, grp: "{}", profileKey: "email:b", createdAt: old},
		{id: 3, kind: JobUnsubscribe, grp: "{}", profileKey: "email:a", createdAt: old},
		{id: 4, kind: JobSubscribe, grp: "{}", profileKey: "email:c", createdAt: old},
	}
	ready, _ := planJobs(rows, now, time.Second)
	if len(ready) != 1 || len(ready[0]) != 2 || ready[0][1].id != 2 {
		t.Fatalf("planned %v, want one job of rows 1 and 2", ready)
	}
	// A young partial job waits for the linger.
	rows = []jobRow{{id: 1, kind: JobSubscribe, grp: "{}", profileKey: "email:a", createdAt: now.UnixMilli()}}
	if ready, due := planJobs(rows, now, time.Second); len(ready) != 0 || due <= 0 || due > time.Second {
		t.Fatalf("a new partial job was planned (%v) or not due within the linger (%s)", ready, due)
	}
}
