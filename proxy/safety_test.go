package proxy

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"203.0.113.7:1", "1.2.3.4", nil, "203.0.113.7"},
		{"10.0.0.1:1", "1.2.3.4", nil, "10.0.0.1"},
		{"10.0.0.1:1", "1.2.3.4", trusted, "1.2.3.4"},
		{"10.0.0.1:1", "9.9.9.9, 1.2.3.4, 10.0.0.2", trusted, "1.2.3.4"},
		{"10.0.0.1:1", "", trusted, "10.0.0.1"},
		{"10.0.0.1:1", "garbage, 1.2.3.4", trusted, "1.2.3.4"},
		{"10.0.0.1:1", "1.2.3.4, garbage", trusted, "10.0.0.1"},
		{"[::1]:1", "2001:db8::5", trusted, "2001:db8::5"},
		{"[::ffff:203.0.113.9]:1", "", trusted, "203.0.113.9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/s/e", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := ClientIP(r, tt.trusted).String(); got != tt.want {
			t.Errorf("remote %s xff %q trusted %v: got %s, want %s", tt.remote, tt.xff, tt.trusted, got, tt.want)
		}
	}
}

func TestNormalizeOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://Shop.Example":           "https://shop.example",
		"https://shop.example:443/a?b=c": "https://shop.example",
		"http://shop.example:8080/":      "http://shop.example:8080",
		"http://[::1]:80":                "http://[::1]",
		"null":                           "",
		"shop.example":                   "",
	} {
		if got := NormalizeOrigin(in); got != want {
			t.Errorf("NormalizeOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := &Limiter{Rate: 1, Burst: 1, Max: 1000, Idle: time.Hour}
	now := time.Now()
	for i := range 100_000 {
		l.Allow(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), now)
		if n := l.len(); n > 1000 {
			t.Fatalf("tracking %d clients, more than Max", n)
		}
	}
	// A client active across generation turnovers keeps its empty bucket.
	l2 := &Limiter{Rate: 0.001, Burst: 1, Max: 4, Idle: time.Hour}
	if ok, _ := l2.Allow("a", now); !ok {
		t.Fatal("first request refused")
	}
	for i := range 10 {
		l2.Allow(fmt.Sprint("other", i), now)
		if ok, _ := l2.Allow("a", now); ok {
			t.Fatalf("bucket of an active client was reset after %d others", i+1)
		}
	}
	if ok, wait := l2.Allow("a", now); ok || wait < 10*time.Minute {
		t.Errorf("wait %v", wait)
	}
}

func TestLimiterKeyIPv6Prefix(t *testing.T) {
	a := limiterKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := limiterKey(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := limiterKey(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Errorf("keys %s %s %s", a, b, c)
	}
}

// len reports the number of tracked clients.
func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.old)
}
