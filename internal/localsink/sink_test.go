package localsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/shop"
)

var _ klaviyo.Sender = (*localsink.Sink)(nil)

func event(email, id string) klaviyo.Event {
	return klaviyo.Event{
		Metric:     "Placed Order",
		Profile:    klaviyo.Profile{Email: email},
		Properties: json.RawMessage(`{"OrderId":"` + id + `"}`),
		Time:       time.Now().Add(-time.Minute),
		Value:      shop.Cents(2998),
		UniqueID:   id,
	}
}

// encoded is events checked and encoded, as the outbox stores them.
func encoded(tb testing.TB, events ...klaviyo.Event) []klaviyo.Encoded {
	tb.Helper()
	out := make([]klaviyo.Encoded, len(events))
	for i, e := range events {
		var err error
		if out[i], err = klaviyo.Encode(e, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// replay sends a recorded request to the strict fake Klaviyo, which checks
// it against Klaviyo's OpenAPI schema and rules like the real API would.
func replay(t *testing.T, fake *klaviyotest.Server, r localsink.Request) int {
	t.Helper()
	req, _ := http.NewRequest(r.Method, fake.URL+r.Path, bytes.NewReader(r.Body))
	req.Header.Set("Authorization", "Klaviyo-API-Key "+klaviyotest.PrivateKey)
	req.Header.Set("revision", klaviyotest.NewestRevision)
	req.Header.Set("Content-Type", "application/vnd.api+json")
	req.Header.Set("Accept", "application/vnd.api+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSinkRecordsRequestsKlaviyoAccepts(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	s := localsink.New(0)
	ctx := context.Background()

	if out := s.CreateEvent(ctx, encoded(t, event("a@example.com", "o-1"))[0]); out.Kind != klaviyo.Delivered || out.Status != 202 {
		t.Fatalf("CreateEvent = %+v, want Delivered 202", out)
	}
	bulk := []klaviyo.Event{event("b@example.com", "o-2"), event("c@example.com", "o-3"), event("b@example.com", "o-4")}
	if out := s.BulkCreateEvents(ctx, encoded(t, bulk...)); out.Kind != klaviyo.Delivered {
		t.Fatalf("BulkCreateEvents = %+v, want Delivered", out)
	}
	reqs := s.Requests()
	var got []string
	for _, r := range reqs {
		got = append(got, fmt.Sprint(r.Seq, " ", r.Method, " ", r.Path, " ", r.UniqueIDs, " ", r.Status))
	}
	want := []string{"2 POST /api/event-bulk-create-jobs [o-2 o-3 o-4] 202", "1 POST /api/events [o-1] 202"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("requests (-want +got):\n%s", diff)
	}
	wantBody, _ := klaviyo.EncodeEvent(event("a@example.com", "o-1"))
	if !bytes.Equal(reqs[1].Body, wantBody) {
		t.Errorf("recorded body\n%s\nwant the client's encoding\n%s", reqs[1].Body, wantBody)
	}
	for _, r := range reqs {
		if st := replay(t, fake, r); st != 202 {
			t.Errorf("fake Klaviyo answered %d to the recorded %s", st, r.Path)
		}
	}
	if n := len(fake.Events()); n != 4 {
		t.Errorf("fake Klaviyo kept %d events, want 4", n)
	}
	if r, ok := s.ForUniqueID("o-3"); !ok || r.Seq != 2 {
		t.Errorf("ForUniqueID(o-3) = %d, %v; want request 2", r.Seq, ok)
	}
}

func TestSinkRefusesWhatTheClientWouldNotSend(t *testing.T) {
	s := localsink.New(0)
	one := encoded(t, event("a@example.com", "x"))[0]
	tooMany := make([]klaviyo.Encoded, klaviyo.MaxBulkEvents+1)
	for i := range tooMany {
		tooMany[i] = one
	}
	for _, batch := range [][]klaviyo.Encoded{nil, tooMany} {
		if out := s.BulkCreateEvents(context.Background(), batch); out.Kind != klaviyo.Permanent || out.Status != 400 || out.Detail == "" {
			t.Fatalf("BulkCreateEvents(%d events) = %+v, want Permanent 400 with a reason", len(batch), out)
		}
	}
	if r := s.Requests(); len(r) != 2 || r[0].Status != 400 || r[0].Body != nil {
		t.Errorf("refusals recorded as %+v; want two 400s without a body", r)
	}
}

func TestSinkKeepsOnlyTheLatest(t *testing.T) {
	s := localsink.New(3)
	for i := range 5 {
		s.CreateEvent(context.Background(), encoded(t, event("a@example.com", fmt.Sprint("e", i)))[0])
	}
	var got []int64
	for _, r := range s.Requests() {
		got = append(got, r.Seq)
	}
	if diff := cmp.Diff([]int64{5, 4, 3}, got); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if _, ok := s.ForUniqueID("e0"); ok {
		t.Error("an evicted request is still found by unique id")
	}
	if r, ok := s.ForUniqueID("e4"); !ok || r.Seq != 5 || s.Len() != 5 {
		t.Errorf("ForUniqueID(e4) = %d, %v; Len = %d", r.Seq, ok, s.Len())
	}
}

// TestSinkCapsItsMemory: remembered requests hold at most the byte cap
// (the newest always stays), so a backlog of bulk requests cannot pin
// their bodies by the gigabyte; what is evicted is no longer found.
func TestSinkCapsItsMemory(t *testing.T) {
	s := localsink.New(1000)
	localsink.SetMaxBytes(s, 40<<10)
	batch := func(n int) []klaviyo.Event {
		events := make([]klaviyo.Event, 50)
		for i := range events {
			events[i] = event("a@example.com", fmt.Sprintf("b%d-%d", n, i))
		}
		return events
	}
	var sizes []int
	for n := range 20 {
		if out := s.BulkCreateEvents(context.Background(), encoded(t, batch(n)...)); out.Kind != klaviyo.Delivered {
			t.Fatal(out)
		}
		held := 0
		for _, r := range s.Requests() {
			held += len(r.Body)
		}
		sizes = append(sizes, held)
		if held > 40<<10 && len(s.Requests()) > 1 {
			t.Fatalf("after %d requests the sink holds %d bytes of bodies in %d requests, cap 40 KiB", n+1, held, len(s.Requests()))
		}
	}
	kept := s.Requests()
	if len(kept) < 2 || len(kept) >= 20 || kept[0].Seq != 20 {
		t.Fatalf("kept %d requests (newest %d); bodies held after each: %v", len(kept), kept[0].Seq, sizes)
	}
	if _, ok := s.ForUniqueID("b0-0"); ok {
		t.Error("an evicted request is still found by unique id")
	}
	if r, ok := s.ForUniqueID("b19-49"); !ok || r.Seq != 20 {
		t.Errorf("ForUniqueID(b19-49) = %d, %v", r.Seq, ok)
	}
	// One request larger than the cap is still kept, alone.
	localsink.SetMaxBytes(s, 1)
	s.BulkCreateEvents(context.Background(), encoded(t, batch(20)...))
	if kept := s.Requests(); len(kept) != 1 || kept[0].Seq != 21 {
		t.Errorf("with a 1-byte cap the sink keeps %d requests, want only the newest", len(kept))
	}
}

// BenchmarkBulkCreateEvents: the sink taking one 1,000-event request of
// the proxy's typical events (framing, bookkeeping), per event.
//
//	go test ./localsink -run '^$' -bench BulkCreateEvents -benchmem
func BenchmarkBulkCreateEvents(b *testing.B) {
	events := make([]klaviyo.Event, 1000)
	for i := range events {
		events[i] = klaviyo.Event{
			Metric:     "Viewed Product",
			Profile:    klaviyo.Profile{Kx: "BenchShopper01.ABC123"},
			Properties: json.RawMessage(`{"ProductName":"Mug","ProductID":"p1","SKU":"M-1","Categories":[],"ImageURL":"","URL":"https://shop.example/p/mug","Brand":"","Price":12.5,"CompareAtPrice":0}`),
			Time:       time.Now().Add(-time.Minute),
			UniqueID:   fmt.Sprint("b1-", i),
		}
	}
	encs := encoded(b, events...)
	s := localsink.New(0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := s.BulkCreateEvents(ctx, encs); out.Kind != klaviyo.Delivered {
			b.Fatal(out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
