package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEExamples: every examples/ file the README names exists, and
// the README's commands that read one run as written (from the module
// root, where a reader of the README stands).
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir("../..")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`examples/[A-Za-z0-9_.-]+\.[a-z]+`).FindAll(readme, -1) {
		named[string(m)] = true
	}
	if len(named) == 0 {
		t.Fatal("the README names no examples/ file")
	}
	for f := range named {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the README names %s: %v", f, err)
		}
	}
	t.Setenv("SNIPPETD_DATA_DIR", filepath.Join(t.TempDir(), "data"))
	ran := 0
	for _, line := range strings.Split(string(readme), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		args := strings.Fields(cmd)
		if len(args) < 2 || args[0] != "snippetd" || !strings.Contains(cmd, "examples/") {
			continue
		}
		// Only the commands that need no server or Klaviyo: rendering, and
		// the backfill's dry run.
		if args[1] == "backfill" && !strings.Contains(cmd, "--dry-run") || args[1] == "check" {
			continue
		}
		var out, errb bytes.Buffer
		if code := run(context.Background(), args[1:], strings.NewReader(""), &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %s", strings.TrimSpace(cmd), code, out.Len(), errb.String())
		}
		ran++
	}
	if ran < 3 {
		t.Errorf("ran %d README commands reading examples/, want the render and backfill ones", ran)
	}
}
