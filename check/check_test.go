package check

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var browser *Browser

func TestMain(m *testing.M) {
	// The tests share the browser that Page starts.
	var err error
	if browser, err = shared(); err != nil {
		fmt.Fprintln(os.Stderr, "check tests:", err)
	}
	os.Exit(Main(m))
}

// needBrowser skips t without Chromium.
func needBrowser(t *testing.T) *Browser {
	t.Helper()
	if browser == nil {
		t.Skip("no Chromium (apt-get install chromium)")
	}
	return browser
}

// serveTestdata serves check/testdata.
func serveTestdata(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
	t.Cleanup(srv.Close)
	return srv
}

// shopperSteps exercise every event of the testdata pages: add to cart,
// then type an email and continue to checkout.
var shopperSteps = []Step{{Click: "#add"}, {Type: "#email", Text: "shopper@example.com"}, {Click: "#continue"}}

// rulesOf returns the rules that failed in each mode.
func rulesOf(rep *Report) map[Mode][]string {
	out := map[Mode][]string{}
	for _, res := range rep.Results {
		for _, p := range res.Problems {
			if !slices.Contains(out[res.Mode], p.Rule) {
				out[res.Mode] = append(out[res.Mode], p.Rule)
			}
		}
		slices.Sort(out[res.Mode])
	}
	return out
}

// TestBrokenPages checks each page of testdata, in both modes, with the
// catalog feed: the correct pages pass every rule, each broken page fails
// its rule and no other.
func TestBrokenPages(t *testing.T) {
	b := needBrowser(t)
	srv := serveTestdata(t)
	same := func(rules ...string) map[Mode][]string {
		if len(rules) == 0 {
			return map[Mode][]string{}
		}
		return map[Mode][]string{Loaded: rules, Blocked: rules}
	}
	tests := []struct {
		page string
		want map[Mode][]string
	}{
		{"good", same()},
		{"good-legacy", same()},
		{"missing-property", same("missing-property")},
		{"property-type", same("property-type")},
		{"real-quantity-from-input", same("property-type")},
		{"absolute-url", same("absolute-url")},
		{"real-protocol-relative-image", same("absolute-url")},
		{"value-sum", same("value-sum")},
		{"added-item-in-cart", same("added-item-in-cart")},
		{"checkout-event-id", same("checkout-event-id")},
		{"real-milliseconds-event-id", same("checkout-event-id")},
		{"identify-order", same("identify-order")},
		{"duplicate-added-to-cart", same("duplicate-added-to-cart")},
		{"error-without-klaviyo", map[Mode][]string{Blocked: {"error-without-klaviyo"}}},
		{"uncaught-error", map[Mode][]string{Loaded: {"uncaught-error"}, Blocked: {"error-without-klaviyo"}}},
		{"double-escaped", same("double-escaped")},
		{"unknown-product", same("unknown-product")},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			rep, err := b.Check(context.Background(), srv.URL+"/"+tt.page+".html", Options{Steps: shopperSteps, CatalogURL: srv.URL + "/catalog.json", Settle: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, rulesOf(rep)); d != "" {
				t.Errorf("failed rules (-want +got):\n%s", d)
				for _, p := range rep.Problems() {
					t.Logf("%s %s", p.Mode, p)
				}
			}
		})
	}
}

// TestGoodPagePushes checks what the hook records on the correct page:
// every call once, in order, in the step that made it, and with klaviyo.js
// loaded the stand-in sent the events to Klaviyo's client API.
func TestGoodPagePushes(t *testing.T) {
	b := needBrowser(t)
	srv := serveTestdata(t)
	rep, err := b.Check(context.Background(), srv.URL+"/good.html", Options{Steps: shopperSteps, Settle: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		Step        int
		Via, Metric string
	}
	for _, res := range rep.Results {
		var got []seen
		for _, p := range res.Pushes {
			m := p.Metric()
			if m == "" {
				m = p.Command()
			}
			got = append(got, seen{p.Step, p.Via, m})
		}
		want := []seen{
			{0, "klaviyo.push", "Viewed Product"}, {0, "klaviyo.push", "trackViewedItem"},
			{1, "klaviyo.push", "Added to Cart"},
			{3, "klaviyo.push", "identify"}, {3, "klaviyo.push", "Started Checkout"},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: pushes (-want +got):\n%s", res.Mode, d)
		}
		var outcomes []string
		for _, q := range res.Requests {
			outcomes = append(outcomes, q.Outcome+" "+q.URL[:strings.Index(q.URL, "klaviyo.com")+len("klaviyo.com")])
		}
		wantOut := []string{"blocked https://static.klaviyo.com"}
		if res.Mode == Loaded {
			wantOut = []string{"stand-in https://static.klaviyo.com", "recorded https://a.klaviyo.com", "recorded https://a.klaviyo.com", "recorded https://a.klaviyo.com", "recorded https://a.klaviyo.com"}
		}
		if d := cmp.Diff(wantOut, outcomes); d != "" {
			t.Errorf("%s: requests (-want +got):\n%s", res.Mode, d)
		}
	}
}

// errorRecorder is a testing.TB that keeps the errors Page reports.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestPageHelper checks the API for users' tests: the correct page
// reports nothing and returns its pushes; a broken page fails the test
// once per problem, naming the rule.
func TestPageHelper(t *testing.T) {
	needBrowser(t)
	srv := serveTestdata(t)
	res := Page(t, srv.URL+"/good.html", Options{Settle: 100 * time.Millisecond})
	if len(res) != 2 || res[0].Mode != Loaded || res[1].Mode != Blocked {
		t.Fatalf("got %d results, want loaded then blocked", len(res))
	}
	for _, r := range res {
		if len(r.Pushes) != 2 || r.Pushes[0].Metric() != "Viewed Product" || r.Pushes[1].Command() != "trackViewedItem" {
			t.Errorf("%s: pushes %+v", r.Mode, r.Pushes)
		}
	}
	rec := &errorRecorder{TB: t}
	Page(rec, srv.URL+"/value-sum.html", Options{Steps: shopperSteps[:1], Settle: 100 * time.Millisecond})
	if len(rec.errors) != 2 || !strings.Contains(rec.errors[0], "value-sum: Added to Cart $value") || !strings.Contains(rec.errors[1], "klaviyo.js blocked") {
		t.Errorf("errors reported:\n%s", strings.Join(rec.errors, "\n"))
	}
}
