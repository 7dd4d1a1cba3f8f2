package inspect_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/inspect"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/localsink"
	"github.com/snippetd/snippetd/internal/outbox"
)

// inspectorHandler is the inspector's handler over a real SQLite outbox
// (one event from "orders") and a ring holding one rendered push.
func inspectorHandler(t *testing.T, sink *localsink.Sink, token string) (*inspect.Handler, *inspect.Inspector) {
	t.Helper()
	d := dbtest.SQLite(t)
	ob, err := outbox.Open(context.Background(), d, outbox.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close(context.Background()) })
	ev := []klaviyo.Event{{Metric: "Placed Order", Profile: klaviyo.Profile{Email: "a@example.com"}, Properties: json.RawMessage(`{"OrderId":"A-1"}`), UniqueID: "A-1"}}
	if err := ob.Enqueue(context.Background(), ev, "orders"); err != nil {
		t.Fatal(err)
	}
	in := &inspect.Inspector{DB: d, Ring: inspect.NewRing(0), Sink: sink}
	in.Ring.RecordRender("v1", []json.RawMessage{json.RawMessage(`["track","Viewed Product",{"ProductID":"1"}]`)})
	h := inspect.NewHandler(in, inspect.HandlerOptions{Token: token, StreamPoll: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return h, in
}

func get(t *testing.T, s http.Handler, path string, hdr map[string]string, remote string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.RemoteAddr = remote
	req.Host = "127.0.0.1:8080" // as a browser on this machine sends it
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestInspectorAccess(t *testing.T) {
	const local, remote = "127.0.0.1:5555", "203.0.113.9:5555"
	sinkSrv, _ := inspectorHandler(t, localsink.New(0), "")
	liveSrv, _ := inspectorHandler(t, nil, "s3cret")
	sinkTok, _ := inspectorHandler(t, localsink.New(0), "s3cret")
	for _, c := range []struct {
		name   string
		s      http.Handler
		remote string
		hdr    map[string]string
		want   int
	}{
		{"local sink, loopback", sinkSrv, local, nil, 200},
		{"local sink, IPv6 loopback", sinkSrv, "[::1]:5555", nil, 200},
		{"local sink, remote", sinkSrv, remote, nil, 401},
		{"local sink, loopback through a proxy", sinkSrv, local, map[string]string{"X-Forwarded-For": "203.0.113.9"}, 401},
		{"live, loopback without token", liveSrv, local, nil, 401},
		{"live, wrong token", liveSrv, remote, map[string]string{"Authorization": "Bearer nope"}, 401},
		{"live, bearer", liveSrv, remote, map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"local sink, loopback as localhost", sinkSrv, local, map[string]string{"Host": "localhost:8080"}, 200},
		{"local sink, loopback socket, rebinding host name", sinkSrv, local, map[string]string{"Host": "evil.example"}, 401},
		{"local sink, loopback socket, another address as Host", sinkSrv, local, map[string]string{"Host": "203.0.113.9:8080"}, 401},
		{"local sink, IPv6 loopback Host", sinkSrv, local, map[string]string{"Host": "[::1]:8080"}, 200},
		{"local sink, loopback socket, public host through a proxy that adds nothing", sinkSrv, local, map[string]string{"Host": "shop.example"}, 401},
		{"live, cookie holding the raw token", liveSrv, remote, map[string]string{"Cookie": "snippetd_debug=s3cret"}, 401},
		{"local sink with token, remote bearer", sinkTok, remote, map[string]string{"Authorization": "Bearer s3cret"}, 200},
	} {
		if rec := get(t, c.s, "/debug/events", c.hdr, c.remote); rec.Code != c.want {
			t.Errorf("%s: %d, want %d: %s", c.name, rec.Code, c.want, rec.Body)
		}
	}
	// ?token= sets a session cookie (not the token) and drops the token
	// from the URL; the cookie then opens the inspector.
	rec := get(t, liveSrv, "/debug/events?state=pending&token=s3cret", nil, remote)
	setCookie := rec.Header().Get("Set-Cookie")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/debug/events?state=pending" || !strings.HasPrefix(setCookie, "snippetd_debug=") {
		t.Fatalf("?token= answered %d, Location %q, Set-Cookie %q", rec.Code, rec.Header().Get("Location"), setCookie)
	}
	if strings.Contains(setCookie, "s3cret") || strings.Contains(setCookie, "Secure") {
		t.Errorf("Set-Cookie over plain HTTP %q: holds the token or is Secure", setCookie)
	}
	session := strings.SplitN(strings.TrimPrefix(setCookie, "snippetd_debug="), ";", 2)[0]
	if rec := get(t, liveSrv, "/debug/events", map[string]string{"Cookie": "snippetd_debug=" + session}, remote); rec.Code != 200 {
		t.Errorf("the session cookie: %d, want 200", rec.Code)
	}
	// Behind a TLS-terminating proxy the cookie is Secure.
	for _, hdr := range []map[string]string{{"X-Forwarded-Proto": "https"}, {"Forwarded": "for=203.0.113.9;proto=https"}} {
		rec := get(t, liveSrv, "/debug/events?token=s3cret", hdr, remote)
		if c := rec.Header().Get("Set-Cookie"); !strings.Contains(c, "; Secure") {
			t.Errorf("behind TLS (%v): Set-Cookie %q is not Secure", hdr, c)
		}
	}
}

func TestInspectorListsFiltersAndShowsOneEvent(t *testing.T) {
	const local = "127.0.0.1:5555"
	s, _ := inspectorHandler(t, localsink.New(0), "")
	jsonHdr := map[string]string{"Accept": "application/json"}
	var list struct {
		LocalSink bool            `json:"local_sink"`
		Events    []inspect.Event `json:"events"`
	}
	rec := get(t, s, "/debug/events", jsonHdr, local)
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || !list.LocalSink || len(list.Events) != 2 {
		t.Fatalf("JSON list: %v %s", err, rec.Body)
	}
	for q, want := range map[string]string{"source=orders": "Placed Order", "state=rendered": "Viewed Product", "profile=a@example.com": "Placed Order", "metric=Viewed+Product": "Viewed Product"} {
		rec := get(t, s, "/debug/events?"+q, jsonHdr, local)
		json.Unmarshal(rec.Body.Bytes(), &list)
		if len(list.Events) != 1 || list.Events[0].Metric != want {
			t.Errorf("?%s: %s, want only %s", q, rec.Body, want)
		}
	}
	if rec := get(t, s, "/debug/events?state=lost", jsonHdr, local); rec.Code != 422 || !strings.Contains(rec.Body.String(), `"field":"state"`) {
		t.Errorf("bad state: %d %s", rec.Code, rec.Body)
	}
	page := get(t, s, "/debug/events", nil, local)
	for _, want := range []string{"Local sink:", "nothing leaves this machine", `data-metric="Placed Order"`, `data-source="render"`, "new EventSource"} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP = %q", csp)
	}
	rows := get(t, s, "/debug/events?fragment=rows&source=orders", nil, local).Body.String()
	if strings.Contains(rows, "<html") || !strings.Contains(rows, "Placed Order") || strings.Contains(rows, "Viewed Product") {
		t.Errorf("fragment: %s", rows)
	}

	id := ""
	json.Unmarshal(get(t, s, "/debug/events?source=orders", jsonHdr, local).Body.Bytes(), &list)
	id = list.Events[0].ID
	var one struct {
		Event   inspect.Event    `json:"event"`
		Request *inspect.Request `json:"request"`
	}
	rec = get(t, s, "/debug/events/"+id, jsonHdr, local)
	if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || one.Request == nil || one.Request.Path != "/api/events" || !strings.Contains(string(one.Request.Body), `"unique_id":"A-1"`) {
		t.Errorf("detail JSON: %v %s", err, rec.Body)
	}
	html := get(t, s, "/debug/events/"+id, nil, local).Body.String()
	if !strings.Contains(html, "JSON:API request") || !strings.Contains(html, "POST /api/events") {
		t.Errorf("detail page lacks the request:\n%s", html)
	}
	if rec := get(t, s, "/debug/events/o999", nil, local); rec.Code != 404 {
		t.Errorf("missing event: %d", rec.Code)
	}
}

func TestInspectorStreamSendsChanges(t *testing.T) {
	h, in := inspectorHandler(t, localsink.New(0), "")
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/events/stream?source=helper")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() []inspect.Event {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("stream ended")
				}
				if d, ok := strings.CutPrefix(l, "data: "); ok {
					var es []inspect.Event
					if err := json.Unmarshal([]byte(d), &es); err != nil {
						t.Fatal(err)
					}
					return es
				}
			case <-timeout:
				t.Fatal("no event on the stream")
			}
		}
	}
	if es := next(); len(es) != 0 {
		t.Fatalf("first snapshot %+v, want no helper events", es)
	}
	in.Ring.RecordPushes("v1", inspect.SourceHelper, []json.RawMessage{json.RawMessage(`["track","Added to Cart",{"$value":3}]`)}, "")
	if es := next(); len(es) != 1 || es[0].Metric != "Added to Cart" || es[0].Source != "helper" {
		t.Fatalf("after a push: %+v", es)
	}
}
