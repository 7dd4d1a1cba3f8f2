package proxy

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ClientIP finds the address of the browser behind a request. RemoteAddr
// is the client unless it is one of the trusted proxies; then
// X-Forwarded-For is read from the right, skipping trusted hops, and the
// first untrusted address is the client. Without trusted proxies the
// header is ignored, since anyone can send it.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	remote = remote.Unmap()
	if !isTrusted(remote, trusted) {
		return remote
	}
	var all []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		all = append(all, strings.Split(h, ",")...)
	}
	client := remote
	for i := len(all) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// isHTTPS reports whether the browser used https: TLS on this connection,
// or X-Forwarded-Proto from a trusted proxy.
func isHTTPS(r *http.Request, trusted []netip.Prefix) bool {
	if r.TLS != nil {
		return true
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	a, err := netip.ParseAddr(host)
	return err == nil && isTrusted(a.Unmap(), trusted) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// NormalizeOrigin returns the scheme://host[:port] form of an origin or
// URL, lower-cased with default ports dropped, or "" when it has none.
func NormalizeOrigin(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// requestOrigin returns the origin a browser request came from: Origin,
// else the origin of Referer.
func requestOrigin(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return NormalizeOrigin(o)
	}
	return NormalizeOrigin(r.Header.Get("Referer"))
}

// Limiter is a per-client token bucket with bounded memory. Buckets live in
// two generations: lookups promote a bucket from the old generation to the
// current one, and when the current generation is full (half of Max) or
// older than Idle, the old one is dropped. A client idle for two
// generations starts again with a full bucket, which only ever errs on the
// side of the client.
type Limiter struct {
	// Rate is the steady requests per second allowed per client.
	Rate rate.Limit
	// Burst is the requests a client may send at once.
	Burst int
	// Max bounds the number of clients tracked.
	Max int
	// Idle is the longest a generation lives.
	Idle time.Duration

	mu       sync.Mutex
	cur, old map[string]*rate.Limiter
	born     time.Time
}

// Allow reports whether a request from key may proceed at now; when not,
// it returns how long the client should wait (for Retry-After).
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	if l.cur == nil || len(l.cur) >= max(l.Max/2, 1) || now.Sub(l.born) > l.Idle {
		l.old, l.cur, l.born = l.cur, make(map[string]*rate.Limiter), now
	}
	lim := l.cur[key]
	if lim == nil {
		lim = l.old[key]
		if lim == nil {
			lim = rate.NewLimiter(l.Rate, l.Burst)
		}
		l.cur[key] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	d := r.DelayFrom(now)
	if d == 0 {
		return true, 0
	}
	r.CancelAt(now)
	return false, d
}

// limiterKey groups IPv6 clients by /64 (one subscriber's whole network),
// IPv4 clients by address.
func limiterKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
