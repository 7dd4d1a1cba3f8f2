package inspect

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/metrics"
	"github.com/snippetd/snippetd/internal/strictjson"
)

// maxReportPushes caps one report, so that a page cannot flood the ring
// (it keeps a fixed number of events) in one request.
const maxReportPushes = 100

// ReportHandler takes what the demo's klaviyo.js stand-in reports a page
// ran: {"view","profile","pushes":[[...]]}, as JSON or as text/plain (what
// sendBeacon sends without a CORS preflight). Pushes the server rendered
// into that view are marked as run; the others enter the ring as helper
// events. It answers 204. The demo shop mounts it (POST /demo/onsite),
// since the stand-in only runs there.
type ReportHandler struct {
	// Ring takes the pushes (nil: reports are checked and dropped).
	Ring *Ring
	// Metrics counts accepted and rejected pushes (nil: not counted).
	Metrics metrics.BrowserEvents
	// Logger receives internal errors (nil: discarded).
	Logger *slog.Logger
}

// ServeHTTP checks and records one report.
func (h *ReportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	observe := h.Metrics
	if observe == nil {
		observe = metrics.Nop{}
	}
	reject := func(err error) {
		observe.ObserveRejected(SourceHelper, apperr.ErrorCode(err), 1)
		httpx.Error(w, r, h.Logger, err)
	}
	body, err := httpx.ReadBody(w, r, 64<<10, "text/plain", "application/json")
	if err != nil {
		reject(err)
		return
	}
	var rep struct {
		View    string            `json:"view"`
		Profile string            `json:"profile"`
		Pushes  []json.RawMessage `json:"pushes"`
	}
	if err := strictjson.Decode(body, &rep); err != nil {
		reject(err)
		return
	}
	switch {
	case len(rep.Pushes) > maxReportPushes:
		reject(apperr.FieldErrorf("pushes", "at most %d per report", maxReportPushes))
		return
	case len(rep.View) > 64 || len(rep.Profile) > 256:
		reject(apperr.FieldErrorf("view", "view must be at most 64 bytes and profile 256"))
		return
	}
	for i, p := range rep.Pushes {
		var arr []json.RawMessage
		var method string
		if json.Unmarshal(p, &arr) != nil || len(arr) == 0 || json.Unmarshal(arr[0], &method) != nil || method == "" {
			reject(apperr.FieldErrorf(fmt.Sprintf("pushes[%d]", i), "must be an array starting with a method name, such as [\"track\", \"Viewed Product\", {...}]"))
			return
		}
	}
	if h.Ring != nil {
		n := h.Ring.RecordPushes(rep.View, SourceHelper, rep.Pushes, rep.Profile)
		observe.ObserveAccepted(SourceHelper, n)
	}
	w.WriteHeader(http.StatusNoContent)
}
