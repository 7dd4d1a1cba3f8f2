package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/config"
	"github.com/snippetd/snippetd/klaviyo/klaviyotest"
)

// TestBackfillCommand runs the backfill twice on one data directory: the
// second run skips everything; a dry run needs no key.
func TestBackfillCommand(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "orders.jsonl")
	var lines []string
	for _, id := range []string{"o1", "o2", "o3"} {
		lines = append(lines, strings.Replace(orderJSON, `"A-1"`, `"`+id+`"`, 1))
	}
	// orderJSON spans lines; JSON lines need one order per line.
	var one []string
	for _, l := range lines {
		one = append(one, strings.ReplaceAll(l, "\n", ""))
	}
	os.WriteFile(file, []byte(strings.Join(one, "\n")+"\n"), 0o644)

	load := func(env map[string]string) config.Config {
		env["SNIPPETD_DATA_DIR"] = filepath.Join(dir, "data")
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	var out, prog bytes.Buffer
	_, err := Backfill(context.Background(), load(map[string]string{}), BackfillOptions{Orders: file}, nil, &out, &prog, false, nil)
	if err == nil || !strings.Contains(err.Error(), "SNIPPETD_PRIVATE_KEY") {
		t.Fatalf("no key, no dry run: %v", err)
	}
	sum, err := Backfill(context.Background(), load(map[string]string{}), BackfillOptions{Orders: file, DryRun: true}, nil, &out, &prog, false, nil)
	if err != nil || sum.Sent != 3 || fake.Stats().Requests != 0 {
		t.Fatalf("dry run: %v %+v", err, sum)
	}
	withKey := map[string]string{"SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL}
	sum, err = Backfill(context.Background(), load(withKey), BackfillOptions{Orders: file}, nil, &out, &prog, false, nil)
	if err != nil || sum.Sent != 3 || len(fake.Events()) != 9 {
		t.Fatalf("first run: %v %+v, %d events", err, sum, len(fake.Events()))
	}
	if !strings.Contains(prog.String(), "3/3 orders") {
		t.Errorf("progress: %q", prog.String())
	}
	out.Reset()
	sum, err = Backfill(context.Background(), load(withKey), BackfillOptions{Orders: file}, nil, &out, &prog, false, nil)
	if err != nil || sum.Sent != 0 || sum.Skipped["already sent"] != 3 || fake.Stats().Requests != 1 {
		t.Fatalf("second run: %v %+v", err, sum)
	}
	if !strings.Contains(out.String(), "skipped: 3 (already sent: 3)") {
		t.Errorf("summary: %s", out.String())
	}
}
