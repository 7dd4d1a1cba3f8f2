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
	ip, _ := clientIP(&exchange{r: r}, trusted)
	return ip
}

// clientIP is ClientIP, and the address's text when it is RemoteAddr's
// host as it is: an IPv4 address written as ip.String() writes it, which
// netip.ParseAddr insists on (so the text costs no formatting).
func clientIP(x *exchange, trusted []netip.Prefix) (netip.Addr, string) {
	addr := x.remoteAddr()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, ""
	}
	is4 := remote.Is4()
	remote = remote.Unmap()
	if !isTrusted(remote, trusted) {
		if is4 {
			return remote, host
		}
		return remote, ""
	}
	hops := x.headerValues("X-Forwarded-For")
	var all []string
	for _, h := range hops {
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
	return client, ""
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
func isHTTPS(x *exchange, trusted []netip.Prefix) bool {
	if x.tls() {
		return true
	}
	if len(trusted) == 0 {
		return false // what follows would say so, after parsing RemoteAddr
	}
	host, _, _ := net.SplitHostPort(x.remoteAddr())
	a, err := netip.ParseAddr(host)
	return err == nil && isTrusted(a.Unmap(), trusted) && strings.EqualFold(x.header("X-Forwarded-Proto"), "https")
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
func requestOrigin(x *exchange) string {
	if o := x.header("Origin"); o != "" && o != "null" {
		return NormalizeOrigin(o)
	}
	return NormalizeOrigin(x.header("Referer"))
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

// len reports the number of tracked clients (for tests).
func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.old)
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
