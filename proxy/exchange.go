package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/snippetd/snippetd/internal/httpx"
)

// exchange is the request side of one browser request, whichever HTTP
// stack carries it: net/http (r) or the dedicated fasthttp listener (fc),
// exactly one of them set. The proxy's rules (admit, readBody, browser,
// klaCookie, the error funnel) read the request only through it and answer
// through an http.ResponseWriter (fastResponse on fasthttp), so both
// stacks run the same code. It reads a header only when a rule asks for
// it, and holds no copy of anything on net/http: building one costs the
// net/http path nothing.
type exchange struct {
	r  *http.Request
	fc *fasthttp.RequestCtx
	// cookies holds fc's Cookie lines once read: the browser and
	// __kla_id cookies are both read from them.
	cookies     []string
	cookiesRead bool
	// tooLarge reports that fasthttp refused the body for exceeding its
	// MaxRequestBodySize (see FastServer): readBody answers ETOOLARGE,
	// after the same content type check as for any other body.
	tooLarge bool
}

// ctx is the request's context: r.Context() on net/http. On fasthttp it
// is context.Background(): fasthttp does not notice a client going away,
// and its RequestCtx's Done closes when the server starts shutting down,
// which would abort the in-flight commits a graceful shutdown waits for.
func (x *exchange) ctx() context.Context {
	if x.r != nil {
		return x.r.Context()
	}
	return context.Background()
}

// header returns the first value of a header named in canonical form
// (r.Header.Get without canonicalizing the name again).
func (x *exchange) header(name string) string {
	if x.r != nil {
		if v := x.r.Header[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	switch name {
	case "Content-Type": // what Peek returns, without normalizing the name
		return string(x.fc.Request.Header.ContentType())
	case "Referer":
		return string(x.fc.Request.Header.Referer())
	}
	return string(x.fc.Request.Header.Peek(name))
}

// headerValues returns every line of a header named in canonical form
// (Cookie, X-Forwarded-For), as the client sent them.
func (x *exchange) headerValues(name string) []string {
	if x.r != nil {
		return x.r.Header[name]
	}
	if name == "Cookie" && x.cookiesRead {
		return x.cookies
	}
	// fasthttp gives the raw Cookie lines while nothing has asked it to
	// parse the cookies (the proxy never does).
	all := x.fc.Request.Header.PeekAll(name)
	var lines []string
	if len(all) > 0 {
		lines = make([]string, len(all))
	}
	for i, v := range all {
		lines[i] = string(v)
	}
	if name == "Cookie" {
		x.cookies, x.cookiesRead = lines, true
	}
	return lines
}

// remoteAddr is the peer's address as host:port.
func (x *exchange) remoteAddr() string {
	if x.r != nil {
		return x.r.RemoteAddr
	}
	if a, ok := x.fc.RemoteAddr().(*net.TCPAddr); ok {
		// One allocation (TCPAddr.String makes two), and an IPv4 address
		// in its 16-byte form written as TCPAddr.String (net/http's
		// RemoteAddr) writes it.
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	return x.fc.RemoteAddr().String()
}

// tls reports whether the request came over TLS to this server.
func (x *exchange) tls() bool {
	if x.r != nil {
		return x.r.TLS != nil
	}
	return x.fc.IsTLS()
}

// methodPath returns the method and path, for logging an internal error.
func (x *exchange) methodPath() (method, path string) {
	if x.r != nil {
		return x.r.Method, x.r.URL.Path
	}
	return string(x.fc.Method()), string(x.fc.Path())
}

// readBody reads a body of at most limit bytes whose content type is one
// of types, as httpapi.ReadBody does (the same checks and errors). A
// fasthttp body is already read; it is copied, since fasthttp reuses its
// buffer once the handler returns and a decoded batch points into it.
func (x *exchange) readBody(w http.ResponseWriter, limit int64, types ...string) ([]byte, error) {
	if x.r != nil {
		return httpx.ReadBody(w, x.r, limit, types...)
	}
	if err := httpx.CheckContentType(x.header("Content-Type"), types...); err != nil {
		return nil, err
	}
	body := x.fc.Request.Body()
	if x.tooLarge || int64(len(body)) > limit {
		return nil, httpx.TooLarge(limit)
	}
	return bytes.Clone(body), nil
}

// httpError writes err through httpapi's error funnel.
func (x *exchange) httpError(w http.ResponseWriter, logger *slog.Logger, err error) {
	method, path := x.methodPath()
	httpx.Error(w, &http.Request{Method: method, URL: &url.URL{Path: path}}, logger, err)
}
