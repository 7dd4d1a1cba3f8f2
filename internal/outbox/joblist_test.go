package outbox

import (
	"context"
	"testing"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestListJobsAndCountsByKind: stored jobs are listed newest first with
// their state and filtered by kind, state and profile; the counts by kind
// follow delivery; a bad filter names its field.
func TestListJobsAndCountsByKind(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			opts := testOptions()
			rec := &jobRecorder{fn: func(kind string, _ [][]byte) klaviyo.Outcome {
				if kind == JobBackInStock {
					return klaviyo.Outcome{Kind: klaviyo.Permanent, Status: 400, Detail: "no such variant"}
				}
				return klaviyo.Outcome{Kind: klaviyo.Delivered, Status: 202}
			}}
			opts.JobSender = rec
			o := openOutbox(t, d, opts)
			jobs := []Job{
				subJob(`{"list":"AAAAAA"}`, 1),
				subJob(`{"list":"AAAAAA"}`, 2),
				{Kind: JobProfile, ProfileKey: "email:s1@example.com", Payload: []byte(`{"email":"s1@example.com","first_name":"Ada"}`)},
				{Kind: JobBackInStock, ProfileKey: "email:s2@example.com", Payload: []byte(`{"VariantID":"$custom:::$default:::v9"}`)},
			}
			if _, err := o.EnqueueJobs(ctx, jobs); err != nil {
				t.Fatal(err)
			}
			all, err := ListJobs(ctx, d, JobQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 4 || all[0].Kind != JobBackInStock || all[3].Kind != JobSubscribe || all[0].State != StatePending || string(all[1].Payload) != `{"email":"s1@example.com","first_name":"Ada"}` {
				t.Fatalf("pending listing %+v", all)
			}
			run(t, o, &fakeSender{})
			waitFor(t, "jobs done", func() bool { return jobCounts(t, o).Pending == 0 })
			by, err := JobCountsByKind(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if by[JobSubscribe] != (SourceCounts{Delivered: 2}) || by[JobProfile] != (SourceCounts{Delivered: 1}) || by[JobBackInStock] != (SourceCounts{Dead: 1}) || len(by) != 3 {
				t.Errorf("counts by kind %+v", by)
			}
			dead, err := ListJobs(ctx, d, JobQuery{State: StateDead})
			if err != nil || len(dead) != 1 || dead[0].Kind != JobBackInStock || dead[0].LastStatus != 400 || dead[0].LastError != "no such variant" {
				t.Errorf("dead jobs %+v, %v", dead, err)
			}
			mine, err := ListJobs(ctx, d, JobQuery{Profile: "s1@example.com", Kind: JobSubscribe})
			if err != nil || len(mine) != 1 || mine[0].ProfileKey != "email:s1@example.com" || mine[0].State != StateDelivered || mine[0].Group != `{"list":"AAAAAA"}` {
				t.Errorf("s1's subscribe jobs %+v, %v", mine, err)
			}
			for _, q := range []JobQuery{{State: "sent"}, {Kind: "events"}} {
				if _, err := ListJobs(ctx, d, q); err == nil {
					t.Errorf("ListJobs(%+v) took a bad filter", q)
				}
			}
		})
	}
}
