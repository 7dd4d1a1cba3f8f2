package app

import (
	"io"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/config"
)

// TestDemoWithKeyNeedsForce: the demo checkout places orders without the
// API token, so with a private key SNIPPETD_DEMO=on refuses to start and
// names the way out; force starts it; without a key "on" still works.
func TestDemoWithKeyNeedsForce(t *testing.T) {
	load := func(env map[string]string) error {
		_, err := config.Load([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir()}, func(k string) string { return env[k] }, io.Discard)
		return err
	}
	err := load(map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_DEMO": "on"})
	if err == nil || !strings.Contains(err.Error(), "SNIPPETD_DEMO=force") {
		t.Fatalf("demo on with a private key: %v, want a refusal naming SNIPPETD_DEMO=force", err)
	}
	if strings.Contains(err.Error(), "pk_test") {
		t.Errorf("the refusal prints the key: %v", err)
	}
	if err := load(map[string]string{"SNIPPETD_DEMO": "on"}); err != nil {
		t.Errorf("demo on without a key: %v", err)
	}
	m := openMain(t, map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_test", "SNIPPETD_KLAVIYO_URL": "http://127.0.0.1:9", "SNIPPETD_DEMO": "force"})
	if m.Server.Demo == nil {
		t.Error("SNIPPETD_DEMO=force with a private key does not serve the demo")
	}
}
