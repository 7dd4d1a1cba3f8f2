package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// TestCatalogSyncCommand runs `snippetd catalog sync` as an operator
// would: refused in feed mode, a dry run, a real run against the fake
// Klaviyo, and a second run that sends nothing.
func TestCatalogSyncCommand(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "products.jsonl")
	var b strings.Builder
	for i := range 120 {
		fmt.Fprintf(&b, `{"id":"sku-%d","name":"P%d","url":"https://s.example/%d","image_url":"https://s.example/%d.jpg","description":"d","price":3}`+"\n", i, i, i, i)
	}
	os.WriteFile(file, []byte(b.String()), 0o644)
	env := map[string]string{
		"SNIPPETD_DATA_DIR":     filepath.Join(dir, "data"),
		"SNIPPETD_CATALOG_FILE": file,
		"SNIPPETD_KLAVIYO_URL":  fake.URL,
		"SNIPPETD_PRIVATE_KEY":  klaviyotest.PrivateKey,
	}
	getenv := func(k string) string { return env[k] }
	sync := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := catalogCmd(context.Background(), append([]string{"sync"}, args...), getenv, &out, &errOut)
		return out.String(), err
	}

	if _, err := sync(); err == nil || !strings.Contains(err.Error(), "SNIPPETD_CATALOG_MODE=api") || !strings.Contains(err.Error(), "never both") {
		t.Fatalf("feed mode: err = %v, want a refusal explaining feed and API cannot both fill one catalog", err)
	}
	env["SNIPPETD_CATALOG_MODE"] = "api"

	out, err := sync("--dry-run")
	if err != nil || !strings.Contains(out, "create 120") || len(fake.Requests()) != 0 {
		t.Fatalf("dry run: %v, %d requests, output:\n%s", err, len(fake.Requests()), out)
	}
	out, err = sync()
	if err != nil || !strings.Contains(out, "sent 2 jobs: 120 created") || len(fake.CatalogItems()) != 120 {
		t.Fatalf("sync: %v, %d items at Klaviyo, output:\n%s", err, len(fake.CatalogItems()), out)
	}
	n := len(fake.Requests())
	out, err = sync()
	if err != nil || len(fake.Requests()) != n || !strings.Contains(out, "sent 0 jobs") {
		t.Errorf("second sync: %v, %d new requests, output:\n%s", err, len(fake.Requests())-n, out)
	}
	delete(env, "SNIPPETD_PRIVATE_KEY")
	if _, err := sync(); err == nil || !strings.Contains(err.Error(), "SNIPPETD_PRIVATE_KEY") {
		t.Errorf("without a key: %v", err)
	}
}
