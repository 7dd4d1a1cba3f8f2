package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/gorilla/mux"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpapi"
	"github.com/snippetd/snippetd/internal/httpx"
)

// The dedicated listener (SNIPPETD_PROXY_ADDR): the proxy's routes on
// fasthttp. net/http's own work per request (a goroutine per connection
// reading ahead, deadline juggling, header maps, request copies) costs
// about 23 µs of CPU on the benchmark machine, fasthttp's about 10 µs; the
// proxy's events are the server's one high-rate route. The browser POSTs
// run natively here, on the same rules as the net/http mount (events,
// identify and forget take an exchange and an http.ResponseWriter);
// everything else under the prefix (preflights, k.js, 404 and 405) goes
// through fasthttpadaptor to the same net/http handlers.

// fastResponse is the http.ResponseWriter the proxy's rules answer through
// on fasthttp: headers gather in an http.Header (pooled with it, so a
// request allocates none) and are copied to the fasthttp response when
// the status is written. Set-Cookie values reach the wire as they are
// (fasthttp keeps an added Set-Cookie's text).
type fastResponse struct {
	fc    *fasthttp.RequestCtx
	h     http.Header
	wrote bool
}

var fastResponses = sync.Pool{New: func() any { return &fastResponse{h: make(http.Header, 8)} }}

// Header returns the headers to send.
func (f *fastResponse) Header() http.Header { return f.h }

// WriteHeader sends the status and the headers set so far, once, as
// net/http does.
func (f *fastResponse) WriteHeader(status int) {
	if f.wrote {
		return
	}
	f.wrote = true
	f.fc.SetStatusCode(status)
	h := &f.fc.Response.Header
	for k, vv := range f.h {
		if len(vv) == 1 || k == "Set-Cookie" {
			// The keys are canonical (http.Header's): SetCanonical skips
			// normalizing them again, and adds each Set-Cookie.
			for _, v := range vv {
				h.SetCanonical(bytesOf(k), bytesOf(v))
			}
			continue
		}
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

// bytesOf is s's bytes without a copy, for fasthttp's setters, which copy
// what they are given and never write to it.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Write appends to the body, sending a 200 first if no status was sent.
func (f *fastResponse) Write(b []byte) (int, error) {
	if !f.wrote {
		f.WriteHeader(http.StatusOK)
	}
	return f.fc.Write(b)
}

// fastRoute names the routes served natively on fasthttp.
type fastRoute int

const (
	fastNone fastRoute = iota
	fastEvents
	fastIdentify
	fastForget
)

// FastHandler returns the fasthttp handler of the dedicated listener: the
// proxy's routes under its prefix, and the JSON 404/405 answers of the
// main server for anything else.
func (p *Proxy) FastHandler() fasthttp.RequestHandler {
	r := mux.NewRouter()
	p.Routes(r)
	r.NotFoundHandler = httpx.NotFound(p.logger)
	r.MethodNotAllowedHandler = httpx.MethodNotAllowed(p.logger)
	other := fasthttpadaptor.NewFastHTTPHandler(r)
	return func(fc *fasthttp.RequestCtx) {
		defer p.recoverFast(fc)
		if !p.serveFast(fc, p.fastRoute(fc), false) {
			other(fc)
		}
	}
}

// recoverFast keeps a panic in a handler from ending the process, as
// net/http does for its handlers (fasthttp does not): it is logged with
// its stack, the client gets the internal error's 500 and the connection
// is closed. http.ErrAbortHandler is net/http's quiet abort: no log.
func (p *Proxy) recoverFast(fc *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	if v != http.ErrAbortHandler {
		p.logger.Error("proxy listener: panic serving a request", "method", string(fc.Method()), "path", string(fc.Path()), "panic", v, "stack", string(debug.Stack()))
	}
	fc.Response.Reset()
	fc.SetConnectionClose()
	w := &fastResponse{fc: fc, h: http.Header{}}
	httpx.Error(w, &http.Request{URL: &url.URL{}}, nil, apperr.Errorf(apperr.EINTERNAL, "internal error"))
}

// fastRoute returns the native route of a request: a POST whose raw
// request path is exactly a route's (the mux handles every other spelling
// and method, as on the main server).
func (p *Proxy) fastRoute(fc *fasthttp.RequestCtx) fastRoute {
	if !fc.IsPost() {
		return fastNone
	}
	path := fc.RequestURI()
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	prefix := p.opts.Prefix
	if len(path) <= len(prefix) || string(path[:len(prefix)]) != prefix {
		return fastNone
	}
	switch string(path[len(prefix):]) {
	case "e":
		return fastEvents
	case "i":
		return fastIdentify
	case "forget":
		return fastForget
	}
	return fastNone
}

// serveFast serves a native route; false when route is fastNone.
// tooLarge says that fasthttp refused the body (see FastServer).
func (p *Proxy) serveFast(fc *fasthttp.RequestCtx, route fastRoute, tooLarge bool) bool {
	if route == fastNone {
		return false
	}
	w := fastResponses.Get().(*fastResponse)
	w.fc = fc
	x := exchange{fc: fc, tooLarge: tooLarge}
	switch route {
	case fastEvents:
		p.events(w, &x)
	case fastIdentify:
		p.identify(w, &x)
	case fastForget:
		p.forget(w, &x)
	}
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.fc, w.wrote = nil, false
	clear(w.h)
	fastResponses.Put(w)
	return true
}

// fastError answers a request fasthttp could not read. A body over
// MaxRequestBodySize gets the proxy's own answer (its route's checks,
// then the named 413); other errors get fasthttp's default answers.
func (p *Proxy) fastError(fc *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		if p.serveFast(fc, p.fastRoute(fc), true) {
			return
		}
		w := &fastResponse{fc: fc, h: http.Header{}}
		(&exchange{fc: fc}).httpError(w, p.logger, httpx.TooLarge(p.opts.MaxBodyBytes))
		return
	}
	var small *fasthttp.ErrSmallBuffer
	var netErr *net.OpError
	switch {
	case errors.As(err, &small):
		fc.Error("Too big request header", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &netErr) && netErr.Timeout():
		fc.Error("Request timeout", fasthttp.StatusRequestTimeout)
	default:
		fc.Error("Error when parsing request", fasthttp.StatusBadRequest)
	}
}

// FastServer is the proxy's dedicated fasthttp listener
// (SNIPPETD_PROXY_ADDR). Build it with NewFastServer, then Open and Close
// it like httpapi.Server.
type FastServer struct {
	addr   string
	logger *slog.Logger
	ln     net.Listener
	server *fasthttp.Server
	done   chan struct{}
}

// NewFastServer returns the dedicated listener for p on addr (":0" picks
// a free port; see URL). Its timeouts are the main server's (fasthttp has
// no separate header timeout: ReadTimeout covers the header and body);
// its body cap is the proxy's own limit plus one byte, so a larger body
// still gets the proxy's named 413 (see fastError).
func NewFastServer(p *Proxy, addr string, logger *slog.Logger) *FastServer {
	if logger == nil {
		logger = slog.Default()
	}
	return &FastServer{
		addr:   addr,
		logger: logger,
		server: &fasthttp.Server{
			Handler:               p.FastHandler(),
			ErrorHandler:          p.fastError,
			NoDefaultServerHeader: true,
			NoDefaultContentType:  true,
			CloseOnShutdown:       true, // keep-alive clients learn to reconnect elsewhere
			ReadTimeout:           30 * time.Second,
			WriteTimeout:          60 * time.Second,
			IdleTimeout:           120 * time.Second,
			MaxRequestBodySize:    int(p.opts.MaxBodyBytes) + 1,
			// The request header limit (a larger one is answered 431):
			// fasthttp's default of 4 KiB is too small for a storefront's
			// cookies; a buffer this size is kept per connection.
			ReadBufferSize: 16 << 10,
			Logger:         slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
	}
}

// Open binds the listener synchronously (so errors surface at once and
// ":0" works) and serves in a goroutine.
func (s *FastServer) Open() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.server.Serve(ln); err != nil {
			s.logger.Error("proxy listener stopped", "err", err)
		}
	}()
	return nil
}

// URL returns the base URL of the bound listener, such as
// "http://127.0.0.1:34567".
func (s *FastServer) URL() string { return httpapi.ListenerURL(s.ln) }

// Close stops accepting requests and waits for in-flight ones until ctx
// ends.
func (s *FastServer) Close(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.server.ShutdownWithContext(ctx)
	<-s.done
	return err
}
