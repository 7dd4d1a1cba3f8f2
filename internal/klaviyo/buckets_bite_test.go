package klaviyo

import "testing"

// TestDefaultBucketsAreKlaviyos: a client given no limits counts each
// event endpoint in Klaviyo's documented windows (create event: 350 per
// second, 3,500 per minute; bulk create: 10 per second, 150 per minute),
// so that its steady rate stays under the account's limit without a 429.
func TestDefaultBucketsAreKlaviyos(t *testing.T) {
	c, err := NewClient("pk_0123456789abcdef0123456789abcdef01", Options{})
	if err != nil {
		t.Fatal(err)
	}
	type span struct{ perSecond, perMinute int }
	for path, want := range map[string]span{
		PathEvents:     {350, 3500},
		PathBulkEvents: {10, 150},
	} {
		p := c.limiters[path]
		if p[0] == nil || p[1] == nil {
			t.Fatalf("%s: windows %v, want both", path, p)
		}
		if p[0].span.Seconds() != 1 || p[1].span.Minutes() != 1 {
			t.Errorf("%s: windows of %v and %v, want a second and a minute", path, p[0].span, p[1].span)
		}
		if got := (span{p[0].n, p[1].n}); got != want {
			t.Errorf("%s: %d/s and %d/min, want Klaviyo's %d/s and %d/min", path, got.perSecond, got.perMinute, want.perSecond, want.perMinute)
		}
	}
}
