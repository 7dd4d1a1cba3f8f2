package outbox

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo"

	"github.com/google/go-cmp/cmp"
)

// TestPlanBulk checks how a window is cut into bulk requests: in id order,
// at most MaxBulkEvents / MaxBulkBytes each, a new request rather than a
// repeated (profile, metric, unique_id), and each request depending on the
// earlier requests that hold its profiles' earlier events.
func TestPlanBulk(t *testing.T) {
	// spec "a1 b2 a3": profile a, unique id 1; profile b, id 2; ...
	rows := func(spec string) []row {
		var out []row
		for i, f := range strings.Fields(spec) {
			out = append(out, row{id: int64(i + 1), profileKey: f[:1], metric: "M", uniqueID: f[1:], enc: klaviyo.Encoded{Attributes: make([]byte, 100)}})
		}
		return out
	}
	tests := []struct {
		name      string
		rows      string
		maxEvents int
		maxBytes  int
		maxReqs   int
		want      []string // each request as "ids | deps"
	}{
		{"fits in one", "a1 b2 a3 c4", 10, 1 << 20, 10, []string{"1 2 3 4 |"}},
		{"split by count, profile continues", "a1 b2 a3 c4 d5", 2, 1 << 20, 10, []string{"1 2 |", "3 4 | 0", "5 |"}},
		{"disjoint profiles, no deps", "a1 b2 c3 d4", 2, 1 << 20, 10, []string{"1 2 |", "3 4 |"}},
		{"repeated unique id opens a request", "a1 b2 a1 c4", 10, 1 << 20, 10, []string{"1 2 |", "3 4 | 0"}},
		{"same id, other profile is fine", "a1 b1 c1", 10, 1 << 20, 10, []string{"1 2 3 |"}},
		{"split by bytes", "a1 b2 c3", 10, 850, 10, []string{"1 2 |", "3 |"}},
		{"request cap leaves the rest", "a1 b2 c3 d4 e5", 2, 1 << 20, 2, []string{"1 2 |", "3 4 |"}},
		{"depends on the latest request of each profile", "a1 b2 a3 c4 a5 b6", 2, 1 << 20, 10, []string{"1 2 |", "3 4 | 0", "5 6 | 0 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Outbox{opts: Options{MaxBulkEvents: tt.maxEvents, MaxBulkBytes: tt.maxBytes}}
			reqs, deps := o.planBulk(rows(tt.rows), tt.maxReqs)
			var got []string
			for i, r := range reqs {
				var ids []string
				for _, x := range r {
					ids = append(ids, fmt.Sprint(x.id))
				}
				d := slices.Clone(deps[i])
				slices.Sort(d)
				s := strings.Join(ids, " ") + " |"
				for _, j := range d {
					s += fmt.Sprint(" ", j)
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
