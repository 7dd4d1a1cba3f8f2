package klaviyotest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

const eventBody = `{"data":{"type":"event","attributes":{"properties":{"OrderId":"1"},"metric":{"data":{"type":"metric","attributes":{"name":"Placed Order"}}},"profile":{"data":{"type":"profile","attributes":{"email":"a@example.com"}}},"time":"2024-05-01T10:00:00Z","value":29.98,"value_currency":"USD","unique_id":"1"}}}`

type req struct {
	method, path, auth, rev, ctype, body string
}

func do(t *testing.T, s *klaviyotest.Server, r req) (int, http.Header, string) {
	t.Helper()
	if r.method == "" {
		r.method = "POST"
	}
	hr, err := http.NewRequest(r.method, s.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.auth != "-" {
		if r.auth == "" {
			r.auth = "Klaviyo-API-Key " + klaviyotest.PrivateKey
		}
		hr.Header.Set("Authorization", r.auth)
	}
	if r.rev != "-" {
		if r.rev == "" {
			r.rev = "2026-07-15"
		}
		hr.Header.Set("revision", r.rev)
	}
	if r.ctype != "-" {
		if r.ctype == "" {
			r.ctype = "application/vnd.api+json"
		}
		hr.Header.Set("Content-Type", r.ctype)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func mutate(body, from, to string) string {
	if !strings.Contains(body, from) {
		panic("mutate: " + from + " not in body")
	}
	return strings.Replace(body, from, to, 1)
}

func TestStrictChecks(t *testing.T) {
	s := klaviyotest.NewServer(t)
	client := "/client/events?company_id=" + klaviyotest.CompanyID
	tests := []struct {
		name       string
		r          req
		wantStatus int
		wantInBody string
	}{
		{"valid event", req{path: "/api/events", body: eventBody}, 202, ""},
		{"no auth", req{path: "/api/events", auth: "-", body: eventBody}, 401, "not_authenticated"},
		{"bearer scheme", req{path: "/api/events", auth: "Bearer " + klaviyotest.PrivateKey, body: eventBody}, 401, "Klaviyo-API-Key"},
		{"wrong key", req{path: "/api/events", auth: "Klaviyo-API-Key pk_wrong", body: eventBody}, 401, "authentication_failed"},
		{"no revision", req{path: "/api/events", rev: "-", body: eventBody}, 400, "revision"},
		{"bad revision", req{path: "/api/events", rev: "2026/07/15", body: eventBody}, 400, "YYYY-MM-DD"},
		{"revision suffix", req{path: "/api/events", rev: "2026-07-15.pre", body: mutate(eventBody, `"unique_id":"1"`, `"unique_id":"2"`)}, 202, ""},
		{"retired revision", req{path: "/api/events", rev: "2022-10-17", body: eventBody}, 410, "retired"},
		{"future revision", req{path: "/api/events", rev: "2099-01-01", body: eventBody}, 400, "does not exist"},
		{"text/plain", req{path: "/api/events", ctype: "text/plain", body: eventBody}, 415, "application/vnd.api+json"},
		{"application/json ok", req{path: "/api/events", ctype: "application/json", body: mutate(eventBody, `"unique_id":"1"`, `"unique_id":"3"`)}, 202, ""},
		{"not json", req{path: "/api/events", body: `{"data":`}, 400, "parse_error"},
		{"old flat shape", req{path: "/api/events", body: `{"token":"x","event":"Placed Order","customer_properties":{"$email":"a@example.com"},"properties":{}}`}, 400, ""},
		{"value as string", req{path: "/api/events", body: mutate(eventBody, `"value":29.98`, `"value":"29.98"`)}, 400, "/data/attributes/value"},
		{"wrong type enum", req{path: "/api/events", body: mutate(eventBody, `"type":"event"`, `"type":"events"`)}, 400, ""},
		{"no identifier", req{path: "/api/events", body: mutate(eventBody, `"email":"a@example.com"`, `"first_name":"A"`)}, 400, "profile identifiers"},
		{"national phone", req{path: "/api/events", body: mutate(eventBody, `"email":"a@example.com"`, `"email":"a@example.com","phone_number":"5551234567"`)}, 400, "/data/attributes/profile/data/attributes/phone_number"},
		{"phone with spaces", req{path: "/api/events", body: mutate(eventBody, `"email":"a@example.com"`, `"phone_number":"+1 555 123 4567"`)}, 400, "Invalid phone number format"},
		{"e164 phone", req{path: "/api/events", body: mutate(eventBody, `"email":"a@example.com"`, `"phone_number":"+15551234567"`)}, 202, ""},
		{"bulk national phone", req{path: "/api/event-bulk-create-jobs", body: mutate(bulkBody("b1"), `"email":"a@example.com"`, `"phone_number":"05551234567"`)}, 400, "/data/attributes/events-bulk-create/data/0/attributes/profile/data/attributes/phone_number"},
		{"long metric", req{path: "/api/events", body: mutate(eventBody, `"Placed Order"`, `"`+strings.Repeat("m", 128)+`"`)}, 400, "128"},
		{"time before 1990", req{path: "/api/events", body: mutate(eventBody, `2024-05-01`, `1989-12-31`)}, 400, "1990"},
		{"backfill on old revision", req{path: "/api/events", rev: "2025-10-15", body: mutate(eventBody, `"unique_id":"1"`, `"unique_id":"4","backfill":true`)}, 400, "backfill"},
		{"client event", req{path: client, auth: "-", body: mutate(eventBody, `"unique_id":"1"`, `"unique_id":"5"`)}, 202, ""},
		{"client without company", req{path: "/client/events", auth: "-", body: eventBody}, 400, "company_id"},
		{"client wrong company", req{path: "/client/events?company_id=XXXXXX", auth: "-", body: eventBody}, 400, "company_id"},
		{"client with private key", req{path: client, body: eventBody}, 400, "Authorization"},
		{"unknown path", req{path: "/api/nothing", body: eventBody}, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, body := do(t, s, tt.r)
			if got != tt.wantStatus || !strings.Contains(body, tt.wantInBody) {
				t.Errorf("status %d body %s; want %d containing %q", got, body, tt.wantStatus, tt.wantInBody)
			}
			if got >= 400 {
				var doc struct {
					Errors []struct {
						ID, Code, Title, Detail string
						Status                  int
					}
				}
				if err := json.Unmarshal([]byte(body), &doc); err != nil || len(doc.Errors) != 1 || doc.Errors[0].Status != got || doc.Errors[0].Code == "" || doc.Errors[0].ID == "" {
					t.Errorf("error body %s is not Klaviyo's error document", body)
				}
			}
		})
	}
	if n := len(s.Events()); n != 5 {
		t.Errorf("recorded %d events, want the 5 accepted", n)
	}
}

func TestDedupe(t *testing.T) {
	s := klaviyotest.NewServer(t)
	for range 3 {
		if st, _, b := do(t, s, req{path: "/api/events", body: eventBody}); st != 202 {
			t.Fatalf("%d %s", st, b)
		}
	}
	// Same unique_id, other metric: a different event.
	do(t, s, req{path: "/api/events", body: mutate(eventBody, "Placed Order", "Fulfilled Order")})
	// Same unique_id, other profile: a different event.
	do(t, s, req{path: "/api/events", body: mutate(eventBody, "a@example.com", "b@example.com")})
	st := s.Stats()
	if len(s.Events()) != 3 || st.Duplicates != 2 || st.Accepted != 5 {
		t.Errorf("events %d duplicates %d accepted %d; want 3, 2, 5", len(s.Events()), st.Duplicates, st.Accepted)
	}
	e := s.Events()[0]
	if e.ProfileKey != "email:a@example.com" || e.Metric != "Placed Order" || e.UniqueID != "1" || e.Value.String() != "29.98" || string(e.Raw) != eventBody {
		t.Errorf("recorded %+v", e)
	}
}

func bulkBody(uids ...string) string {
	var evs []string
	for _, u := range uids {
		evs = append(evs, `{"type":"event","attributes":{"properties":{},"metric":{"data":{"type":"metric","attributes":{"name":"Placed Order"}}},"time":"2024-05-01T10:00:00Z","value":1,"unique_id":"`+u+`","backfill":true}}`)
	}
	return `{"data":{"type":"event-bulk-create-job","attributes":{"events-bulk-create":{"data":[{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile","attributes":{"email":"a@example.com"}}},"events":{"data":[` + strings.Join(evs, ",") + `]}}}]}}}}`
}

func TestBulk(t *testing.T) {
	s := klaviyotest.NewServer(t)
	if st, _, b := do(t, s, req{path: "/api/event-bulk-create-jobs", body: bulkBody("1", "2", "1")}); st != 400 || !strings.Contains(b, "Duplicate unique_id") {
		t.Errorf("duplicate: %d %s", st, b)
	}
	if n := len(s.Events()); n != 0 {
		t.Errorf("a rejected bulk request recorded %d events", n)
	}
	if st, _, b := do(t, s, req{path: "/api/event-bulk-create-jobs", body: bulkBody("1", "2", "3")}); st != 202 {
		t.Errorf("valid bulk: %d %s", st, b)
	}
	ids := make([]string, 1001)
	for i := range ids {
		ids[i] = "u" + itoa(i)
	}
	if st, _, b := do(t, s, req{path: "/api/event-bulk-create-jobs", body: bulkBody(ids...)}); st != 400 || !strings.Contains(b, "1000") {
		t.Errorf("1001 events: %d %s", st, b)
	}
	evs := s.Events()
	if len(evs) != 3 || !evs[0].Backfill || evs[2].UniqueID != "3" {
		t.Errorf("recorded %+v", evs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRateLimit(t *testing.T) {
	s := klaviyotest.NewServer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	s.SetLimits(klaviyotest.PathEvents, klaviyotest.Limits{Burst: 2, Steady: 3})
	for i := range 2 {
		if st, h, _ := do(t, s, req{path: "/api/events", body: mutate(eventBody, `"unique_id":"1"`, `"unique_id":"r`+itoa(i)+`"`)}); st != 202 || h.Get("RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d, RateLimit-Limit %q", i, st, h.Get("RateLimit-Limit"))
		}
	}
	st, h, b := do(t, s, req{path: "/api/events", body: eventBody})
	if st != 429 || h.Get("Retry-After") != "1" || !strings.Contains(b, `"code":"throttled"`) || !strings.Contains(b, "Expected available in 1 second.") {
		t.Fatalf("burst exceeded: %d Retry-After %q %s", st, h.Get("Retry-After"), b)
	}
	now = now.Add(time.Second)
	if st, _, _ := do(t, s, req{path: "/api/events", body: eventBody}); st != 202 {
		t.Fatalf("after a second: %d", st)
	}
	// Steady bucket (3/min, one token per 20 s) is empty after 1 s: 2 s
	// of refill have accrued, so the next token comes in 18 s.
	now = now.Add(time.Second)
	st, h, b = do(t, s, req{path: "/api/events", body: eventBody})
	if st != 429 || h.Get("Retry-After") != "18" {
		t.Fatalf("steady exceeded: %d Retry-After %q %s", st, h.Get("Retry-After"), b)
	}
	if got := s.StatsFor(klaviyotest.PathEvents).Throttled; got != 2 {
		t.Errorf("throttled %d, want 2", got)
	}
}

func TestFaults(t *testing.T) {
	s := klaviyotest.NewServer(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	body := func(i int) string { return mutate(eventBody, `"unique_id":"1"`, `"unique_id":"f`+itoa(i)+`"`) }

	s.FailNext(1, klaviyotest.Throttle(7))
	s.FailNext(1, klaviyotest.ThrottleNoRetryAfter(4))
	s.FailNext(1, klaviyotest.ThrottleNoRetryAfter(0))
	s.FailNext(1, klaviyotest.ServerError(503))
	st, h, b := do(t, s, req{path: "/api/events", body: body(0)})
	if st != 429 || h.Get("Retry-After") != "7" || !strings.Contains(b, "Expected available in 7 seconds.") {
		t.Errorf("throttle: %d %q %s", st, h.Get("Retry-After"), b)
	}
	st, h, b = do(t, s, req{path: "/api/events", body: body(0)})
	if st != 429 || h.Get("Retry-After") != "" || !strings.Contains(b, "Expected available in 4 seconds.") {
		t.Errorf("throttle without Retry-After: %d %q %s", st, h.Get("Retry-After"), b)
	}
	st, h, b = do(t, s, req{path: "/api/events", body: body(0)})
	if st != 429 || h.Get("Retry-After") != "" || strings.Contains(b, "Expected") {
		t.Errorf("throttle without hint: %d %q %s", st, h.Get("Retry-After"), b)
	}
	if st, _, _ = do(t, s, req{path: "/api/events", body: body(0)}); st != 503 {
		t.Errorf("503 fault: %d", st)
	}
	if len(s.Events()) != 0 {
		t.Fatalf("faulted requests recorded events")
	}

	// Drop before processing: nothing recorded; after accepting: recorded.
	s.FailNext(1, klaviyotest.Drop())
	s.FailNext(1, klaviyotest.DropAfterAccept())
	for i := 1; i <= 2; i++ {
		r, _ := http.NewRequest("POST", s.URL+"/api/events", strings.NewReader(body(i)))
		r.Header.Set("Authorization", "Klaviyo-API-Key "+klaviyotest.PrivateKey)
		r.Header.Set("revision", "2026-07-15")
		r.Header.Set("Content-Type", "application/vnd.api+json")
		if resp, err := http.DefaultTransport.RoundTrip(r); err == nil {
			resp.Body.Close()
			t.Errorf("dropped request %d got an answer %d", i, resp.StatusCode)
		}
	}
	if evs := s.Events(); len(evs) != 1 || evs[0].UniqueID != "f2" {
		t.Errorf("after drops recorded %+v, want only f2", evs)
	}

	// FailFor on the fake's clock, limited to one path.
	s.FailFor(10*time.Second, klaviyotest.ServerError(504).OnPath(klaviyotest.PathBulkEvents))
	if st, _, _ := do(t, s, req{path: "/api/events", body: body(3)}); st != 202 {
		t.Errorf("path-limited fault hit another path: %d", st)
	}
	if st, _, _ := do(t, s, req{path: "/api/event-bulk-create-jobs", body: bulkBody("b1")}); st != 504 {
		t.Errorf("FailFor: %d", st)
	}
	now = now.Add(11 * time.Second)
	if st, _, _ := do(t, s, req{path: "/api/event-bulk-create-jobs", body: bulkBody("b1")}); st != 202 {
		t.Errorf("after FailFor ended: %d", st)
	}

	s.SetDown(true)
	if _, err := http.Post(s.URL+"/api/events", "application/json", strings.NewReader("{}")); err == nil {
		t.Errorf("down server answered")
	}
	s.SetDown(false)
	if st := s.Stats(); st.Faults != 8 {
		t.Errorf("faults %d, want 8", st.Faults)
	}
}

func TestSlowAnswersAfterRecording(t *testing.T) {
	s := klaviyotest.NewServer(t)
	s.FailNext(1, klaviyotest.Slow(time.Hour))
	c := &http.Client{Timeout: 100 * time.Millisecond}
	r, _ := http.NewRequest("POST", s.URL+"/api/events", strings.NewReader(eventBody))
	r.Header.Set("Authorization", "Klaviyo-API-Key "+klaviyotest.PrivateKey)
	r.Header.Set("revision", "2026-07-15")
	r.Header.Set("Content-Type", "application/vnd.api+json")
	if _, err := c.Do(r); err == nil {
		t.Fatal("slow answer did not time out")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.Events()) != 1 {
		t.Errorf("a slow request must still be recorded once the client hangs up")
	}
}

func TestClientProfilesAndCatalog(t *testing.T) {
	s := klaviyotest.NewServer(t)
	prof := `{"data":{"type":"profile","attributes":{"email":"a@example.com","first_name":"A"}}}`
	if st, _, b := do(t, s, req{path: "/client/profiles/?company_id=" + klaviyotest.CompanyID, auth: "-", body: prof}); st != 202 {
		t.Fatalf("profile: %d %s", st, b)
	}
	if st, _, _ := do(t, s, req{path: "/client/profiles?company_id=" + klaviyotest.CompanyID, auth: "-", body: `{"data":{"type":"profile","attributes":{"first_name":"A"}}}`}); st != 400 {
		t.Errorf("profile without identifier: %d", st)
	}
	if p := s.Profiles(); len(p) != 1 || p[0].Key != "email:a@example.com" {
		t.Errorf("profiles %+v", p)
	}

	item := `{"data":{"type":"catalog-item","attributes":{"external_id":"SKU1","title":"Mug","description":"A mug","url":"https://shop.example/mug","price":9.5,"published":true}}}`
	if st, _, b := do(t, s, req{path: "/api/catalog-items", body: item}); st != 201 || !strings.Contains(b, `"id":"$custom:::$default:::SKU1"`) {
		t.Fatalf("create item: %d %s", st, b)
	}
	if st, _, _ := do(t, s, req{path: "/api/catalog-items", body: item}); st != 409 {
		t.Errorf("duplicate item: %d", st)
	}
	if st, _, b := do(t, s, req{path: "/api/catalog-items", body: mutate(item, `"url":"https://shop.example/mug",`, ``)}); st != 400 {
		t.Errorf("item without url: %d %s", st, b)
	}
	id := "/api/catalog-items/$custom:::$default:::SKU1"
	if st, _, b := do(t, s, req{method: "PATCH", path: id, body: `{"data":{"type":"catalog-item","id":"$custom:::$default:::SKU1","attributes":{"price":8}}}`}); st != 200 {
		t.Errorf("patch: %d %s", st, b)
	}
	if got := s.CatalogItems()["$custom:::$default:::SKU1"]["price"]; got != json.Number("8") {
		t.Errorf("price after patch %v", got)
	}
	bulk := `{"data":{"type":"catalog-item-bulk-create-job","attributes":{"items":{"data":[{"type":"catalog-item","attributes":{"external_id":"SKU2","title":"Cup","description":"A cup","url":"https://shop.example/cup"}},{"type":"catalog-item","attributes":{"external_id":"SKU1","title":"Mug","description":"A mug","url":"https://shop.example/mug"}}]}}}}`
	if st, _, b := do(t, s, req{path: "/api/catalog-item-bulk-create-jobs", body: bulk}); st != 202 || !strings.Contains(b, `"failed_count":1`) {
		t.Errorf("bulk create: %d %s", st, b)
	}
	del := `{"data":{"type":"catalog-item-bulk-delete-job","attributes":{"items":{"data":[{"type":"catalog-item","id":"$custom:::$default:::SKU2"}]}}}}`
	if st, _, b := do(t, s, req{path: "/api/catalog-item-bulk-delete-jobs", body: del}); st != 202 || !strings.Contains(b, `"failed_count":0`) {
		t.Errorf("bulk delete: %d %s", st, b)
	}
	if st, _, _ := do(t, s, req{method: "DELETE", path: id, ctype: "-"}); st != 204 {
		t.Errorf("delete: %d", st)
	}
	if n := len(s.CatalogItems()); n != 0 {
		t.Errorf("%d items left", n)
	}
}

func TestWaitEvents(t *testing.T) {
	s := klaviyotest.NewServer(t)
	go func() { // no t.Fatal off the test goroutine: plain requests
		for i := range 3 {
			r, _ := http.NewRequest("POST", s.URL+"/api/events", strings.NewReader(mutate(eventBody, `"unique_id":"1"`, `"unique_id":"w`+itoa(i)+`"`)))
			r.Header.Set("Authorization", "Klaviyo-API-Key "+klaviyotest.PrivateKey)
			r.Header.Set("revision", "2026-07-15")
			r.Header.Set("Content-Type", "application/vnd.api+json")
			if resp, err := http.DefaultClient.Do(r); err == nil {
				resp.Body.Close()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := s.WaitEvents(ctx, 3)
	if err != nil || len(evs) != 3 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if evs, err := s.WaitEvents(short, 4); err == nil || len(evs) != 3 {
		t.Errorf("waiting for a 4th: %d, %v", len(evs), err)
	}
}
