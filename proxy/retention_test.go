package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
)

func TestPruneBrowsers(t *testing.T) {
	for name, d := range dbtest.Open(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := OpenStore(ctx, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			now := time.Now()
			for i := range 5 {
				if err := s.Put(ctx, fmt.Sprintf("old-%d", i), Identity{Kx: "kx-old"}, now.Add(-48*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Put(ctx, "new", Identity{Kx: "kx-new"}, now); err != nil {
				t.Fatal(err)
			}
			cut := now.Add(-24 * time.Hour)
			if n, err := s.Prune(ctx, cut, 3); err != nil || n != 3 {
				t.Fatalf("first batch: %d %v, want 3", n, err)
			}
			if n, err := s.Prune(ctx, cut, 3); err != nil || n != 2 {
				t.Fatalf("second batch: %d %v, want 2", n, err)
			}
			var left []string
			rows, err := d.QueryContext(ctx, `SELECT id FROM proxy_browsers`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				rows.Scan(&id)
				left = append(left, id)
			}
			rows.Close()
			if len(left) != 1 || left[0] != "new" {
				t.Errorf("left after prune: %v, want [new]", left)
			}
		})
	}
}
