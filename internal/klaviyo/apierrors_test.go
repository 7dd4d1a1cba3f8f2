package klaviyo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestBulkRejectionPointers: the fake refuses chosen events of a bulk
// request spread over several profiles; every refused event comes back as
// one error whose source.pointer, read with ParseBulkPointer and
// BulkEntries, names exactly its index in the batch.
func TestBulkRejectionPointers(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL, EventBuckets: klaviyo.Unlimited, BulkBuckets: klaviyo.Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	var events []klaviyo.Encoded
	bad := map[string]bool{}
	var want []int
	for i := range 60 {
		e := sampleEvent(fmt.Sprintf("u%d", i))
		e.Profile.Email = fmt.Sprintf("p%d@example.com", i%7) // entries of several events, interleaved
		enc, err := klaviyo.Encode(e, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, enc)
		if i%13 == 5 {
			bad[e.UniqueID] = true
			want = append(want, i)
		}
	}
	fake.Reject(klaviyotest.Rejection{Match: func(e klaviyotest.Event) bool { return bad[e.UniqueID] }, Detail: "not this one"})
	out := c.BulkCreateEvents(context.Background(), events)
	if out.Kind != klaviyo.Permanent || out.Status != 400 {
		t.Fatalf("outcome %+v, want a permanent 400", out)
	}
	entries := klaviyo.BulkEntries(events)
	var got []int
	for _, e := range out.Errors {
		ref, ok := klaviyo.ParseBulkPointer(e.Pointer)
		if !ok || ref.Event < 0 || ref.Entry >= len(entries) || ref.Event >= len(entries[ref.Entry]) {
			t.Fatalf("error %+v: pointer names no event of the batch", e)
		}
		if e.Detail != "not this one" {
			t.Errorf("detail %q", e.Detail)
		}
		got = append(got, entries[ref.Entry][ref.Event])
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("pointers name events %v, want %v", got, want)
	}
	if len(fake.Events()) != 0 {
		t.Fatalf("a refused request kept %d events", len(fake.Events()))
	}

	// Without pointers the answer says nothing about which.
	fake.Reject(klaviyotest.Rejection{Match: func(e klaviyotest.Event) bool { return bad[e.UniqueID] }, NoPointer: true})
	out = c.BulkCreateEvents(context.Background(), events)
	for _, e := range out.Errors {
		if _, ok := klaviyo.ParseBulkPointer(e.Pointer); ok {
			t.Fatalf("NoPointer answer has pointer %q", e.Pointer)
		}
	}
	if out.Kind != klaviyo.Permanent || len(out.Errors) == 0 {
		t.Fatalf("outcome %+v", out)
	}
}

func TestParseBulkPointer(t *testing.T) {
	cases := map[string]struct {
		ref klaviyo.BulkRef
		ok  bool
	}{
		"/data/attributes/events-bulk-create/data/3/attributes/events/data/7/attributes/time": {klaviyo.BulkRef{Entry: 3, Event: 7}, true},
		"/data/attributes/events-bulk-create/data/3/attributes/events/data/7":                 {klaviyo.BulkRef{Entry: 3, Event: 7}, true},
		"/data/attributes/events-bulk-create/data/12/attributes/profile/data/attributes":      {klaviyo.BulkRef{Entry: 12, Event: -1}, true},
		"/data/attributes/events-bulk-create/data/2":                                          {klaviyo.BulkRef{Entry: 2, Event: -1}, true},
		"/data/attributes/events-bulk-create/data":                                            {klaviyo.BulkRef{}, false},
		"/data/attributes": {klaviyo.BulkRef{}, false},
		"":                 {klaviyo.BulkRef{}, false},
	}
	for p, want := range cases {
		ref, ok := klaviyo.ParseBulkPointer(p)
		if ok != want.ok || (ok && ref != want.ref) {
			t.Errorf("%q: got %+v %v, want %+v %v", p, ref, ok, want.ref, want.ok)
		}
	}
}

// TestCheckPrivateKey: keys that cannot be private keys are refused by
// NewClient and SetKey with a reason that never quotes them.
func TestCheckPrivateKey(t *testing.T) {
	for _, k := range []string{klaviyotest.PrivateKey, "pk_0123456789abcdef0123456789abcdef01"} {
		if err := klaviyo.CheckPrivateKey(k); err != nil {
			t.Errorf("%q refused: %v", k, err)
		}
	}
	bad := map[string]string{
		"":                          "required",
		"AbC123":                    "public key",
		"Klaviyo-API-Key pk_abc123": "without",
		"pk_abc-123!":               "other characters",
		"sk_live_4eC39HqLyjWDarjtT": "starts with pk_",
		"pk_":                       "followed by letters and digits",
	}
	for k, want := range bad {
		err := klaviyo.CheckPrivateKey(k)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", k, err, want)
			continue
		}
		if len(k) > 3 && strings.Contains(err.Error(), k) {
			t.Errorf("%q: the error quotes the key: %v", k, err)
		}
		if _, err := klaviyo.NewClient(k, klaviyo.Options{}); err == nil {
			t.Errorf("NewClient(%q) accepted", k)
		}
	}
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetKey("AbC123"); err == nil {
		t.Error("SetKey accepted a public key")
	}
}
