package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/snippetd/snippetd/internal/apperr"
	"github.com/snippetd/snippetd/internal/httpx"
	"github.com/snippetd/snippetd/internal/outbox"
)

// Job is one stored outbox job as the inspector shows it: the consent and
// profile work (subscriptions, unsubscriptions, profile upserts, erasures,
// back-in-stock requests) that goes to Klaviyo beside the events.
type Job struct {
	outbox.JobRecord
	// What names the kind for people ("subscription", "back in stock").
	What string `json:"what"`
}

// jobWhat are the kinds' names on the page.
var jobWhat = map[string]string{
	outbox.JobSubscribe:   "subscription",
	outbox.JobUnsubscribe: "unsubscription",
	outbox.JobProfile:     "profile",
	outbox.JobErase:       "erasure",
	outbox.JobBackInStock: "back in stock",
}

// JobsView is the inspector's jobs page.
type JobsView struct {
	Query     outbox.JobQuery
	Jobs      []Job
	LocalSink bool
}

// Jobs returns the latest stored jobs matching q, newest first (none
// without a database).
func (in *Inspector) Jobs(ctx context.Context, q outbox.JobQuery) ([]Job, error) {
	if in.DB == nil {
		return nil, nil
	}
	rs, err := outbox.ListJobs(ctx, in.DB, q)
	if err != nil {
		return nil, err
	}
	out := make([]Job, len(rs))
	for i, r := range rs {
		out[i] = Job{JobRecord: r, What: jobWhat[r.Kind]}
	}
	return out, nil
}

// jobQueryOf reads the jobs filter of the query string: kind, state,
// profile, limit.
func jobQueryOf(r *http.Request) (outbox.JobQuery, error) {
	q := r.URL.Query()
	jq := outbox.JobQuery{Kind: q.Get("kind"), State: q.Get("state"), Profile: q.Get("profile")}
	if jq.Kind != "" && !slices.Contains(outbox.JobKinds, jq.Kind) {
		return jq, apperr.FieldErrorf("kind", "must be one of %s", strings.Join(outbox.JobKinds, ", "))
	}
	switch jq.State {
	case "", outbox.StatePending, outbox.StateDelivered, outbox.StateDead:
	default:
		return jq, apperr.FieldErrorf("state", "must be pending, delivered or dead")
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > outbox.MaxListLimit {
			return jq, apperr.FieldErrorf("limit", "must be a whole number from 1 to %d", outbox.MaxListLimit)
		}
		jq.Limit = n
	}
	return jq, nil
}

// handleJobs serves GET /debug/events/jobs: the latest outbox jobs with
// their state, attempts and Klaviyo's last answer, as HTML or JSON
// (Accept: application/json). Query: kind, state, profile, limit.
func (h *Handler) handleJobs(w http.ResponseWriter, r *http.Request) {
	q, err := jobQueryOf(r)
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	jobs, err := h.in.Jobs(r.Context(), q)
	if err != nil {
		httpx.Error(w, r, h.logger, err)
		return
	}
	if jobs == nil {
		jobs = []Job{}
	}
	if httpx.WantsJSON(r.Header.Get("Accept")) {
		writeJSON(w, http.StatusOK, map[string]any{"local_sink": h.in.LocalSink(), "jobs": jobs})
		return
	}
	ctx := pageContext(w, r)
	h.renderPage(w, r, ctx, JobsPage(JobsView{Query: q, Jobs: jobs, LocalSink: h.in.LocalSink()}))
}

// jobSummary is a job's payload on one line, with its group (a
// subscription's list, channels and source) first when it has one.
func jobSummary(j Job) string {
	s := string(j.Payload)
	var b bytes.Buffer
	if json.Compact(&b, j.Payload) == nil {
		s = b.String()
	}
	if j.Group != "" {
		s = j.Group + " " + s
	}
	return short(s, 160)
}
