package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/snippetd/snippetd/internal/db"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// writeCatalog writes n products p000... as JSON lines; edit changes the
// line of product i.
func writeCatalog(t *testing.T, path string, ids []string, edit map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		desc := "about " + id
		if e, ok := edit[id]; ok {
			desc = e
		}
		fmt.Fprintf(&b, `{"id":%q,"name":"Product %s","url":"https://s.example/p/%s","image_url":"https://s.example/i/%s.jpg","description":%q,"price":12.5,"categories":["c"]}`+"\n", id, id, id, id, desc)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("p%03d", i))
	}
	return out
}

// klaviyoState is what the fake holds: external id → (description,
// published).
func klaviyoState(fake *klaviyotest.Server) map[string]string {
	out := map[string]string{}
	for id, attrs := range fake.CatalogItems() {
		pub, _ := attrs["published"].(bool)
		out[strings.TrimPrefix(id, "$custom:::$default:::")] = fmt.Sprintf("%v|%v|%v", attrs["description"], attrs["price"], pub)
	}
	return out
}

func wantState(ids []string, edit map[string]string, unpublished ...string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		desc := "about " + id
		if e, ok := edit[id]; ok {
			desc = e
		}
		out[id] = desc + "|12.5|true"
	}
	for _, id := range unpublished {
		out[id] = "about " + id + "|12.5|false"
	}
	return out
}

func TestSyncMatchesKlaviyoAndSendsNothingTwice(t *testing.T) {
	for name, d := range testDBs(t) {
		t.Run(name, func(t *testing.T) { testSync(t, d) })
	}
}

func testSync(t *testing.T, d *db.DB) {
	ctx := context.Background()
	fake := klaviyotest.NewServer(t)
	client, err := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.jsonl")
	all := ids(0, 250)
	writeCatalog(t, path, all, nil)
	c, err := Open(ctx, Options{Mode: ModeAPI, File: path, DB: d, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	requests := func() int { return len(fake.Requests()) }

	// Dry run: a plan, no request.
	var out bytes.Buffer
	res, err := c.Sync(ctx, client, SyncOptions{DryRun: true, Out: &out})
	if err != nil || res.Create != 250 || requests() != 0 || !strings.Contains(out.String(), "create 250") || !strings.Contains(out.String(), "3 bulk jobs") {
		t.Fatalf("dry run: %+v %v, %d requests, output:\n%s", res, err, requests(), out.String())
	}

	// First run: 250 creates in three jobs of at most 100.
	res, err = c.Sync(ctx, client, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(SyncResult{Create: 250, Jobs: 3}, res); d != "" {
		t.Errorf("first run (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantState(all, nil), klaviyoState(fake)); d != "" {
		t.Errorf("Klaviyo after the first run (-want +got):\n%s", d)
	}
	for _, r := range fake.Requests() {
		var doc struct {
			Data struct {
				Attributes struct{ Items struct{ Data []any } }
			}
		}
		json.Unmarshal(r.Body, &doc)
		if n := len(doc.Data.Attributes.Items.Data); r.Method == "POST" && (n == 0 || n > 100) {
			t.Errorf("job with %d items", n)
		}
		if r.Status != 202 && r.Status != 200 {
			t.Errorf("%s %s answered %d: %s", r.Method, r.Path, r.Status, r.Body)
		}
	}

	// Second run: nothing to send.
	before := requests()
	res, err = c.Sync(ctx, client, SyncOptions{})
	if err != nil || requests() != before || !cmp.Equal(res, SyncResult{Unchanged: 250}) {
		t.Errorf("second run sent %d requests: %+v %v", requests()-before, res, err)
	}

	// The source changes: one edited, two removed, one added.
	edit := map[string]string{"p007": "new words"}
	next := append(append(append([]string{}, all[:10]...), all[12:]...), "p999")
	writeCatalog(t, path, next, edit)
	if err := c.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	before = requests()
	res, err = c.Sync(ctx, client, SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(SyncResult{Create: 1, Update: 1, Unpublish: 2, Unchanged: 247, Jobs: 2}, res); d != "" {
		t.Errorf("third run (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantState(next, edit, "p010", "p011"), klaviyoState(fake)); d != "" {
		t.Errorf("Klaviyo after the change (-want +got):\n%s", d)
	}
	before = requests()
	if res, err := c.Sync(ctx, client, SyncOptions{}); err != nil || requests() != before {
		t.Errorf("fourth run sent %d requests: %+v %v", requests()-before, res, err)
	}

	// --delete removes the unpublished items for good.
	res, err = c.Sync(ctx, client, SyncOptions{Delete: true})
	if err != nil || res.Delete != 2 {
		t.Fatalf("delete run: %+v %v", res, err)
	}
	if d := cmp.Diff(wantState(next, edit), klaviyoState(fake)); d != "" {
		t.Errorf("Klaviyo after --delete (-want +got):\n%s", d)
	}

	// Lost state (a fresh database): creates of existing items become
	// updates, and Klaviyo still ends up matching the source.
	if _, err := d.ExecContext(ctx, `DELETE FROM catalog_sync`); err != nil {
		t.Fatal(err)
	}
	res, err = c.Sync(ctx, client, SyncOptions{})
	if err != nil || res.Update != len(next) || res.Create != 0 {
		t.Errorf("after lost state: %+v %v", res, err)
	}
	if d := cmp.Diff(wantState(next, edit), klaviyoState(fake)); d != "" {
		t.Errorf("Klaviyo after lost state (-want +got):\n%s", d)
	}
}

func TestSyncRetriesThrottledJobs(t *testing.T) {
	ctx := context.Background()
	fake := klaviyotest.NewServer(t)
	fake.SetLimits(PathBulkCreate, klaviyotest.Limits{Burst: 1, Steady: 1000})
	client, _ := klaviyo.NewClient(klaviyotest.PrivateKey, klaviyo.Options{BaseURL: fake.URL})
	path := filepath.Join(t.TempDir(), "p.jsonl")
	writeCatalog(t, path, ids(0, 300), nil)
	c, err := Open(ctx, Options{Mode: ModeAPI, File: path, DB: testDBs(t)["sqlite"], Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The client would pace jobs itself; let through what it would send
	// at its documented limit, and let the fake's tighter limit throttle.
	syncClient := unlimited{client}
	res, err := c.Sync(ctx, syncClient, SyncOptions{})
	if err != nil || res.Create != 300 {
		t.Fatalf("%+v %v", res, err)
	}
	if st := fake.StatsFor(PathBulkCreate); st.Throttled == 0 || len(fake.CatalogItems()) != 300 {
		t.Errorf("throttled %d, items %d; want some 429s retried and all 300 items", st.Throttled, len(fake.CatalogItems()))
	}
}

// unlimited keeps the client's own rate limiter off so the fake's 429s
// are exercised.
type unlimited struct{ *klaviyo.Client }

func (u unlimited) SetBuckets(path string, _ klaviyo.Buckets) {
	u.Client.SetBuckets(path, klaviyo.Unlimited)
}

func TestSyncRefusesInFeedMode(t *testing.T) {
	c := openFile(t, "testdata/products.json", 0)
	_, err := c.Sync(context.Background(), nil, SyncOptions{})
	if !errors.Is(err, ErrSyncInFeedMode) || !strings.Contains(err.Error(), "never both") {
		t.Errorf("err = %v", err)
	}
}
