package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/db/dbtest"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/orders"
	"github.com/snippetd/snippetd/internal/outbox"
)

func consentEnv(fake *klaviyotest.Server) map[string]string {
	return map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey,
		"SNIPPETD_KLAVIYO_URL": fake.URL, "SNIPPETD_LIST_ID": "AbC123"}
}

// subscribedOnce returns how often each email was subscribed at the fake
// (bulk jobs only).
func subscribedOnce(fake *klaviyotest.Server) (map[string]int, int) {
	got := map[string]int{}
	jobs := 0
	for _, j := range fake.SubscriptionJobs() {
		if j.Path != klaviyotest.PathSubscribeBulk {
			continue
		}
		jobs++
		for _, p := range j.Profiles {
			got[p.Email]++
		}
	}
	return got, jobs
}

// waitJobs waits until the outbox holds no pending job.
func waitJobs(t *testing.T, m *Main) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := m.Outbox.JobCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still pending", c.Pending)
		}
	}
}

// TestSubscriptionBurstSurvivesRestart: 10,000 subscriptions posted in a
// burst by 16 clients (500 requests of 20), with the server closed halfway
// (as on SIGTERM) and opened again on the same data: every acknowledged
// subscription reaches the fake once,
// in at most 10 bulk jobs, with no 429 from the fake's rate limiter.
func TestSubscriptionBurstSurvivesRestart(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	fake.SetStrictLimits(true)
	dir := t.TempDir()
	env := consentEnv(fake)
	// A part-full job waits 3 s for more of its group, so that a test
	// machine busy enough to pause the posting goroutines for over the
	// default second still sends the burst in full jobs.
	env["SNIPPETD_OUTBOX_JOB_LINGER"] = "3s"
	const requests, per = 500, 20
	body := func(r int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email":"b%d-%d@example.com","channels":{"email":true},"source":"burst"}`, r, i)
		}
		b.WriteByte(']')
		return b.String()
	}
	var acked sync.Map
	post := func(m *Main, from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					r := int(next.Add(1) - 1)
					if r >= to {
						return
					}
					if st, got := call(t, m, "/v1/subscriptions", "tok", "application/json", body(r)); st == 202 {
						acked.Store(r, true)
					} else {
						t.Errorf("request %d: %d %s", r, st, got)
					}
				}
			})
		}
		wg.Wait()
	}
	m := openMainIn(t, dir, env)
	post(m, 0, requests/2)
	// A restart in the middle, as on SIGTERM: the job in flight finishes
	// and is recorded, so nothing goes twice. (A kill -9, where the job in
	// flight is sent again, is internal/faults' TestScenarioKill9SubscriptionBurst.)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	m.Close(ctx)
	cancel()
	before, _ := subscribedOnce(fake)

	m = openMainIn(t, dir, env)
	post(m, requests/2, requests)
	waitJobs(t, m)

	got, jobs := subscribedOnce(fake)
	n := 0
	acked.Range(func(k, _ any) bool {
		r := k.(int)
		for i := range per {
			e := fmt.Sprintf("b%d-%d@example.com", r, i)
			if got[e] != 1 {
				t.Errorf("%s subscribed %d times", e, got[e])
			}
			n++
		}
		return true
	})
	if n != requests*per {
		t.Errorf("%d subscriptions acknowledged, want %d", n, requests*per)
	}
	st := fake.StatsFor(klaviyotest.PathSubscribeBulk)
	t.Logf("%d subscriptions in %d bulk jobs (%d delivered before the restart); fake stats %+v", len(got), jobs, len(before), st)
	if jobs > 10 {
		t.Errorf("%d bulk jobs, want at most 10", jobs)
	}
	if st.Throttled > 0 {
		t.Errorf("the fake throttled %d requests", st.Throttled)
	}
}

// TestOrderMarketingConsent: only an explicit true subscribes, once per
// order however often it is re-sent; false for a profile subscribed
// earlier sends no unsubscribe; a backfilled order subscribes as a
// historical import with its consent time.
func TestOrderMarketingConsent(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	m := openMainIn(t, t.TempDir(), consentEnv(fake))
	order := func(id, email, consent string) string {
		return `{"id":"` + id + `","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"` + email + `","phone_number":"+16175550100"},` +
			`"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":2}],"total":19` + consent + `}`
	}
	for _, c := range []struct{ body, want string }{
		{order("C-1", "yes@example.com", `,"marketing_consent":{"email":true}`), "C-1"},
		{order("C-1", "yes@example.com", `,"marketing_consent":{"email":true}`), "C-1"}, // re-sent
		{order("C-2", "no@example.com", `,"marketing_consent":{"email":false,"sms":false}`), "C-2"},
		{order("C-3", "absent@example.com", ``), "C-3"},
	} {
		if st, got := call(t, m, "/v1/orders", "tok", "application/json", c.body); st != 202 || !strings.Contains(got, c.want) {
			t.Fatalf("POST /v1/orders: %d %s", st, got)
		}
	}
	// no@example.com subscribed earlier through the API, then ordered
	// without ticking the box.
	if st, got := call(t, m, "/v1/subscriptions", "tok", "application/json", `{"email":"no@example.com","channels":{"email":true}}`); st != 202 {
		t.Fatalf("POST /v1/subscriptions: %d %s", st, got)
	}
	if st, got := call(t, m, "/v1/orders", "tok", "application/json", order("C-4", "no@example.com", `,"marketing_consent":{"email":false}`)); st != 202 {
		t.Fatalf("POST /v1/orders: %d %s", st, got)
	}
	// A wrong type is refused, naming the field.
	if st, got := call(t, m, "/v1/orders", "tok", "application/json", order("C-5", "x@example.com", `,"marketing_consent":{"email":"yes"}`)); st != 400 || !strings.Contains(got, "marketing_consent.email") {
		t.Errorf("marketing_consent.email=\"yes\": %d %s, want 400 naming the field", st, got)
	}
	waitJobs(t, m)
	time.Sleep(1500 * time.Millisecond) // a late second job would have lingered at most this long
	waitJobs(t, m)
	got, _ := subscribedOnce(fake)
	want := map[string]int{"yes@example.com": 1, "no@example.com": 1}
	for e, n := range want {
		if got[e] != n {
			t.Errorf("%s subscribed %d times, want %d", e, got[e], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("subscribed %v, want only %v", got, want)
	}
	for _, j := range fake.SubscriptionJobs() {
		if j.Path == klaviyotest.PathUnsubscribeBulk {
			t.Errorf("an unsubscribe was sent: %+v", j)
		}
		if j.Path == klaviyotest.PathSubscribeBulk && j.Profiles[0].Email == "yes@example.com" && (j.HistoricalImport || j.ListID != "AbC123" || j.Profiles[0].SMSChannel) {
			t.Errorf("order C-1 subscribed as %+v, want email only to AbC123, not historical", j)
		}
	}
}

// TestBackfillConsentIsHistorical: a backfilled order's consent is a
// historical import at the order's time (no confirmation mail, no "added
// to list" flow), stored once even when the file is run again.
func TestBackfillConsentIsHistorical(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	m := openMainIn(t, t.TempDir(), consentEnv(fake))
	file := `{"id":"H-1","placed_at":"2024-03-01T10:00:00Z","currency":"USD","customer":{"email":"old@example.com","phone_number":"+16175550111"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}],"total":9.5,"marketing_consent":{"email":true,"sms":true}}
{"id":"H-2","placed_at":"2024-03-02T10:00:00Z","currency":"USD","customer":{"email":"none@example.com"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}],"total":9.5}
`
	for range 2 {
		inputs, err := orders.ReadOrders(strings.NewReader(file), orders.FormatAuto, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		b := &orders.Backfill{Publisher: outbox.Producer{Outbox: m.Outbox, Name: BackfillSource}, Store: m.Orders.Store, Consent: m.Consent}
		if sum, err := b.Run(context.Background(), inputs); err != nil || len(sum.Failures) > 0 {
			t.Fatalf("backfill: %v %+v", err, sum.Failures)
		}
	}
	waitJobs(t, m)
	// Email and SMS consent are separate channels: two jobs, each once.
	jobs := fake.SubscriptionJobs()
	if len(jobs) != 2 {
		t.Fatalf("%d subscription jobs, want 2 (email, sms): %+v", len(jobs), jobs)
	}
	var email, sms bool
	for _, j := range jobs {
		p := j.Profiles[0]
		if len(j.Profiles) != 1 || !j.HistoricalImport || j.Source != "snippetd backfill" || p.ConsentedAt != "2024-03-01T10:00:00Z" {
			t.Errorf("backfilled consent sent as %+v, want one historical import consented at the order's time", j)
		}
		email = email || p.EmailChannel && p.Email == "old@example.com"
		sms = sms || p.SMSChannel && p.PhoneNumber == "+16175550111"
	}
	if !email || !sms {
		t.Errorf("jobs %+v, want the email and the SMS consent of H-1", jobs)
	}
}

// post sends a JSON POST with optional headers (name, value pairs).
func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProfileEraseLeavesNoTrace: a person known to every store (an order
// with its events, a subscription, a profile upsert, a proxy browser, an
// inspector entry) is erased: Klaviyo gets the deletion job, the answer
// counts each store, and afterwards the email is nowhere in the database
// (the SQLite file and its log read byte by byte; every PostgreSQL table
// read as text).
func TestProfileEraseLeavesNoTrace(t *testing.T) {
	dbs := map[string]string{"sqlite": ""}
	if url := dbtest.PostgresURL(t, "snippetd_erase"); url != "" {
		dbs["postgres"] = url
	}
	for name, url := range dbs {
		t.Run(name, func(t *testing.T) {
			const who = "Erase.Me@Example.com"
			const email = "erase.me@example.com"
			extra := map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_LIST_ID": "AbC123", "SNIPPETD_DATABASE_URL": url}
			m, fake := startProxyMainEnv(t, extra)
			base := m.Server.URL()
			bearer := []string{"Authorization", "Bearer tok"}
			for _, c := range []struct{ path, body string }{
				{"/v1/orders", `{"id":"E-1","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"` + who + `"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}],"total":9.5,"marketing_consent":{"email":true}}`},
				{"/v1/orders", `{"id":"K-1","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"keep@example.com"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}],"total":9.5}`},
				{"/v1/profiles", `{"email":"` + who + `","first_name":"Erin","properties":{"plan":"gold"}}`},
			} {
				if st, got := post(t, base+c.path, c.body, bearer...); st != 202 {
					t.Fatalf("POST %s: %d %s", c.path, st, got)
				}
			}
			if st, got := post(t, base+"/s/i", `{"email":"`+who+`","consent":true}`, "Origin", "https://shop.example"); st != 202 {
				t.Fatalf("proxy identify: %d %s", st, got)
			}
			if st, got := post(t, base+"/v1/render/identify", `{"customer":{"email":"`+who+`"}}`, "Accept", "application/json"); st != 200 {
				t.Fatalf("render identify: %d %s", st, got)
			}
			drain(t, m)
			waitJobs(t, m)
			// Wait for the proxy's identity to be written behind.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				var n int
				m.DB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM proxy_browsers`).Scan(&n)
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the proxy never stored the browser")
				}
			}
			if !strings.Contains(dump(t, m), email) {
				t.Fatal("the email is not in the database before the erasure: the test would prove nothing")
			}

			st, got := post(t, base+"/v1/profiles/erase", `{"email":"`+who+`"}`, bearer...)
			if st != 200 {
				t.Fatalf("erase: %d %s", st, got)
			}
			var er struct {
				Jobs   int              `json:"klaviyo_deletion_jobs"`
				Erased map[string]int64 `json:"erased"`
			}
			json.Unmarshal([]byte(got), &er)
			for _, store := range []string{"outbox", "orders", "proxy_browsers", "inspector"} {
				if er.Erased[store] == 0 {
					t.Errorf("nothing erased from %s: %s", store, got)
				}
			}
			if er.Jobs != 1 {
				t.Errorf("%d deletion jobs, want 1", er.Jobs)
			}
			waitJobs(t, m)
			var deleted bool
			for _, r := range fake.ConsentRecords() {
				deleted = deleted || r.Path == klaviyotest.PathProfileDeletion && r.Attributes["email"] == email
			}
			if !deleted {
				t.Errorf("Klaviyo got no deletion job for %s", email)
			}
			after := dump(t, m)
			for _, s := range []string{email, who, "Erase.Me", "erase.me"} {
				if strings.Contains(after, s) {
					i := strings.Index(after, s)
					t.Errorf("%q is still in the database after the erasure: …%q…", s, after[max(0, i-80):min(len(after), i+80)])
				}
			}
			if !strings.Contains(after, "keep@example.com") {
				t.Error("the erasure took another customer's order with it")
			}
			if st, got := post(t, base+"/v1/profiles/erase", `{}`, bearer...); st != 422 || !strings.Contains(got, `"field":"email"`) {
				t.Errorf("empty erase: %d %s, want 422 naming email", st, got)
			}
		})
	}
}

// dump returns everything the database holds as text: on SQLite the
// bytes of the database file and its write-ahead log, on PostgreSQL
// every row of every table of the public schema cast to text.
func dump(t *testing.T, m *Main) string {
	t.Helper()
	if m.DB.Dialect == db.SQLite {
		var b strings.Builder
		for _, suffix := range []string{"", "-wal"} {
			data, err := os.ReadFile(m.DB.Path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			b.Write(bytes.ToLower(data))
		}
		return b.String()
	}
	ctx := context.Background()
	rs, err := m.DB.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rs.Next() {
		var n string
		rs.Scan(&n)
		tables = append(tables, n)
	}
	rs.Close()
	var b strings.Builder
	for _, tbl := range tables {
		rows, err := m.DB.QueryContext(ctx, `SELECT t::text FROM `+tbl+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(strings.ToLower(s))
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

// TestProfileEditsCoalesce: ten quick edits of one profile reach Klaviyo
// as one profile import holding the latest state (every property set
// along the way, the last name given); another profile goes on its own.
func TestProfileEditsCoalesce(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	m := openMainIn(t, t.TempDir(), consentEnv(fake))
	for i := range 10 {
		body := fmt.Sprintf(`{"email":"edit@example.com","first_name":"Name%d","properties":{"step%d":%d,"last":%d}}`, i, i, i, i)
		if st, got := call(t, m, "/v1/profiles", "tok", "application/json", body); st != 202 {
			t.Fatalf("POST /v1/profiles: %d %s", st, got)
		}
	}
	if st, got := call(t, m, "/v1/profiles", "tok", "application/json", `{"external_id":"u-7","last_name":"Other"}`); st != 202 {
		t.Fatalf("POST /v1/profiles: %d %s", st, got)
	}
	for body, field := range map[string]string{
		`{"first_name":"NoID"}`:                                "email",
		`{"email":"a@example.com","properties":{"nested":{}}}`: "properties.nested",
		`{"email":"not-an-email"}`:                             "email",
		`{"email":"a@example.com","unknown":1}`:                "unknown",
	} {
		if st, got := call(t, m, "/v1/profiles", "tok", "application/json", body); st/100 != 4 || !strings.Contains(got, `"field":"`+field+`"`) {
			t.Errorf("POST /v1/profiles %s: %d %s, want a 4xx naming %s", body, st, got, field)
		}
	}
	waitJobs(t, m)
	var imports []klaviyotest.ConsentRecord
	for _, r := range fake.ConsentRecords() {
		if r.Path == klaviyotest.PathProfileImport {
			imports = append(imports, r)
		}
	}
	if len(imports) != 2 {
		t.Fatalf("%d profile imports, want 2 (one per profile): %+v", len(imports), imports)
	}
	for _, r := range imports {
		if r.Attributes["email"] != "edit@example.com" {
			continue
		}
		props, _ := r.Attributes["properties"].(map[string]any)
		if r.Attributes["first_name"] != "Name9" || len(props) != 11 || fmt.Sprint(props["last"]) != "9" || fmt.Sprint(props["step0"]) != "0" {
			t.Errorf("coalesced import sent %v, want first_name Name9, step0..step9 and last=9", r.Attributes)
		}
	}
}

// TestProxySubscribeAndBackInStock: {prefix}subscribe takes one email or
// phone for the configured list (never a list id or historical_import),
// from allowed origins only and rate-limited like {prefix}i; it reaches
// Klaviyo as a bulk subscribe job even when tracking consent is required.
// Back-in-stock requests, from the proxy and from /v1/back-in-stock, reach
// Klaviyo's server endpoint; a variant the catalog lacks is refused.
func TestProxySubscribeAndBackInStock(t *testing.T) {
	catalogFile := t.TempDir() + "/products.json"
	os.WriteFile(catalogFile, []byte(`[{"id":"v1","name":"Mug","url":"https://shop.example/v1","image_url":"https://shop.example/v1.jpg","description":"A mug","price":9.5}]`), 0o600)
	m, fake := startProxyMainEnv(t, map[string]string{"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_LIST_ID": "AbC123", "SNIPPETD_SMS_LIST_ID": "SmS123",
		"SNIPPETD_PROXY_REQUIRE_CONSENT": "on", "SNIPPETD_PROXY_BURST": "8", "SNIPPETD_PROXY_RATE": "0.01", "SNIPPETD_CATALOG_FILE": catalogFile})
	base := m.Server.URL()
	origin := []string{"Origin", "https://shop.example"}
	for _, c := range []struct {
		body  string
		want  int
		field string
	}{
		{`{"email":"Signup@Example.com","source":"footer"}`, 202, ""},
		{`{"phone_number":"+16175550123"}`, 202, ""},
		{`{"email":"x@example.com","list_id":"Other1"}`, 400, "list_id"},
		{`{"email":"x@example.com","historical_import":true}`, 400, "historical_import"},
		{`{"email":"x@example.com","channels":{"sms":true}}`, 422, "phone_number"},
		{`{}`, 422, "channels"},
	} {
		st, got := post(t, base+"/s/subscribe", c.body, origin...)
		if st != c.want || c.field != "" && !strings.Contains(got, `"field":"`+c.field+`"`) {
			t.Errorf("POST /s/subscribe %s: %d %s, want %d naming %q", c.body, st, got, c.want, c.field)
		}
	}
	if st, _ := post(t, base+"/s/subscribe", `{"email":"x@example.com"}`, "Origin", "https://evil.example"); st != 403 {
		t.Errorf("a foreign origin got %d, want 403", st)
	}
	if st, got := post(t, base+"/s/back-in-stock", `{"variant_id":"v1","email":"bis@example.com"}`, origin...); st != 202 {
		t.Errorf("proxy back in stock: %d %s", st, got)
	}
	// 7 requests from an allowed origin so far: the 8th is the last of
	// the burst, the 9th is limited.
	if st, _ := post(t, base+"/s/subscribe", `{"email":"y@example.com"}`, origin...); st != 202 {
		t.Errorf("last of the burst: %d, want 202", st)
	}
	if st, _ := post(t, base+"/s/subscribe", `{"email":"z@example.com"}`, origin...); st != 429 {
		t.Errorf("over the burst: %d, want 429", st)
	}
	bearer := []string{"Authorization", "Bearer tok"}
	if st, got := post(t, base+"/v1/back-in-stock", `{"variant_id":"nope","email":"bis@example.com"}`, bearer...); st != 422 || !strings.Contains(got, `"field":"variant_id"`) || !strings.Contains(got, "nope") {
		t.Errorf("unknown variant: %d %s, want 422 naming variant_id and the id", st, got)
	}
	if st, got := post(t, base+"/v1/back-in-stock", `{"variant_id":"v1","phone_number":"+16175550199"}`, bearer...); st != 202 {
		t.Errorf("/v1/back-in-stock: %d %s", st, got)
	}
	waitJobs(t, m)
	var email, sms bool
	for _, j := range fake.SubscriptionJobs() {
		p := j.Profiles[0]
		email = email || j.ListID == "AbC123" && p.Email == "signup@example.com" && j.Source == "snippetd signup: footer" && !j.HistoricalImport
		sms = sms || j.ListID == "SmS123" && p.PhoneNumber == "+16175550123" && p.SMSChannel
	}
	if !email || !sms {
		t.Errorf("subscription jobs %+v, want the email signup to AbC123 and the SMS one to SmS123", fake.SubscriptionJobs())
	}
	var bis []string
	for _, r := range fake.ConsentRecords() {
		if r.Path == klaviyotest.PathBackInStock {
			bis = append(bis, r.VariantID+" "+fmt.Sprint(r.Attributes["channels"]))
		}
	}
	slices.Sort(bis)
	if strings.Join(bis, ";") != "$custom:::$default:::v1 [EMAIL];$custom:::$default:::v1 [SMS]" {
		t.Errorf("back-in-stock requests at the fake: %q", bis)
	}
}
