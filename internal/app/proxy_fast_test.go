package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/outbox"
)

// parityHeaders are the response headers the two listeners must agree on.
var parityHeaders = []string{
	"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Vary", "Retry-After", "Content-Type",
	"Cache-Control", "X-Content-Type-Options", "Allow",
}

// parityAnswer is what a listener answered, made comparable: a new
// browser id in Set-Cookie is replaced by "<id>" (it is random).
type parityAnswer struct {
	Status    int
	Header    map[string][]string
	SetCookie []string
	Body      string
}

// TestFastListenerParity sends the same requests to the proxy's routes on
// the main net/http server and on the dedicated fasthttp listener
// (SNIPPETD_PROXY_ADDR) of one Main, and compares the answers (status,
// CORS and caching headers, Set-Cookie, body) and the events each stored
// in the outbox (profile with _kx from __kla_id or the Referer, client IP
// from X-Forwarded-For only behind a trusted proxy).
func TestFastListenerParity(t *testing.T) {
	m, _ := startProxyMainEnv(t, map[string]string{
		"SNIPPETD_PROXY_ADDR":            "127.0.0.1:0",
		"SNIPPETD_TRUSTED_PROXIES":       "127.0.0.1/32",
		"SNIPPETD_PROXY_REQUIRE_CONSENT": "true",
		"SNIPPETD_PROXY_MAX_EVENTS":      "2",
		"SNIPPETD_PROXY_MAX_BODY_BYTES":  "1024",
		"SNIPPETD_PROXY_BURST":           "2",
		"SNIPPETD_PROXY_RATE":            "0.01",
	})
	if m.ProxyServer == nil {
		t.Fatal("SNIPPETD_PROXY_ADDR set, but no dedicated listener")
	}
	stacks := []struct{ name, base string }{{"net/http", m.Server.URL()}, {"fasthttp", m.ProxyServer.URL()}}
	// Requests come from 127.0.0.1 (a trusted proxy) unless untrusted: then
	// from 127.0.0.2, whose X-Forwarded-For is ignored.
	trusted := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	untrusted := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
	}).DialContext}}

	kx := "Ab9x_k." + klaviyotest.CompanyID
	kla := base64.StdEncoding.EncodeToString([]byte(`{"cid":"x","$exchange_id":"` + kx + `"}`))
	const bid = "AAAAAAAAAAAAAAAAAAAAAA" // a valid sd_bid
	const shop = "https://shop.example"
	event := func(metric, uid string, extra string) string {
		return `{"events":[{"metric":"` + metric + `","properties":{"ProductName":"Mug"},"unique_id":"` + uid + `"}]` + extra + `}`
	}
	type request struct {
		name, method, path string
		header             map[string]string
		body               string // "{uid}" is replaced by a unique id per listener
		untrusted          bool
		before             int // requests sent first, from the same client (rate limit)
		// stored: the accepted event's profile must carry these (besides
		// location.ip, checked against the client IP).
		stored map[string]any
	}
	jsonCT := map[string]string{"Origin": shop, "Content-Type": "application/json"}
	plain := map[string]string{"Origin": shop, "Content-Type": "text/plain;charset=UTF-8"}
	withCookie := func(h map[string]string, cookie string) map[string]string {
		out := map[string]string{"Cookie": cookie}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	big := strings.Repeat("x", 2000)
	reqs := []request{
		{name: "accepted input form, __kla_id", method: "POST", path: "/s/e", header: withCookie(plain, "__kla_id="+kla),
			body:   `{"events":[{"metric":"Viewed Product","unique_id":"{uid}","product":{"id":"p1","sku":"M-1","name":"Mug","url":"https://shop.example/p/mug","price":12.5}}],"profile":{},"consent":true}`,
			stored: map[string]any{"_kx": kx}},
		{name: "accepted properties form, __kla_id", method: "POST", path: "/s/e", header: withCookie(plain, "__kla_id="+kla),
			body: event("Viewed Product", "{uid}", `,"consent":true`), stored: map[string]any{"_kx": kx}},
		{name: "accepted json, returning browser", method: "POST", path: "/s/e", header: withCookie(jsonCT, "sd_bid="+bid+"; __kla_id="+kla),
			body: event("Added to Cart", "{uid}", `,"consent":true`), stored: map[string]any{"_kx": kx}},
		{name: "accepted, profile in the body", method: "POST", path: "/s/e", header: jsonCT,
			body:   `{"events":[{"metric":"Viewed Product","properties":{"ProductName":"Mug"},"unique_id":"{uid}"}],"profile":{"email":"Ana@Example.com"},"consent":true}`,
			stored: map[string]any{"email": "ana@example.com"}},
		{name: "accepted text/plain, Referer _kx", method: "POST", path: "/s/e",
			header: map[string]string{"Referer": shop + "/p/mug?_kx=" + kx, "Content-Type": "text/plain"},
			body:   event("Viewed Product", "{uid}", `,"consent":true`), stored: map[string]any{"_kx": kx}},
		{name: "accepted, untrusted X-Forwarded-For", method: "POST", path: "/s/e", header: withCookie(jsonCT, "__kla_id="+kla), untrusted: true,
			body: event("Viewed Product", "{uid}", `,"consent":true`), stored: map[string]any{"_kx": kx}},
		{name: "forbidden metric", method: "POST", path: "/s/e", header: jsonCT, body: event("Placed Order", "{uid}", `,"consent":true`)},
		{name: "bad origin", method: "POST", path: "/s/e", header: map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, body: `{}`},
		{name: "no origin", method: "POST", path: "/s/e", header: map[string]string{"Content-Type": "application/json"}, body: `{}`},
		{name: "oversized body", method: "POST", path: "/s/e", header: jsonCT, body: `{"events":[],"x":"` + big + `"}`},
		{name: "body one byte over", method: "POST", path: "/s/e", header: jsonCT, body: `{"x":"` + strings.Repeat("x", 1025-8) + `"}`},
		{name: "oversized identify", method: "POST", path: "/s/i", header: jsonCT, body: `{"x":"` + big + `"}`},
		{name: "oversized, wrong content type", method: "POST", path: "/s/e", header: map[string]string{"Origin": shop, "Content-Type": "application/xml"}, body: big},
		{name: "rate limit", method: "POST", path: "/s/e", header: withCookie(jsonCT, "__kla_id="+kla), before: 2,
			body: event("Viewed Product", "{uid}", `,"consent":true`)},
		{name: "malformed JSON", method: "POST", path: "/s/e", header: plain, body: `{"events":`},
		{name: "wrong content type", method: "POST", path: "/s/e", header: map[string]string{"Origin": shop, "Content-Type": "application/xml"}, body: `<x/>`},
		{name: "too many events", method: "POST", path: "/s/e", header: jsonCT,
			body: `{"events":[{"metric":"Viewed Product"},{"metric":"Viewed Product"},{"metric":"Viewed Product"}],"consent":true}`},
		{name: "consent withheld", method: "POST", path: "/s/e", header: withCookie(jsonCT, "__kla_id="+kla), body: event("Viewed Product", "{uid}", ``)},
		{name: "consent false", method: "POST", path: "/s/e", header: withCookie(jsonCT, "__kla_id="+kla), body: event("Viewed Product", "{uid}", `,"consent":false`)},
		{name: "anonymous dropped", method: "POST", path: "/s/e", header: jsonCT, body: event("Viewed Product", "{uid}", `,"consent":true`)},
		{name: "identify", method: "POST", path: "/s/i", header: plain, body: `{"email":"ana@example.com","first_name":"Ana","consent":true}`},
		{name: "identify without consent", method: "POST", path: "/s/i", header: plain, body: `{"email":"ana@example.com"}`},
		{name: "identify malformed", method: "POST", path: "/s/i", header: plain, body: `{"email":`},
		{name: "forget", method: "POST", path: "/s/forget", header: withCookie(map[string]string{"Origin": shop}, "sd_bid="+bid)},
		{name: "forget, bad origin", method: "POST", path: "/s/forget", header: map[string]string{"Origin": "https://evil.example"}},
		{name: "preflight", method: "OPTIONS", path: "/s/e", header: map[string]string{"Origin": shop, "Access-Control-Request-Method": "POST"}},
		{name: "preflight identify", method: "OPTIONS", path: "/s/i", header: map[string]string{"Origin": shop}},
		{name: "preflight, bad origin", method: "OPTIONS", path: "/s/e", header: map[string]string{"Origin": "https://evil.example"}},
		{name: "k.js", method: "GET", path: "/s/k.js"},
		{name: "k.js HEAD", method: "HEAD", path: "/s/k.js"},
		{name: "404", method: "POST", path: "/s/nope", header: jsonCT, body: `{}`},
		{name: "404 query", method: "GET", path: "/s/e/x?a=1"},
		{name: "405 GET", method: "GET", path: "/s/e"},
		{name: "405 PUT", method: "PUT", path: "/s/i", header: jsonCT, body: `{}`},
		{name: "event with query", method: "POST", path: "/s/e?v=1", header: withCookie(jsonCT, "__kla_id="+kla),
			body: event("Viewed Product", "{uid}", `,"consent":true`), stored: map[string]any{"_kx": kx}},
	}
	ip := 0
	nextIP := func() string { ip++; return fmt.Sprintf("198.51.100.%d", ip) }
	send := func(t *testing.T, base string, r request, uid, xff string) parityAnswer {
		t.Helper()
		req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(strings.ReplaceAll(r.body, "{uid}", uid)))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		req.Header.Set("X-Forwarded-For", xff)
		c := trusted
		if r.untrusted {
			c = untrusted
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := parityAnswer{Status: resp.StatusCode, Header: map[string][]string{}, Body: string(body)}
		for _, h := range parityHeaders {
			if v := resp.Header.Values(h); len(v) > 0 {
				a.Header[h] = v
			}
		}
		for _, c := range resp.Header.Values("Set-Cookie") {
			if v, rest, ok := strings.Cut(c, ";"); ok && strings.HasPrefix(v, "sd_bid=") && len(v) == len("sd_bid=")+22 {
				c = "sd_bid=<id>;" + rest
			}
			a.SetCookie = append(a.SetCookie, c)
		}
		return a
	}
	type sent struct {
		uid, ip string
		stored  map[string]any
	}
	var accepted []sent
	for _, r := range reqs {
		t.Run(r.name, func(t *testing.T) {
			var answers []parityAnswer
			for _, s := range stacks {
				xff := nextIP()
				for range r.before {
					send(t, s.base, r, fmt.Sprintf("before-%d", ip), xff)
				}
				uid := strings.NewReplacer(" ", "-", ",", "", "/", "-").Replace(r.name + "-" + s.name)
				answers = append(answers, send(t, s.base, r, uid, xff))
				if r.stored != nil {
					want := xff
					if r.untrusted {
						want = "127.0.0.2"
					}
					accepted = append(accepted, sent{uid: uid, ip: want, stored: r.stored})
				}
			}
			if d := cmp.Diff(answers[0], answers[1]); d != "" {
				t.Errorf("net/http and fasthttp answers differ (-net/http +fasthttp):\n%s", d)
			}
			if r.stored != nil && answers[0].Status != http.StatusAccepted {
				t.Errorf("status %d, want 202: %s", answers[0].Status, answers[0].Body)
			}
			if r.name == "rate limit" && (answers[0].Status != http.StatusTooManyRequests || len(answers[0].Header["Retry-After"]) == 0) {
				t.Errorf("rate limit: %+v", answers[0])
			}
			if strings.HasPrefix(r.name, "oversized") || r.name == "body one byte over" {
				if answers[0].Status != http.StatusRequestEntityTooLarge && r.name != "oversized, wrong content type" {
					t.Errorf("%s: %+v", r.name, answers[0])
				}
			}
		})
	}

	// Every accepted event is in the outbox, once per listener, with the
	// same profile.
	recs, err := outbox.List(context.Background(), m.DB, outbox.Query{Source: "proxy", Limit: outbox.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[string]outbox.Record{}
	for _, rec := range recs {
		byUID[rec.UniqueID] = rec
	}
	for _, s := range accepted {
		rec, ok := byUID[s.uid]
		if !ok {
			t.Errorf("%s: not in the outbox", s.uid)
			continue
		}
		var ev struct {
			Profile map[string]any `json:"profile"`
		}
		if err := json.Unmarshal(rec.Payload, &ev); err != nil {
			t.Fatalf("%s: %v", s.uid, err)
		}
		loc, _ := ev.Profile["location"].(map[string]any)
		if loc == nil || loc["ip"] != s.ip {
			t.Errorf("%s: location %v, want ip %s", s.uid, ev.Profile["location"], s.ip)
		}
		for k, v := range s.stored {
			if ev.Profile[k] != v {
				t.Errorf("%s: profile %s = %v, want %v (profile %v)", s.uid, k, ev.Profile[k], v, ev.Profile)
			}
		}
	}
	// Both listeners' events of a case carry the same profile but for the
	// client IP, and the same properties and value.
	for i := 0; i+1 < len(accepted); i += 2 {
		a, b := byUID[accepted[i].uid], byUID[accepted[i+1].uid]
		pa, pb := profileWithoutIP(t, a.Payload), profileWithoutIP(t, b.Payload)
		if d := cmp.Diff(pa, pb); d != "" {
			t.Errorf("%s: profiles differ (-net/http +fasthttp):\n%s", accepted[i].uid, d)
		}
		if d := cmp.Diff(payloadMember(t, a.Payload, "properties"), payloadMember(t, b.Payload, "properties")); d != "" || payloadMember(t, a.Payload, "properties") == nil {
			t.Errorf("%s: properties differ or are missing (-net/http +fasthttp):\n%s", accepted[i].uid, d)
		}
		if d := cmp.Diff(payloadMember(t, a.Payload, "value"), payloadMember(t, b.Payload, "value")); d != "" {
			t.Errorf("%s: values differ (-net/http +fasthttp):\n%s", accepted[i].uid, d)
		}
		if a.Metric != b.Metric || a.Profile != b.Profile {
			t.Errorf("%s: %s %s, %s %s", accepted[i].uid, a.Metric, a.Profile, b.Metric, b.Profile)
		}
	}
}

// profileWithoutIP returns the stored event's profile without its
// location's IP.
func profileWithoutIP(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	var ev struct {
		Profile map[string]any `json:"profile"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	if loc, ok := ev.Profile["location"].(map[string]any); ok {
		delete(loc, "ip")
	}
	return ev.Profile
}

// payloadMember returns one member of a stored event, decoded.
func payloadMember(t *testing.T, payload []byte, name string) any {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev[name]
}
