package outbox

import (
	"context"
	"fmt"
	"testing"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// TestEnqueueLargerThanOneStatement: a request of more rows than one
// INSERT holds is committed as one transaction of several statements: an
// acknowledged request is stored in full, and a request whose last chunk
// the database refuses stores nothing and is not acknowledged.
func TestEnqueueLargerThanOneStatement(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			o := openOutbox(t, d, testOptions())
			n := 2*insertChunk + 17
			events := make([]klaviyo.Event, n)
			for i := range events {
				events[i] = ev(fmt.Sprint("big", i%7), i)
			}
			if err := o.Enqueue(context.Background(), events, "test"); err != nil {
				t.Fatal(err)
			}
			stored := storedIDs(t, d)
			for _, e := range events {
				if !stored[e.UniqueID] {
					t.Fatalf("event %s acknowledged but not stored (%d of %d stored)", e.UniqueID, len(stored), n)
				}
			}

			failInserts(t, d, "Poison")
			more := make([]klaviyo.Event, n)
			for i := range more {
				more[i] = ev(fmt.Sprint("more", i%7), i)
			}
			more[n-1].Metric = "Poison"
			if err := o.Enqueue(context.Background(), more, "test"); apperr.ErrorCode(err) != apperr.EUNAVAILABLE {
				t.Fatalf("a request whose last chunk is refused: %v, want EUNAVAILABLE", err)
			}
			if got := len(storedIDs(t, d)); got != n {
				t.Errorf("%d rows stored after the refused request, want the first request's %d", got, n)
			}
		})
	}
}
