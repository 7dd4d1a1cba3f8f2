package inspect_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/outbox"
)

// TestInspectorListsJobs: a signup and a back-in-stock request stored
// through the consent service show at /debug/events/jobs (JSON and HTML)
// with their kind and state, pending until delivered and then delivered
// once the local sink took them; filters apply, a bad one names its
// field, and the page is guarded like the events'.
func TestInspectorListsJobs(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLite(t)
	sink := localsink.New(0)
	ob, err := outbox.Open(ctx, d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 10 * time.Millisecond, JobSender: consent.Sender{Client: sink}, JobLinger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close(context.Background()) })
	svc := &consent.Service{Jobs: ob, ListID: "AbC123"}
	if _, err := svc.Subscribe(ctx, []consent.Subscription{{Email: "news@example.com", Channels: &consent.Channels{Email: true}, Source: "newsletter"}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RequestBackInStock(ctx, consent.BackInStock{VariantID: "v1", Email: "bis@example.com"}); err != nil {
		t.Fatal(err)
	}
	in := &inspect.Inspector{DB: d, Sink: sink}
	h := inspect.NewHandler(in, inspect.HandlerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	const local = "127.0.0.1:5555"
	jobs := func(query string) []map[string]any {
		t.Helper()
		rec := get(t, h, "/debug/events/jobs"+query, map[string]string{"Accept": "application/json"}, local)
		if rec.Code != 200 {
			t.Fatalf("jobs%s: %d %s", query, rec.Code, rec.Body)
		}
		var v struct {
			Jobs []map[string]any `json:"jobs"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		return v.Jobs
	}
	got := jobs("")
	if len(got) != 2 || got[0]["what"] != "back in stock" || got[1]["what"] != "subscription" || got[1]["profile"] != "email:news@example.com" || got[1]["state"] != "pending" {
		t.Fatalf("jobs before delivery: %v", got)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ob.Run(rctx, sink); close(done) }()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(20 * time.Second); len(jobs("?state=delivered")) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("jobs not delivered to the sink: %v", jobs(""))
		}
	}
	if subs := jobs("?kind=subscribe&profile=news@example.com"); len(subs) != 1 || subs[0]["state"] != "delivered" || !strings.Contains(subs[0]["group"].(string), "newsletter") {
		t.Errorf("the signup's job: %v", subs)
	}
	var paths []string
	for _, r := range sink.Requests() {
		paths = append(paths, r.Path)
	}
	if strings.Join(paths, " ") != "/api/back-in-stock-subscriptions /api/profile-subscription-bulk-create-jobs" && strings.Join(paths, " ") != "/api/profile-subscription-bulk-create-jobs /api/back-in-stock-subscriptions" {
		t.Errorf("the sink recorded %v", paths)
	}
	page := get(t, h, "/debug/events/jobs", nil, local)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `data-kind="subscribe" data-state="delivered" data-who="email:news@example.com"`) {
		t.Errorf("jobs page: %d\n%s", page.Code, page.Body)
	}
	for q, field := range map[string]string{"?kind=events": "kind", "?state=sent": "state", "?limit=0": "limit"} {
		if rec := get(t, h, "/debug/events/jobs"+q, map[string]string{"Accept": "application/json"}, local); rec.Code != 422 || !strings.Contains(rec.Body.String(), `"field":"`+field+`"`) {
			t.Errorf("jobs%s: %d %s, want 422 naming %s", q, rec.Code, rec.Body, field)
		}
	}
	if rec := get(t, h, "/debug/events/jobs", nil, "203.0.113.9:5555"); rec.Code != 401 {
		t.Errorf("a remote client got %d, want 401", rec.Code)
	}
}
