package klaviyo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/shop"
)

var _ = flag.Bool

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleEvent(uid string) klaviyo.Event {
	return klaviyo.Event{
		Metric: "Placed Order",
		Profile: klaviyo.Profile{Email: "sarah@example.com", FirstName: "Sarah", LastName: "Mason",
			Location: &klaviyo.Location{Address1: "1 Main St", City: "Boston", Region: "MA", Country: "US", Zip: "02110"}},
		Properties:    json.RawMessage(`{"OrderId":"` + uid + `","Items":[{"ProductName":"Mug","Quantity":2}]}`),
		Time:          time.Date(2026, 2, 1, 10, 30, 15, 900_000_000, time.UTC),
		Value:         shop.Cents(2998),
		ValueCurrency: "USD",
		UniqueID:      uid,
	}
}

// golden compares got (indented) with testdata/name, rewriting it when
// UPDATE_GOLDEN=1.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s is not JSON: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func schemas(t *testing.T) *klaviyotest.Schemas {
	t.Helper()
	s, err := klaviyotest.LoadSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		t.Log("Klaviyo OpenAPI slices not found: skipping the schema check of the golden JSON")
	}
	return s
}

func TestEncodeGolden(t *testing.T) {
	sch := schemas(t)
	one, err := klaviyo.EncodeEvent(sampleEvent("1001"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "event.json", one)
	second := sampleEvent("1002")
	second.Metric = "Ordered Product"
	other := sampleEvent("1003")
	other.Profile = klaviyo.Profile{PhoneNumber: "+15005550006"}
	other.Backfill = true
	bulk, err := klaviyo.BulkBody([]klaviyo.Encoded{encoded(t, sampleEvent("1001")), encoded(t, other), encoded(t, second)})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bulk.json", bulk)
	if sch != nil {
		if err := sch.ValidateJSON("create_event.json", one); err != nil {
			t.Error(err)
		}
		if err := sch.ValidateJSON("bulk_create_events.json", bulk); err != nil {
			t.Error(err)
		}
	}
	// One entry per profile, events in order.
	var doc struct {
		Data struct {
			Attributes struct {
				EBC struct {
					Data []struct {
						Attributes struct {
							Events struct {
								Data []struct {
									Attributes struct {
										UniqueID string `json:"unique_id"`
									}
								}
							}
						}
					}
				} `json:"events-bulk-create"`
			}
		}
	}
	json.Unmarshal(bulk, &doc)
	var got [][]string
	for _, e := range doc.Data.Attributes.EBC.Data {
		var ids []string
		for _, ev := range e.Attributes.Events.Data {
			ids = append(ids, ev.Attributes.UniqueID)
		}
		got = append(got, ids)
	}
	if diff := cmp.Diff([][]string{{"1001", "1002"}, {"1003"}}, got); diff != "" {
		t.Errorf("bulk grouping (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	deep := `{"a":` + strings.Repeat(`{"a":`, 10) + `1` + strings.Repeat(`}`, 10) + `}`
	okDeep := `{"a":` + strings.Repeat(`{"a":`, 8) + `1` + strings.Repeat(`}`, 8) + `}`
	manyProps := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"p%d":%d`, i, i)
		}
		return b.String() + "}"
	}
	longArray := `{"Items":[` + strings.TrimSuffix(strings.Repeat("1,", 4001), ",") + `]}`
	tests := []struct {
		name      string
		mod       func(*klaviyo.Event)
		wantField string
	}{
		{"valid", func(*klaviyo.Event) {}, ""},
		{"no identifier", func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{FirstName: "A"} }, "profile"},
		{"kx is an identifier", func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{Kx: "abc.SnPd01"} }, ""},
		{"no metric", func(e *klaviyo.Event) { e.Metric = "" }, "metric"},
		{"metric 127", func(e *klaviyo.Event) { e.Metric = strings.Repeat("m", 127) }, ""},
		{"metric 128", func(e *klaviyo.Event) { e.Metric = strings.Repeat("m", 128) }, "metric"},
		{"400 properties", func(e *klaviyo.Event) { e.Properties = json.RawMessage(manyProps(400)) }, ""},
		{"401 properties", func(e *klaviyo.Event) { e.Properties = json.RawMessage(manyProps(401)) }, "properties"},
		{"properties not object", func(e *klaviyo.Event) { e.Properties = json.RawMessage(`[1]`) }, "properties"},
		{"string too long", func(e *klaviyo.Event) {
			e.Properties = json.RawMessage(`{"Items":[{"Name":"` + strings.Repeat("x", klaviyo.MaxStringBytes+1) + `"}]}`)
		}, "properties.Items[0].Name"},
		{"array too long", func(e *klaviyo.Event) { e.Properties = json.RawMessage(longArray) }, "properties.Items"},
		{"10 levels", func(e *klaviyo.Event) { e.Properties = json.RawMessage(okDeep) }, ""},
		{"11 levels", func(e *klaviyo.Event) { e.Properties = json.RawMessage(deep) }, "properties.a.a.a.a.a.a.a.a.a.a"},
		{"before 1990", func(e *klaviyo.Event) { e.Time = time.Date(1989, 12, 31, 0, 0, 0, 0, time.UTC) }, "time"},
		{"a year ahead", func(e *klaviyo.Event) { e.Time = now.AddDate(1, 0, 0) }, ""},
		{"more than a year ahead", func(e *klaviyo.Event) { e.Time = now.AddDate(1, 0, 1) }, "time"},
		{"bad currency", func(e *klaviyo.Event) { e.ValueCurrency = "usd" }, "value_currency"},
		{"payload over 5 MB", func(e *klaviyo.Event) {
			var b strings.Builder
			b.WriteString(`{`)
			for i := range 60 {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `"p%d":"%s"`, i, strings.Repeat("x", 90*1024))
			}
			b.WriteString(`}`)
			e.Properties = json.RawMessage(b.String())
		}, "properties"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEvent("1")
			tt.mod(&e)
			err := e.ValidateAt(now)
			if got := apperr.ErrorField(err); got != tt.wantField || (tt.wantField != "" && apperr.ErrorCode(err) != apperr.EINVALID) {
				t.Errorf("field %q (err %v), want %q", got, err, tt.wantField)
			}
		})
	}
}

// encoded is e checked and encoded, as the outbox stores it.
func encoded(t *testing.T, e klaviyo.Event) klaviyo.Encoded {
	t.Helper()
	enc, err := klaviyo.Encode(e, now)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// newClient returns a client for the fake with an injected clock, and no client-side rate limit unless the test sets one.
func newClient(t *testing.T, fake *klaviyotest.Server, o klaviyo.Options) *klaviyo.Client {
	t.Helper()
	o.BaseURL = fake.URL
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	if o.EventBuckets == (klaviyo.Buckets{}) {
		o.EventBuckets = klaviyo.Unlimited
	}
	if o.BulkBuckets == (klaviyo.Buckets{}) {
		o.BulkBuckets = klaviyo.Unlimited
	}
	c, err := klaviyo.NewClient(klaviyotest.PrivateKey, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		fault      *klaviyotest.Fault
		down       bool
		key        string
		revision   string
		wantKind   klaviyo.Kind
		wantStatus int
		wantWait   time.Duration
		wantDetail string
	}{
		{name: "202", wantKind: klaviyo.Delivered, wantStatus: 202},
		{name: "429 Retry-After", fault: ptr(klaviyotest.Throttle(7)), wantKind: klaviyo.Retryable, wantStatus: 429, wantWait: 7 * time.Second, wantDetail: "throttled"},
		{name: "429 detail only", fault: ptr(klaviyotest.ThrottleNoRetryAfter(4)), wantKind: klaviyo.Retryable, wantStatus: 429, wantWait: 4 * time.Second},
		{name: "429 no hint", fault: ptr(klaviyotest.ThrottleNoRetryAfter(0)), wantKind: klaviyo.Retryable, wantStatus: 429, wantWait: 0},
		{name: "500", fault: ptr(klaviyotest.ServerError(500)), wantKind: klaviyo.Retryable, wantStatus: 500, wantWait: 0},
		{name: "503", fault: ptr(klaviyotest.ServerError(503)), wantKind: klaviyo.Retryable, wantStatus: 503, wantWait: 0},
		{name: "504", fault: ptr(klaviyotest.ServerError(504)), wantKind: klaviyo.Retryable, wantStatus: 504, wantWait: 0},
		{name: "524", fault: ptr(klaviyotest.ServerError(524)), wantKind: klaviyo.Retryable, wantStatus: 524, wantWait: 0},
		{name: "dropped", fault: ptr(klaviyotest.Drop()), wantKind: klaviyo.Retryable, wantWait: 0, wantDetail: "connection error"},
		{name: "timeout", fault: ptr(klaviyotest.Slow(time.Hour)), wantKind: klaviyo.Retryable, wantWait: 0, wantDetail: "timeout"},
		{name: "down", down: true, wantKind: klaviyo.Retryable, wantWait: 0, wantDetail: "connection error"},
		{name: "401 wrong key", key: "pk_wrong_key_123", wantKind: klaviyo.Permanent, wantStatus: 401, wantDetail: "authentication_failed"},
		{name: "410 retired revision", revision: "2024-10-15", wantKind: klaviyo.Permanent, wantStatus: 410, wantDetail: "retired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := klaviyotest.NewServer(t)
			if tt.fault != nil {
				fake.FailNext(1, *tt.fault)
			}
			fake.SetDown(tt.down)
			if tt.key != "" {
				fake.SetKeys(tt.key, klaviyotest.CompanyID)
			}
			c := newClient(t, fake, klaviyo.Options{Revision: tt.revision, Timeout: 2 * time.Second})
			out := c.CreateEvent(context.Background(), encoded(t, sampleEvent("42")))
			if out.Kind != tt.wantKind || out.Status != tt.wantStatus || out.RetryAfter != tt.wantWait || !strings.Contains(out.Detail, tt.wantDetail) {
				t.Errorf("got %v status %d wait %v detail %q; want %v %d %v containing %q",
					out.Kind, out.Status, out.RetryAfter, out.Detail, tt.wantKind, tt.wantStatus, tt.wantWait, tt.wantDetail)
			}
			if strings.Contains(out.Detail, klaviyotest.PrivateKey) {
				t.Errorf("detail leaks the key: %s", out.Detail)
			}
			if out.Kind == klaviyo.Delivered && (out.RateLimit.Limit != klaviyotest.DefaultLimits[klaviyotest.PathEvents].Steady || out.RateLimit.Remaining < 0) {
				t.Errorf("RateLimit headers not read: %+v", out.RateLimit)
			}
		})
	}
}

func TestKeyNeverShown(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	var logs bytes.Buffer
	c := newClient(t, fake, klaviyo.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	fake.FailNext(1, klaviyotest.Drop())
	c.CreateEvent(context.Background(), encoded(t, sampleEvent("1")))
	c.CreateEvent(context.Background(), encoded(t, sampleEvent("1")))
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("client", "c", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("client", "c", c)
	var out strings.Builder
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
		fmt.Fprintf(&out, f+"\n", c)
		fmt.Fprintf(&out, f+"\n", *c)
	}
	for _, s := range []string{logs.String(), out.String()} {
		if strings.Contains(s, klaviyotest.PrivateKey) || strings.Contains(s, fmt.Sprintf("%x", klaviyotest.PrivateKey)) {
			t.Errorf("key leaked in:\n%s", s)
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Errorf("no redaction marker in %s", out.String())
	}
	if _, err := klaviyo.NewClient("", klaviyo.Options{}); err == nil {
		t.Error("empty key accepted")
	}
}

func ptr[T any](v T) *T { return &v }

// TestClientRateLimit sends requests through the client's token buckets
// set to half the fake's limits: the client must pace itself so the fake
// never throttles. Half, because requests leave the client's bucket evenly
// but reach the fake's with scheduling delays; at half rate a delay of up
// to a second is absorbed. The control, an unlimited client sending more
// than the fake's steady bucket holds, is throttled whatever the timing.
func TestClientRateLimit(t *testing.T) {
	lim := klaviyotest.Limits{Burst: 40, Steady: 100}
	for _, limited := range []bool{true, false} {
		fake := klaviyotest.NewServer(t)
		fake.SetLimits(klaviyotest.PathEvents, lim)
		o := klaviyo.Options{}
		n := 150
		if limited {
			o.EventBuckets = klaviyo.Buckets{Burst: lim.Burst / 2, Steady: lim.Steady / 2}
			n = lim.Steady / 2
		}
		c := newClient(t, fake, o)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.CreateEvent(context.Background(), encoded(t, sampleEvent(fmt.Sprint(i))))
			}()
		}
		wg.Wait()
		th := fake.Stats().Throttled
		if limited && th != 0 {
			t.Errorf("limited client was throttled %d times", th)
		}
		if !limited && th == 0 {
			t.Errorf("unlimited client was never throttled: the test proves nothing")
		}
	}
}

var _ = http.StatusOK

// FuzzValidate: whatever the properties, Validate never panics, and an
// event it accepts encodes to a body Klaviyo's schema accepts.
// go test -run '^$' -fuzz FuzzValidate -fuzztime 60s ./klaviyo/
func FuzzValidate(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":"c"}]}`, `[]`, `"x"`, `{"a":`, `{"a":1}{"b":2}`, `null`, `{"\u0000":"\ud800"}`} {
		f.Add(s, "Placed Order", "a@example.com")
	}
	sch, _ := klaviyotest.LoadSchemas()
	f.Fuzz(func(t *testing.T, props, metric, email string) {
		e := klaviyo.Event{Metric: metric, Profile: klaviyo.Profile{Email: email}, Properties: json.RawMessage(props), Time: now}
		if err := e.ValidateAt(now); err != nil {
			if apperr.ErrorCode(err) != apperr.EINVALID {
				t.Fatalf("error is not EINVALID: %v", err)
			}
			return
		}
		b, err := klaviyo.EncodeEvent(e)
		if err != nil {
			t.Fatalf("valid event does not encode: %v", err)
		}
		if sch != nil {
			if err := sch.ValidateJSON("create_event.json", b); err != nil {
				t.Fatalf("valid event breaks the schema: %v\n%s", err, b)
			}
		}
	})
}
