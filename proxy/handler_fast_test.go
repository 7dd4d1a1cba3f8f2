package proxy

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// cookieAgrees reports whether cookie reads name from lines as r.Cookie
// does.
func cookieAgrees(t *testing.T, lines []string, name string) {
	t.Helper()
	r := httptest.NewRequest("POST", "/s/e", nil)
	for _, l := range lines {
		r.Header.Add("Cookie", l)
	}
	want, wantOK := "", false
	if c, err := r.Cookie(name); err == nil {
		want, wantOK = c.Value, true
	}
	if got, ok := cookie(r.Header["Cookie"], name); got != want || ok != wantOK {
		t.Errorf("%q, %s: %q, %v; r.Cookie %q, %v", lines, name, got, ok, want, wantOK)
	}
}

// TestCookie holds cookie to r.Cookie: names as parts of other names and
// values, spaces, quotes, invalid bytes (the first valid cookie of the
// name wins), empty values, several lines, and more cookies than it reads
// itself.
func TestCookie(t *testing.T) {
	many := strings.Repeat("a=1; ", cookieFastMax) + "sd_bid=x"
	for _, lines := range [][]string{
		nil, {""}, {";"}, {"sd_bid"}, {"sd_bid="}, {"sd_bid=x"}, {" sd_bid = x "}, {"sd_bid =x"}, {"sd_bid= x"},
		{`sd_bid="x"`}, {`sd_bid="x`}, {`sd_bid="`}, {`sd_bid=""`}, {`sd_bid=x"y`}, {"sd_bid=x y"}, {"sd_bid=x\\y"},
		{"sd_bid=\x7f; sd_bid=y"}, {"sd_bid=é; sd_bid=y"}, {"sd_bid=x\ty"}, {"x_sd_bid=1; sd_bid_x=2"}, {"a=sd_bid"},
		{"a=1", "sd_bid=2"}, {"sd_bid=1", "sd_bid=2"}, {"a=1;;sd_bid=3;"}, {"\tsd_bid=4\t"}, {"sd_bid=a=b"},
		{"__kla_id=eyJ9; sd_bid=5"}, {many}, {"a=1", many}, {strings.Repeat("a;", cookieFastMax-1) + "sd_bid=6"},
	} {
		for _, name := range []string{BrowserCookie, KlaviyoCookie} {
			cookieAgrees(t, lines, name)
		}
	}
}

// FuzzCookie holds cookie to r.Cookie for any header line.
func FuzzCookie(f *testing.F) {
	f.Add(`a=1; sd_bid="x"; __kla_id=eyJ9`)
	f.Add(" sd_bid = x ;;\t__kla_id=\x7f")
	f.Fuzz(func(t *testing.T, line string) {
		cookieAgrees(t, []string{line}, BrowserCookie)
		cookieAgrees(t, []string{"a=1", line}, KlaviyoCookie)
	})
}

// TestClientIPText checks that clientIP's text, when it gives one, is
// the address's String (the limiter key and location reuse it).
func TestClientIPText(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	texts := 0
	for _, remote := range []string{"203.0.113.7:1", "203.0.113.7", "[::ffff:203.0.113.7]:1", "[2001:db8::1]:1", "[fe80::1%eth0]:1", "10.1.2.3:1", "x:1", "0.0.0.0:0", "255.255.255.255:9"} {
		for _, tr := range [][]netip.Prefix{nil, trusted} {
			r := httptest.NewRequest("POST", "/s/e", nil)
			r.RemoteAddr = remote
			r.Header.Set("X-Forwarded-For", "198.51.100.2")
			ip, text := clientIP(&exchange{r: r}, tr)
			if want := ClientIP(r, tr); ip != want {
				t.Errorf("%s: %v, ClientIP %v", remote, ip, want)
			}
			if text != "" {
				texts++
				if text != ip.String() || text != limiterKey(ip) {
					t.Errorf("%s: text %q, address %s", remote, text, ip)
				}
			}
		}
	}
	if texts < 4 {
		t.Errorf("only %d texts", texts)
	}
}
