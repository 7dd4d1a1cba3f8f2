package inspect_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/outbox"
)

func raw(s ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(s))
	for i, x := range s {
		out[i] = json.RawMessage(x)
	}
	return out
}

type row struct{ Source, Metric, Profile, State string }

func rows(es []inspect.Event) []row {
	var out []row
	for _, e := range es {
		out = append(out, row{e.Source, e.Metric, e.Profile, e.State})
	}
	return out
}

func TestRingMatchesReportsToRenders(t *testing.T) {
	r := inspect.NewRing(0)
	changed := r.Changed()
	// The server's script-safe encoding and the browser's JSON.stringify
	// of the same push differ in bytes, not in meaning.
	r.RecordRender("v1", raw(`["track","Viewed Product",{"ProductName":"Mug \u003c3","Price":12.5}]`, `["trackViewedItem",{"Title":"Mug \u003c3"}]`))
	select {
	case <-changed:
	default:
		t.Fatal("RecordRender did not signal a change")
	}
	n := r.RecordPushes("v1", inspect.SourceHelper, raw(
		`["track","Viewed Product",{"Price":12.5,"ProductName":"Mug <3"}]`,
		`["trackViewedItem",{"Title":"Mug <3"}]`,
		`["identify",{"email":"a@example.com"}]`,
		`["track","Added to Cart",{"$value":12.5}]`,
	), "")
	if n != 2 {
		t.Errorf("RecordPushes added %d events, want 2 (the others were rendered)", n)
	}
	// A report from another page view does not match view v1's renders.
	r.RecordPushes("v2", inspect.SourceHelper, raw(`["trackViewedItem",{"Title":"Mug <3"}]`), "a@example.com")
	want := []row{
		{"helper", "trackViewedItem", "a@example.com", "pushed"},
		{"helper", "Added to Cart", "", "pushed"},
		{"helper", "identify", "a@example.com", "pushed"},
		{"render", "trackViewedItem", "", "pushed"},
		{"render", "Viewed Product", "", "pushed"},
	}
	if diff := cmp.Diff(want, rows(r.List())); diff != "" {
		t.Errorf("ring (-want +got):\n%s", diff)
	}
	small := inspect.NewRing(2)
	small.RecordRender("v", raw(`["track","A",{}]`, `["track","B",{}]`, `["track","C",{}]`))
	if got := rows(small.List()); len(got) != 2 || got[0].Metric != "C" || got[1].Metric != "B" {
		t.Errorf("a full ring kept %v, want C, B", got)
	}
}

// A rendered identify is named by the identifier it carries, which a
// browser's report of the same push does not replace.
func TestRingRenderedIdentifyKeepsItsProfile(t *testing.T) {
	r := inspect.NewRing(0)
	r.RecordRender("v", raw(`["identify",{"email":"a@example.com","first_name":"A \u003c"}]`, `["track","Viewed Product",{"ProductID":"1"}]`))
	if n := r.RecordPushes("v", inspect.SourceHelper, raw(`["identify",{"first_name":"A <","email":"a@example.com"}]`), "b@example.com"); n != 0 {
		t.Errorf("RecordPushes added %d events, want 0 (the identify was rendered)", n)
	}
	want := []row{
		{"render", "Viewed Product", "", "rendered"},
		{"render", "identify", "a@example.com", "pushed"},
	}
	if diff := cmp.Diff(want, rows(r.List())); diff != "" {
		t.Errorf("ring (-want +got):\n%s", diff)
	}
}

func TestInspectorMergesOutboxAndRing(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	ob, err := outbox.Open(ctx, d, outbox.Options{PollInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close(context.Background())
	sink := localsink.New(0)
	in := &inspect.Inspector{DB: d, Ring: inspect.NewRing(0), Sink: sink}
	in.Ring.RecordRender("v", raw(`["track","Viewed Product",{"ProductID":"1"}]`))
	time.Sleep(5 * time.Millisecond)
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{"OrderId":"1"}`)}}
	if err := ob.Enqueue(ctx, ev, "orders"); err != nil {
		t.Fatal(err)
	}
	list := func(f inspect.Filter) []row {
		t.Helper()
		es, err := in.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return rows(es)
	}
	if diff := cmp.Diff([]row{{"orders", "Placed Order", "email:a@example.com", "pending"}, {"render", "Viewed Product", "", "rendered"}}, list(inspect.Filter{})); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	es, _ := in.List(ctx, inspect.Filter{State: "pending"})
	_, req, err := in.Get(ctx, es[0].ID)
	if err != nil || req == nil || req.Recorded || req.Path != "/api/events" {
		t.Fatalf("Get(pending) request = %+v, %v; want the single-event request built from the payload", req, err)
	}
	want, _ := klaviyo.EncodeEvent(ev[0])
	if string(req.Body) != string(want) {
		t.Errorf("built request\n%s\nwant\n%s", req.Body, want)
	}

	// Delivered through the sink: the recorded request is shown.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ob.Run(runCtx, sink); close(done) }()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(30 * time.Second); sink.Len() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not delivered")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(list(inspect.Filter{State: "delivered"})) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not marked delivered")
		}
	}
	e, req, err := in.Get(ctx, es[0].ID)
	if err != nil || !req.Recorded || req.Status != 202 || e.State != "delivered" || e.Attempts != 1 || e.LastStatus != 202 {
		t.Errorf("Get(delivered) = %+v, %+v, %v", e, req, err)
	}
	for name, c := range map[string]struct {
		f    inspect.Filter
		want []row
	}{
		"browser state": {inspect.Filter{State: "rendered"}, []row{{"render", "Viewed Product", "", "rendered"}}},
		"source":        {inspect.Filter{Source: "orders"}, []row{{"orders", "Placed Order", "email:a@example.com", "delivered"}}},
		"profile":       {inspect.Filter{Profile: "a@example.com"}, []row{{"orders", "Placed Order", "email:a@example.com", "delivered"}}},
		"metric":        {inspect.Filter{Metric: "Viewed Product"}, []row{{"render", "Viewed Product", "", "rendered"}}},
		"limit":         {inspect.Filter{Limit: 1}, []row{{"orders", "Placed Order", "email:a@example.com", "delivered"}}},
	} {
		if diff := cmp.Diff(c.want, list(c.f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if _, _, err := in.Get(ctx, "o999"); err == nil {
		t.Error("Get(o999) found something")
	}
	if _, _, err := in.Get(ctx, "b999"); err == nil {
		t.Error("Get(b999) found something")
	}
}
