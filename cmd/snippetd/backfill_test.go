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

// TestBackfillCommand runs `snippetd backfill` as an operator would: a dry
// run, a --no-wait run that only queues, then a run that delivers what was
// queued and skips every order; exit codes and output say so.
func TestBackfillCommand(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "orders.jsonl")
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"id":"B-%d","placed_at":"2025-03-01T10:00:00Z","currency":"USD","customer":{"email":"c%d@example.com"},"items":[{"quantity":1,"product":{"id":"p%d","name":"P","price":5}}]}`+"\n", i, i%7, i)
	}
	os.WriteFile(file, []byte(b.String()), 0o644)
	t.Setenv("SNIPPETD_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("SNIPPETD_KLAVIYO_URL", fake.URL)
	t.Setenv("SNIPPETD_PRIVATE_KEY", klaviyotest.PrivateKey)
	backfill := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"backfill", "--orders", file}, args...), nil, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := backfill("--dry-run"); code != 0 || !strings.Contains(out, "would enqueue 50 orders (100 events)") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if code, out := backfill("--no-wait"); code != 0 || !strings.Contains(out, "enqueued 50 orders (100 events)") || !strings.Contains(out, "--no-wait") || fake.Stats().Requests != 0 {
		t.Fatalf("--no-wait: exit %d, %d requests\n%s", code, fake.Stats().Requests, out)
	}
	code, out := backfill()
	if code != 0 || !strings.Contains(out, "already enqueued: 50") || !strings.Contains(out, "delivered: 100 events; dead-lettered: 0") || len(fake.Events()) != 100 {
		t.Fatalf("run: exit %d, %d events at the fake\n%s", code, len(fake.Events()), out)
	}
	if code, out := backfill("--bogus"); code == 0 {
		t.Fatalf("unknown flag accepted:\n%s", out)
	}
}
