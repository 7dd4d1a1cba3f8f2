package orders_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/orders"
)

// encodedRecorder takes encoded events (as the outbox does) and records
// which way each request came.
type encodedRecorder struct {
	plain   int
	events  [][]klaviyo.Event
	encoded [][]klaviyo.Encoded
}

func (r *encodedRecorder) Publish(context.Context, []klaviyo.Event) error {
	r.plain++
	return nil
}

func (r *encodedRecorder) PublishEncoded(_ context.Context, evs []klaviyo.Event, encs []klaviyo.Encoded) error {
	r.events, r.encoded = append(r.events, evs), append(r.encoded, encs)
	return nil
}

// The service checks an order's events once, before storing it, and hands
// a publisher that takes them the encodings it checked: the events'
// own.
func TestServiceHandsOverItsEncodings(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := orders.OpenStore(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			rec := &encodedRecorder{}
			svc := &orders.Service{Store: st, Publisher: rec, Now: func() time.Time { return now }}
			o := sampleOrder(t)
			if _, err := svc.Place(ctx, o); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Act(ctx, o.ID, orders.Fulfilled, orders.Action{Tracking: &orders.Tracking{Number: "1Z"}}); err != nil {
				t.Fatal(err)
			}
			if rec.plain != 0 || len(rec.events) != 2 {
				t.Fatalf("%d plain and %d encoded requests, want 0 and 2", rec.plain, len(rec.events))
			}
			for i, evs := range rec.events {
				if len(rec.encoded[i]) != len(evs) {
					t.Fatalf("request %d: %d events, %d encodings", i, len(evs), len(rec.encoded[i]))
				}
				for j, e := range evs {
					want, err := klaviyo.Encode(e, now)
					if err != nil {
						t.Fatal(err)
					}
					got := rec.encoded[i][j]
					if !bytes.Equal(got.Attributes, want.Attributes) || !bytes.Equal(got.Profile, want.Profile) || got.UniqueID != e.UniqueID {
						t.Errorf("request %d event %d: encoding\n%s %s\nis not the event's\n%s %s", i, j, got.Attributes, got.Profile, want.Attributes, want.Profile)
					}
				}
			}
		})
	}
}
