// Package httpapi is snippetd's HTTP API: one Server owns the router,
// registers every route in routes.go, and maps domain errors to JSON error
// responses through httpx's one funnel. Handlers are methods named handleX
// whose doc comment names the route. The event inspector (inspect.Handler)
// and the demo shop (demo.Shop) are handlers of their own that it mounts.
// It imports the domain packages; they never import it.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/snippetd/snippetd/internal/catalog"
	"github.com/snippetd/snippetd/internal/consent"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/metrics"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/web"
)

// ReadyCheck reports whether a dependency (a database, say) is usable.
type ReadyCheck func(ctx context.Context) error

// Server is snippetd's HTTP server. Set the exported fields, then call Open.
type Server struct {
	ln     net.Listener
	server *http.Server
	router *mux.Router
	first  *mux.Router // tried before router's own routes (see First)
	ready  atomic.Bool
	// stop cancels every request's context when Close starts, so that
	// long-lived responses (the inspector's event stream) end instead of
	// holding Shutdown until its deadline.
	stop context.CancelFunc

	// Addr is the listen address; ":0" picks a free port (see URL).
	Addr string
	// Logger receives internal request errors and lifecycle messages
	// (default: discarded; app.Main passes its own).
	Logger *slog.Logger
	// AccessLog logs every request through Logger (httpx.AccessLog).
	AccessLog bool
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// ProxyPrefix is the first-party proxy's prefix when SNIPPETD_PROXY=on
	// (empty otherwise): the render API's loader then takes klaviyo.js from
	// {prefix}k.js on the shop's own domain.
	ProxyPrefix string
	// PublicKey is the default Klaviyo public key for the loader.
	PublicKey string
	// Helpers are the browser helper's builds, served under /assets/ and
	// linked by the render API's loader (nil: /assets/ answers 404).
	Helpers *web.Helpers
	// ReadyChecks run on GET /readyz.
	ReadyChecks []ReadyCheck
	// Catalog serves the catalog feed and its API (nil: no catalog routes
	// answer but 404).
	Catalog *catalog.Catalog
	// CatalogMaxBodyBytes caps PUT/PATCH /v1/catalog/products bodies.
	CatalogMaxBodyBytes int64
	// DefaultCountry (SNIPPETD_DEFAULT_COUNTRY) reads national phone
	// numbers of render identify requests.
	DefaultCountry string
	// PhoneLog, when set, is shown each identify phone number a render
	// left out (the inspector's ring).
	PhoneLog interface {
		RecordPhoneDropped(source, field, number string)
	}
	// Currency (SNIPPETD_CURRENCY) is the currency of rendered snippets'
	// amounts when a request names none (render.Renderer.Currency).
	Currency string
	// Now is the server's clock (nil: time.Now), for example the default
	// time of a Started Checkout render; tests pin it.
	Now func() time.Time

	// Observability.

	// Metrics is served at GET /metrics and observes renders (nil: no
	// metrics, /metrics answers 404).
	Metrics *metrics.Registry
	// Inspector serves the event inspector under /debug/events
	// (inspect.Handler, which guards it; nil: those paths answer 404).
	Inspector http.Handler
	// Rendered records the pushes of every render API answer for the
	// inspector (nil: not recorded).
	Rendered RenderRecorder
	// Demo serves the demo shop at /demo and under /demo/ (demo.Shop;
	// nil: those paths answer 404).
	Demo http.Handler

	// Orders API.

	// APIToken is the bearer token of the write APIs (empty: they answer
	// 401 and say how to enable them).
	APIToken string
	// Orders serves /v1/orders; nil answers 503.
	Orders *orders.Service
	// CartRestore serves /r/{token} and /v1/carts (carts.go).
	CartRestore CartRestore
	// Consent serves /v1/subscriptions, /v1/unsubscriptions, /v1/profiles
	// and /v1/back-in-stock (consent.go); nil answers 503.
	Consent *consent.Service
}

// NewServer returns a Server with its routes registered.
func NewServer() *Server {
	r := mux.NewRouter()
	s := &Server{
		router:       r,
		first:        r.NewRoute().Subrouter(),
		Addr:         ":8080",
		Logger:       slog.New(slog.DiscardHandler),
		MaxBodyBytes: 1 << 20,
	}
	base, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.server = &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	s.routes()
	return s
}

// Router exposes the router so that optional features (the proxy, the
// end-to-end tests' pages) can mount their handlers before Open.
func (s *Server) Router() *mux.Router { return s.router }

// First is a router whose routes are tried before every other, for a
// feature whose requests are the server's hottest path (the proxy's
// events): mux tries routes in order. Its paths must not be paths of the
// server's own routes.
func (s *Server) First() *mux.Router { return s.first }

// ServeHTTP makes Server an http.Handler (tests call it directly): every
// request goes through the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

// Open binds the listener synchronously (so errors surface at once and ":0"
// works) and serves in a goroutine.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.server.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	if s.AccessLog {
		s.server.Handler = httpx.AccessLog(s.Logger, s)
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	s.ready.Store(true)
	return nil
}

// URL returns the base URL of the bound listener, such as
// "http://127.0.0.1:34567".
func (s *Server) URL() string { return ListenerURL(s.ln) }

// ListenerURL is the base URL of a bound TCP listener ("" for nil), with
// 127.0.0.1 for an unspecified address: what tests and start-up logs
// call. The proxy's dedicated listener shares it.
func ListenerURL(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, itoa(addr.Port))
}

// Close stops accepting requests, cancels the context of every request in
// flight (a server-sent event stream ends at once; other handlers see
// ctx.Err()) and waits for their handlers to return until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.ready.Store(false)
	s.stop()
	if s.ln == nil {
		return nil
	}
	return s.server.Shutdown(ctx)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
