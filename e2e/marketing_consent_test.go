package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// subscriptionsFor returns the subscribe jobs (bulk and client) the fake
// accepted for email.
func subscriptionsFor(s *demoShop, email string) []klaviyotest.SubscriptionJob {
	var out []klaviyotest.SubscriptionJob
	for _, j := range s.fake.SubscriptionJobs() {
		for _, p := range j.Profiles {
			if p.Email == email {
				out = append(out, j)
			}
		}
	}
	return out
}

// waitSubscribed waits for the first subscription job for email, then as
// long again as the outbox may hold a partial job (its linger), and
// returns every job for email.
func waitSubscribed(t *testing.T, s *demoShop, email string) []klaviyotest.SubscriptionJob {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); len(subscriptionsFor(s, email)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no subscription job for %s reached the fake; jobs: %+v", email, s.fake.SubscriptionJobs())
		}
	}
	time.Sleep(1500 * time.Millisecond)
	return subscriptionsFor(s, email)
}

// checkoutWithOffers buys the kettle as email with the "email me offers"
// box ticked or not, and returns the order id.
func checkoutWithOffers(t *testing.T, s *demoShop, tab *Tab, email string, offers bool) string {
	t.Helper()
	tab.Navigate(s.origin + "/demo/products/kettle")
	tab.WaitHelper()
	tab.Click("#add-kettle")
	tab.WaitFor(`document.querySelector("#cart-count").textContent === "1"`)
	tab.Navigate(s.origin + "/demo/checkout")
	tab.WaitHelper()
	tab.Type("#email", email)
	tab.Type("#first_name", "Robin")
	if offers {
		tab.Click("#offers")
	}
	var ticked bool
	tab.Eval(`document.querySelector("#offers").checked`, &ticked)
	if ticked != offers {
		t.Fatalf("the offers box is %v, want %v", ticked, offers)
	}
	tab.Do(chromedp.Click(chromedp.CSS("#place-order")), chromedp.WaitVisible(chromedp.CSS("#order-id")))
	var id string
	tab.Eval(`document.querySelector("#order-id").textContent`, &id)
	return id
}

// TestDemoCheckoutOffersBox: the demo checkout with "email me offers"
// ticked ends as one subscription job at Klaviyo for that email (email
// channel, the order's source, not a historical import); unticked, the
// order goes through and no job is sent.
func TestDemoCheckoutOffersBox(t *testing.T) {
	s := startDemoShop(t, false)
	tab := NewTab(t)
	freshCookies(t, tab)

	const yes, no = "offers-yes@example.com", "offers-no@example.com"
	checkoutWithOffers(t, s, tab, no, false)
	freshCookies(t, tab)
	checkoutWithOffers(t, s, tab, yes, true)

	jobs := waitSubscribed(t, s, yes)
	if len(jobs) != 1 {
		t.Fatalf("%d subscription jobs for %s, want 1: %+v", len(jobs), yes, jobs)
	}
	j := jobs[0]
	if j.Path != klaviyotest.PathSubscribeBulk || j.HistoricalImport || j.Source != "snippetd order" || !j.Profiles[0].EmailChannel || j.Profiles[0].SMSChannel {
		t.Errorf("the ticked box was sent as %+v", j)
	}
	// Both orders' Placed Order events arrived, so the unticked one had
	// its chance to send a job.
	placed := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); !placed[yes] || !placed[no]; time.Sleep(50 * time.Millisecond) {
		for _, e := range s.fake.EventsFor("Placed Order") {
			placed[strings.TrimPrefix(e.ProfileKey, "email:")] = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("Placed Order events: %v", placed)
		}
	}
	if jobs := subscriptionsFor(s, no); len(jobs) != 0 {
		t.Errorf("the unticked box sent %+v", jobs)
	}
}

// TestDemoNewsletterSignup: the footer's newsletter signup reaches
// Klaviyo as a subscription job, in direct mode posted to the shop (which
// subscribes from the server) and in proxy mode from the browser to the
// proxy's {prefix}subscribe.
func TestDemoNewsletterSignup(t *testing.T) {
	for _, c := range []struct {
		name   string
		proxy  bool
		source string
	}{
		{"direct", false, "Larkspur Goods newsletter"},
		{"proxy", true, "snippetd signup: newsletter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := startDemoShop(t, c.proxy)
			tab := NewTab(t)
			freshCookies(t, tab)
			if c.proxy {
				blockKlaviyo(t, tab)
				tab.Navigate(s.origin + "/demo/mode?to=proxy&back=" + url.QueryEscape("/demo/products/mug"))
			} else {
				tab.Navigate(s.origin + "/demo/products/mug")
			}
			tab.WaitHelper()
			var endpoint string
			tab.Eval(`document.querySelector("#newsletter").getAttribute("data-demo-subscribe") || ""`, &endpoint)
			if c.proxy != strings.HasSuffix(endpoint, "subscribe") {
				t.Fatalf("newsletter form posts to %q from the browser in %s mode", endpoint, c.name)
			}
			email := "news-" + c.name + "@example.com"
			tab.Type("#newsletter-email", email)
			tab.Click("#newsletter-submit")
			tab.WaitFor(`((document.querySelector("#toast") || {}).textContent || "").startsWith("Subscribed")`)
			jobs := waitSubscribed(t, s, email)
			if len(jobs) != 1 || jobs[0].Source != c.source || jobs[0].Path != klaviyotest.PathSubscribeBulk || jobs[0].HistoricalImport {
				t.Errorf("newsletter signup sent as %+v, want one bulk job with source %q", jobs, c.source)
			}
		})
	}
}
