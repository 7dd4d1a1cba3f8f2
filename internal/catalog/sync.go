package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/shop"
)

// Catalog API paths and limits (klaviyo-facts.md, "Catalog"): bulk jobs
// of at most 100 items, 75 requests a second and 750 a minute.
const (
	PathBulkCreate = "/api/catalog-item-bulk-create-jobs"
	PathBulkUpdate = "/api/catalog-item-bulk-update-jobs"
	PathBulkDelete = "/api/catalog-item-bulk-delete-jobs"
	// JobItems is the most items (or variants) one bulk job may carry.
	JobItems = 100

	// Variant jobs have the same size and rate limits, counted apart.
	PathVariantBulkCreate = "/api/catalog-variant-bulk-create-jobs"
	PathVariantBulkUpdate = "/api/catalog-variant-bulk-update-jobs"
	PathVariantBulkDelete = "/api/catalog-variant-bulk-delete-jobs"
)

// variantPaths are the variant job paths, which take "variants" and
// answer per-variant errors under /data/attributes/variants/data/.
var variantPaths = map[string]bool{PathVariantBulkCreate: true, PathVariantBulkUpdate: true, PathVariantBulkDelete: true}

// APIBuckets is the Catalog API's documented rate limit.
var APIBuckets = klaviyo.Buckets{Burst: 75, Steady: 750}

// APIClient is the part of the Klaviyo client the sync uses: one request
// with the key, revision and JSON:API content type, classified, and the
// per-path token buckets. *klaviyo.Client implements it.
type APIClient interface {
	Do(ctx context.Context, method, path string, body []byte) (klaviyo.Outcome, []byte)
	SetBuckets(path string, l klaviyo.Buckets)
}

// SyncOptions control one `snippetd catalog sync` run.
type SyncOptions struct {
	// DryRun prints the plan and sends nothing.
	DryRun bool
	// Delete deletes items that left the source instead of unpublishing
	// them (unpublished items keep their history and can come back).
	Delete bool
	// Out receives the plan and the summary (nil: discarded).
	Out io.Writer
	// MaxAttempts bounds the tries of one job on retryable answers
	// (default 8).
	MaxAttempts int
	// JobPoll is the first wait between looks at a job still processing
	// (default 1s, doubling up to 30s); JobTimeout gives up on it
	// (default 10m).
	JobPoll, JobTimeout time.Duration
}

// SyncResult counts what a sync did (or, for a dry run, would do).
type SyncResult struct {
	Create, Update, Unpublish, Delete int
	// Unchanged items were already in Klaviyo as they are now.
	Unchanged int
	// Failed items were rejected by Klaviyo; they are retried next run.
	Failed int
	// VariantCreate, VariantUpdate and VariantDelete count the variants
	// sent (variants that left the source are deleted); VariantUnchanged
	// those already in Klaviyo as they are.
	VariantCreate, VariantUpdate, VariantDelete, VariantUnchanged int
	// Jobs is the number of bulk jobs sent (item and variant jobs).
	Jobs int
	// Errors are the first few item errors Klaviyo reported.
	Errors []string
}

// apiItem is a catalog item as the Catalog API takes it. Categories and
// inventory are not sent: the API keeps them on separate category and
// variant resources.
type apiItem struct {
	ExternalID      string     `json:"external_id,omitempty"`
	IntegrationType string     `json:"integration_type,omitempty"`
	CatalogType     string     `json:"catalog_type,omitempty"`
	Title           string     `json:"title,omitempty"`
	Description     string     `json:"description,omitempty"`
	URL             string     `json:"url,omitempty"`
	ImageFullURL    string     `json:"image_full_url,omitempty"`
	Price           shop.Money `json:"price,omitzero"`
	Published       *bool      `json:"published,omitempty"`
}

// apiID is Klaviyo's id of the item with this external id in the custom
// integration's default catalog.
func apiID(externalID string) string { return "$custom:::$default:::" + externalID }

func attrsOf(it Item) apiItem {
	return apiItem{Title: it.Title, Description: it.Description, URL: it.Link, ImageFullURL: it.ImageLink, Price: it.Price}
}

// contentHash identifies what was sent for an item, so that a later run
// sends only what changed.
func contentHash(it Item) string {
	b, _ := json.Marshal(attrsOf(it))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// syncState is what catalog_sync remembers of one item.
type syncState struct {
	hash      string
	published bool
}

type op struct {
	kind string // create, update, unpublish, delete
	id   string
	it   Item
	hash string
	// v is set for variant ops (their id is the variant's); restock marks
	// an update that sends the inventory only.
	v       *Variant
	restock bool
}

func (s store) syncState(ctx context.Context) (map[string]syncState, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT external_id, hash, published FROM catalog_sync`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]syncState{}
	for rows.Next() {
		var id, h string
		var pub int
		if err := rows.Scan(&id, &h, &pub); err != nil {
			return nil, err
		}
		out[id] = syncState{h, pub == 1}
	}
	return out, rows.Err()
}

// recordSync stores the state of the items Klaviyo accepted.
func (s store) recordSync(ctx context.Context, ops []op) error {
	if len(ops) == 0 {
		return nil
	}
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixMilli()
	for _, o := range ops {
		if o.v != nil {
			if o.hash == "" && o.kind != "delete" {
				continue // a restock of a variant Klaviyo may not have whole
			}
			if o.kind == "delete" {
				_, err = tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM catalog_sync_variants WHERE external_id = ?`), o.id)
			} else {
				_, err = tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO catalog_sync_variants (external_id, item_id, hash, synced_at) VALUES (?, ?, ?, ?)
					ON CONFLICT (external_id) DO UPDATE SET item_id = excluded.item_id, hash = excluded.hash, synced_at = excluded.synced_at`), o.id, o.v.Item, o.hash, now)
			}
			if err != nil {
				return err
			}
			continue
		}
		switch o.kind {
		case "delete":
			_, err = tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM catalog_sync WHERE external_id = ?`), o.id)
		case "unpublish":
			_, err = tx.ExecContext(ctx, s.d.Rebind(`UPDATE catalog_sync SET published = 0, synced_at = ? WHERE external_id = ?`), now, o.id)
		default:
			_, err = tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO catalog_sync (external_id, hash, published, synced_at) VALUES (?, ?, 1, ?)
				ON CONFLICT (external_id) DO UPDATE SET hash = excluded.hash, published = 1, synced_at = excluded.synced_at`), o.id, o.hash, now)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ErrSyncInFeedMode is returned by Sync when the catalog is served as a
// feed.
var ErrSyncInFeedMode = errors.New("catalog sync refuses to run: SNIPPETD_CATALOG_MODE is feed, so this catalog is served at /catalog.json and /catalog.xml. " +
	"Klaviyo fills one catalog from a custom feed or from the Catalog API, never both: items sent by the API would compete with the feed's, " +
	"and Klaviyo's guide asks to disable the custom feed before using the API. To switch, remove the feed in Klaviyo, set SNIPPETD_CATALOG_MODE=api " +
	"(the feed then answers 409), and run the sync again")

// Sync makes Klaviyo's catalog (through the Catalog API) match the
// current snapshot: items new since the last run are created, changed
// ones updated, and items that left the source unpublished (or deleted
// with opts.Delete), in bulk jobs of at most 100 items under the API's
// rate limit. What Klaviyo accepted is remembered in catalog_sync, so a
// second run with the same products sends nothing. Items Klaviyo rejects
// are reported and tried again next run.
func (c *Catalog) Sync(ctx context.Context, api APIClient, opts SyncOptions) (SyncResult, error) {
	var res SyncResult
	if c.opts.Mode != ModeAPI {
		return res, ErrSyncInFeedMode
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.JobPoll <= 0 {
		opts.JobPoll = time.Second
	}
	if opts.JobTimeout <= 0 {
		opts.JobTimeout = 10 * time.Minute
	}
	snap, release := c.Acquire()
	defer release()
	if snap == nil {
		return res, errors.New("catalog not loaded")
	}
	state, err := c.store.syncState(ctx)
	if err != nil {
		return res, err
	}
	var creates, updates, removals []op
	err = snap.Each(func(it Item) error {
		h := contentHash(it)
		st, known := state[it.ID]
		delete(state, it.ID)
		switch {
		case !known:
			creates = append(creates, op{kind: "create", id: it.ID, it: it, hash: h})
		case st.hash != h || !st.published:
			updates = append(updates, op{kind: "update", id: it.ID, it: it, hash: h})
		default:
			res.Unchanged++
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	gone := make([]string, 0, len(state))
	for id, st := range state {
		if opts.Delete || st.published {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		kind := "unpublish"
		if opts.Delete {
			kind = "delete"
		}
		removals = append(removals, op{kind: kind, id: id})
	}
	vcreates, vupdates, vdeletes, err := c.planVariants(ctx, snap, &res)
	if err != nil {
		return res, err
	}
	res.Create, res.Update = len(creates), len(updates)
	if opts.Delete {
		res.Delete = len(removals)
	} else {
		res.Unpublish = len(removals)
	}
	printPlan(opts.Out, opts.DryRun, res, creates, updates, removals)
	if opts.DryRun {
		return res, nil
	}
	for _, p := range []string{PathBulkCreate, PathBulkUpdate, PathBulkDelete, PathVariantBulkCreate, PathVariantBulkUpdate, PathVariantBulkDelete} {
		api.SetBuckets(p, APIBuckets)
	}
	r := syncRun{c: c, api: api, opts: opts, res: &res}
	// Creates whose item already exists (state lost, or created by hand)
	// become updates, and updates of items deleted in Klaviyo become
	// creates: one extra round each. Variants follow their items (a
	// variant needs its item) and go before items are deleted (which
	// takes their variants in Klaviyo).
	retryAsUpdate := r.send(ctx, PathBulkCreate, creates)
	retryAsCreate := r.send(ctx, PathBulkUpdate, append(updates, removalsOf(removals, "unpublish")...))
	r.flip(ctx, PathBulkUpdate, "update", retryAsUpdate)
	r.flip(ctx, PathBulkCreate, "create", retryAsCreate)
	vRetryAsUpdate := r.send(ctx, PathVariantBulkCreate, vcreates)
	vRetryAsCreate := r.send(ctx, PathVariantBulkUpdate, vupdates)
	r.send(ctx, PathVariantBulkDelete, vdeletes)
	r.flip(ctx, PathVariantBulkUpdate, "update", vRetryAsUpdate)
	r.flip(ctx, PathVariantBulkCreate, "create", vRetryAsCreate)
	r.send(ctx, PathBulkDelete, removalsOf(removals, "delete"))
	fmt.Fprintf(opts.Out, "sent %d jobs: %d created, %d updated, %d unpublished, %d deleted, %d unchanged, %d failed; variants: %d created, %d updated, %d deleted, %d unchanged\n",
		res.Jobs, res.Create, res.Update, res.Unpublish, res.Delete, res.Unchanged, res.Failed,
		res.VariantCreate, res.VariantUpdate, res.VariantDelete, res.VariantUnchanged)
	if r.err != nil {
		return res, r.err
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("%d items were not accepted (they are retried next run); first: %s", res.Failed, strings.Join(res.Errors, "; "))
	}
	return res, nil
}

// flip sends again, as kind, the ops the first try refused the other way.
func (r *syncRun) flip(ctx context.Context, path, kind string, ops []op) {
	for i := range ops {
		ops[i].kind = kind
		r.countOp(ops[i], 1)
	}
	r.send(ctx, path, ops)
}

func removalsOf(ops []op, kind string) []op {
	var out []op
	for _, o := range ops {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func printPlan(w io.Writer, dry bool, res SyncResult, creates, updates, removals []op) {
	verb := "will send"
	if dry {
		verb = "dry run, would send"
	}
	jobs := func(n int) int { return (n + JobItems - 1) / JobItems }
	fmt.Fprintf(w, "catalog sync plan (%s): create %d, update %d, unpublish %d, delete %d, unchanged %d; variants: create %d, update %d, delete %d, unchanged %d; %d bulk jobs of at most %d items or variants\n",
		verb, res.Create, res.Update, res.Unpublish, res.Delete, res.Unchanged,
		res.VariantCreate, res.VariantUpdate, res.VariantDelete, res.VariantUnchanged,
		jobs(len(creates))+jobs(len(updates)+res.Unpublish)+jobs(res.Delete)+
			jobs(res.VariantCreate)+jobs(res.VariantUpdate)+jobs(res.VariantDelete), JobItems)
	for _, g := range []struct {
		name string
		ops  []op
	}{{"create", creates}, {"update", updates}, {"unpublish", removalsOf(removals, "unpublish")}, {"delete", removalsOf(removals, "delete")}} {
		if len(g.ops) == 0 {
			continue
		}
		ids := make([]string, 0, 10)
		for _, o := range g.ops[:min(10, len(g.ops))] {
			ids = append(ids, o.id)
		}
		more := ""
		if len(g.ops) > 10 {
			more = fmt.Sprintf(" and %d more", len(g.ops)-10)
		}
		fmt.Fprintf(w, "  %-9s %s%s\n", g.name+":", strings.Join(ids, ", "), more)
	}
}

type syncRun struct {
	c    *Catalog
	api  APIClient
	opts SyncOptions
	res  *SyncResult
	err  error // the first error that stopped a job (network, permanent)
}

// jobDoc is the body of a bulk job request.
type jobDoc struct {
	Data struct {
		Type       string `json:"type"`
		Attributes struct {
			Items    *jobList `json:"items,omitempty"`
			Variants *jobList `json:"variants,omitempty"`
		} `json:"attributes"`
	} `json:"data"`
}

type jobList struct {
	Data []jobItem `json:"data"`
}

type jobItem struct {
	Type          string         `json:"type"`
	ID            string         `json:"id,omitempty"`
	Attributes    any            `json:"attributes,omitempty"`
	Relationships *relationships `json:"relationships,omitempty"`
}

// relationships ties a created variant to its item.
type relationships struct {
	Item struct {
		Data struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"data"`
	} `json:"item"`
}

// jobAnswer is the part of a job resource the sync reads.
type jobAnswer struct {
	Data struct {
		ID         string `json:"id"`
		Attributes struct {
			Status string `json:"status"`
			Errors []struct {
				Detail string `json:"detail"`
				Source struct {
					Pointer string `json:"pointer"`
				} `json:"source"`
			} `json:"errors"`
		} `json:"attributes"`
	} `json:"data"`
}

func jobBody(path string, ops []op) ([]byte, error) {
	if variantPaths[path] {
		return variantJobBody(path, ops)
	}
	var doc jobDoc
	doc.Data.Attributes.Items = &jobList{}
	doc.Data.Type = map[string]string{PathBulkCreate: "catalog-item-bulk-create-job", PathBulkUpdate: "catalog-item-bulk-update-job", PathBulkDelete: "catalog-item-bulk-delete-job"}[path]
	t := true
	f := false
	for _, o := range ops {
		ji := jobItem{Type: "catalog-item"}
		switch o.kind {
		case "create":
			a := attrsOf(o.it)
			a.ExternalID, a.IntegrationType, a.CatalogType, a.Published = o.id, "$custom", "$default", &t
			ji.Attributes = &a
		case "update":
			a := attrsOf(o.it)
			a.Published = &t
			ji.ID, ji.Attributes = apiID(o.id), &a
		case "unpublish":
			ji.ID, ji.Attributes = apiID(o.id), &apiItem{Published: &f}
		case "delete":
			ji.ID = apiID(o.id)
		}
		doc.Data.Attributes.Items.Data = append(doc.Data.Attributes.Items.Data, ji)
	}
	return json.Marshal(doc)
}

// send runs ops as jobs of at most JobItems on path and records what was
// accepted. It returns the ops Klaviyo rejected because the item already
// exists (for creates) or does not exist (for updates), for the caller to
// retry the other way.
func (r *syncRun) send(ctx context.Context, path string, ops []op) (flip []op) {
	for start := 0; start < len(ops) && r.err == nil; start += JobItems {
		batch := ops[start:min(start+JobItems, len(ops))]
		body, err := jobBody(path, batch)
		if err != nil {
			r.err = err
			return flip
		}
		ans, err := r.post(ctx, path, body)
		if err != nil {
			r.err = err
			return flip
		}
		r.res.Jobs++
		failed := map[int]string{}
		for _, e := range ans.Data.Attributes.Errors {
			i, ok := itemIndex(e.Source.Pointer)
			if !ok || i >= len(batch) {
				r.err = fmt.Errorf("Catalog API job %s failed: %s", ans.Data.ID, e.Detail)
				return flip
			}
			failed[i] = e.Detail
		}
		var ok []op
		for i, o := range batch {
			detail, bad := failed[i]
			switch {
			case !bad:
				ok = append(ok, o)
			case o.kind == "create" && strings.Contains(detail, "already exists"),
				o.kind == "update" && strings.Contains(detail, "No catalog "+kindNoun(o)):
				r.countOp(o, -1)
				flip = append(flip, o)
			case o.kind == "unpublish" && strings.Contains(detail, "No catalog item"),
				o.kind == "delete" && strings.Contains(detail, "No catalog "+kindNoun(o)):
				ok = append(ok, op{kind: "delete", id: o.id, v: o.v}) // gone already: forget it
			default:
				r.res.Failed++
				r.countOp(o, -1)
				if len(r.res.Errors) < 5 {
					r.res.Errors = append(r.res.Errors, o.id+": "+detail)
				}
			}
		}
		if err := r.c.store.recordSync(ctx, ok); err != nil {
			r.err = err
			return flip
		}
	}
	return flip
}

// kindNoun is what Klaviyo's errors call the op's resource.
func kindNoun(o op) string {
	if o.v != nil {
		return "variant"
	}
	return "item"
}

// countOp adjusts the count of o's kind, for items or variants.
func (r *syncRun) countOp(o op, n int) {
	if o.v == nil {
		r.count(o.kind, n)
		return
	}
	switch o.kind {
	case "create":
		r.res.VariantCreate += n
	case "update":
		r.res.VariantUpdate += n
	case "delete":
		r.res.VariantDelete += n
	}
}

func (r *syncRun) count(kind string, n int) {
	switch kind {
	case "create":
		r.res.Create += n
	case "update":
		r.res.Update += n
	case "unpublish":
		r.res.Unpublish += n
	case "delete":
		r.res.Delete += n
	}
}

// itemIndex reads i from "/data/attributes/items/data/i[/...]".
func itemIndex(pointer string) (int, bool) {
	rest, ok := strings.CutPrefix(pointer, "/data/attributes/items/data/")
	if !ok {
		if rest, ok = strings.CutPrefix(pointer, "/data/attributes/variants/data/"); !ok {
			return 0, false
		}
	}
	rest, _, _ = strings.Cut(rest, "/")
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0
}

// post sends one job, retrying retryable answers after the wait Klaviyo
// (or the client's backoff) gives, then waits until the job is done.
func (r *syncRun) post(ctx context.Context, path string, body []byte) (jobAnswer, error) {
	var ans jobAnswer
	for attempt := 1; ; attempt++ {
		out, resp := r.api.Do(ctx, http.MethodPost, path, body)
		switch out.Kind {
		case klaviyo.Delivered:
			if err := json.Unmarshal(resp, &ans); err != nil {
				return ans, fmt.Errorf("Catalog API %s: unreadable job answer: %v", path, err)
			}
			return r.await(ctx, path, ans)
		case klaviyo.Permanent:
			return ans, fmt.Errorf("Catalog API %s rejected the job (HTTP %d): %s", path, out.Status, out.Detail)
		}
		if attempt >= r.opts.MaxAttempts {
			return ans, fmt.Errorf("Catalog API %s: gave up after %d attempts: %s", path, attempt, out.Detail)
		}
		slog.Debug("catalog sync: retrying job", "path", path, "status", out.Status, "after", out.RetryAfter)
		if err := sleep(ctx, out.RetryAfter); err != nil {
			return ans, err
		}
	}
}

// await polls a job until it is complete (Klaviyo runs bulk jobs
// asynchronously; per-item errors appear on the finished job).
func (r *syncRun) await(ctx context.Context, path string, ans jobAnswer) (jobAnswer, error) {
	wait, deadline := r.opts.JobPoll, time.Now().Add(r.opts.JobTimeout)
	for {
		switch ans.Data.Attributes.Status {
		case "complete":
			return ans, nil
		case "cancelled":
			return ans, fmt.Errorf("Catalog API job %s was cancelled", ans.Data.ID)
		}
		if time.Now().After(deadline) {
			return ans, fmt.Errorf("Catalog API job %s still %q after %s", ans.Data.ID, ans.Data.Attributes.Status, r.opts.JobTimeout)
		}
		if err := sleep(ctx, wait); err != nil {
			return ans, err
		}
		wait = min(2*wait, 30*time.Second)
		out, resp := r.api.Do(ctx, http.MethodGet, path+"/"+ans.Data.ID, nil)
		if out.Kind == klaviyo.Permanent {
			return ans, fmt.Errorf("Catalog API job %s: HTTP %d: %s", ans.Data.ID, out.Status, out.Detail)
		}
		if out.Kind == klaviyo.Delivered {
			var next jobAnswer
			if err := json.Unmarshal(resp, &next); err != nil {
				return ans, fmt.Errorf("Catalog API job %s: unreadable answer: %v", ans.Data.ID, err)
			}
			ans = next
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
