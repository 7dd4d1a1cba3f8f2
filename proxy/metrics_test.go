package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/snippetd/snippetd/internal/metrics"
)

func TestProxyFeedsMetrics(t *testing.T) {
	m := metrics.New(nil)
	h := newHarness(t, Options{Metrics: m})
	cookie := []*http.Cookie{kxCookie("Ab9x.ABC123")}
	for _, r := range []req{
		{path: "/s/e", body: viewed, cookies: cookie},
		{path: "/s/e", body: viewed, cookies: cookie, headers: map[string]string{"Origin": "https://evil.example"}},
		{path: "/s/e", body: `{"events":[{"metric":"Placed Order","properties":{}}]}`, cookies: cookie},
		{path: "/s/e", body: `{"events":`, cookies: cookie},
		{path: "/s/e", body: viewed}, // no identifier: dropped
	} {
		h.do(r)
	}
	want := `
# HELP snippetd_browser_events_accepted_total Events from browsers taken in, by source (helper, proxy).
# TYPE snippetd_browser_events_accepted_total counter
snippetd_browser_events_accepted_total{source="proxy"} 1
# HELP snippetd_browser_events_rejected_total Events from browsers refused, by source and reason.
# TYPE snippetd_browser_events_rejected_total counter
snippetd_browser_events_rejected_total{reason="anonymous",source="proxy"} 1
snippetd_browser_events_rejected_total{reason="bad_origin",source="proxy"} 1
snippetd_browser_events_rejected_total{reason="forbidden_metric",source="proxy"} 1
snippetd_browser_events_rejected_total{reason="malformed",source="proxy"} 1
`
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(want), "snippetd_browser_events_accepted_total", "snippetd_browser_events_rejected_total"); err != nil {
		t.Error(err)
	}
}
