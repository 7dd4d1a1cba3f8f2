package outbox

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// An event the producer encoded is stored as Enqueue would have stored it,
// with its metric, profile and source.
func TestEnqueueEncodedStoresAsEnqueue(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			ctx := context.Background()
			plain := []klaviyo.Event{ev("a", 1), ev("b", 1)}
			plain[0].UniqueID, plain[1].UniqueID = "u-1", "u-2"
			if err := o.Enqueue(ctx, plain, "plain"); err != nil {
				t.Fatal(err)
			}
			encoded := []klaviyo.Event{ev("a", 1), ev("b", 1)}
			encoded[0].UniqueID, encoded[1].UniqueID = "u-3", "u-4"
			encs := make([]klaviyo.Encoded, len(encoded))
			for i, e := range encoded {
				var err error
				if encs[i], err = klaviyo.Encode(e, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.EnqueueEncoded(ctx, encoded, encs, "encoded"); err != nil {
				t.Fatal(err)
			}
			rows, err := o.loadPending(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 4 {
				t.Fatalf("%d rows stored, want 4", len(rows))
			}
			for i := range 2 {
				p, e := rows[i], rows[i+2]
				wantAttrs := bytes.Replace(p.enc.Attributes, []byte(p.uniqueID), []byte(e.uniqueID), 1)
				if !bytes.Equal(e.enc.Attributes, wantAttrs) || !bytes.Equal(e.enc.Profile, p.enc.Profile) || e.enc.ProfileAt != p.enc.ProfileAt {
					t.Errorf("row %d stored\n%s %s\nwant\n%s %s", i+2, e.enc.Attributes, e.enc.Profile, wantAttrs, p.enc.Profile)
				}
				if e.metric != p.metric || e.profileKey != p.profileKey || e.uniqueID != encoded[i].UniqueID {
					t.Errorf("row %d: metric %q profile %q unique_id %q, want %q %q %q", i+2, e.metric, e.profileKey, e.uniqueID, p.metric, p.profileKey, encoded[i].UniqueID)
				}
			}
			if s := status(t, o); s.Pending != 4 {
				t.Errorf("status = %+v, want 4 pending", s)
			}
			// Encodings that are not the events' are refused, storing nothing.
			if err := o.EnqueueEncoded(ctx, encoded[:1], encs[1:], "encoded"); err == nil {
				t.Error("an encoding of another event was taken")
			}
			if err := o.EnqueueEncoded(ctx, encoded, encs[:1], "encoded"); err == nil {
				t.Error("fewer encodings than events were taken")
			}
			if s := status(t, o); s.Pending != 4 {
				t.Errorf("status = %+v after refusals, want 4 pending", s)
			}
		})
	}
}
