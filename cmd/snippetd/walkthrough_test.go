package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
)

// readmeSkips are the README commands the walk-through does not run, each
// with why. A command matches when it starts with the prefix.
var readmeSkips = []struct{ prefix, reason string }{
	{"make test", "runs the whole test suite, this test included"},
	{"go install github.com/snippetd/snippetd/cmd/snippetd@latest", "downloads the published module from the module proxy; the test puts the binary built from this tree on PATH instead, which is what it installs"},
	{"docker compose", "needs a Docker daemon (package deploy builds the binary exactly as the Dockerfile does and runs it with the compose environment)"},
	{"snippetd check ", "audits the reader's own shop (shop.example is a placeholder); the check CLI test runs the same flags against the demo shop"},
	{"snippetd outbox replay --id 17,18", "names dead letters of the reader's own outbox; a fresh one has none (TestOutboxCommands replays real ones)"},
}

// readmeBlock is one ```sh block of the README.
type readmeBlock struct {
	line     int      // of the opening fence
	commands []string // shell commands, continuation lines joined
	lines    []int    // README line of each command
}

// shBlocks returns the README's ```sh blocks split into commands: a command
// runs on while a line ends in a backslash or a single quote is open.
// Comment lines are kept as commands of their own (they hold the expected
// output, see expectations).
func shBlocks(readme string) []readmeBlock {
	var blocks []readmeBlock
	var cur *readmeBlock
	var pending []string
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			blocks = append(blocks, readmeBlock{line: i + 1})
			cur = &blocks[len(blocks)-1]
		case cur != nil && len(pending) == 0 && strings.TrimSpace(line) == "```":
			cur = nil
		case cur != nil:
			if len(pending) == 0 {
				cur.lines = append(cur.lines, i+1)
			}
			pending = append(pending, line)
			cmd := strings.Join(pending, "\n")
			code, _, _ := strings.Cut(cmd, " #")
			if strings.HasPrefix(strings.TrimSpace(cmd), "#") || strings.Count(code, "'")%2 == 0 && !strings.HasSuffix(line, `\`) {
				if strings.TrimSpace(cmd) != "" {
					cur.commands = append(cur.commands, cmd)
				} else {
					cur.lines = cur.lines[:len(cur.lines)-1]
				}
				pending = nil
			}
		}
	}
	return blocks
}

// serverStart is a README command that starts the server: `make run`
// (build, then bin/snippetd serve) with optional VAR=value assignments.
var serverStart = regexp.MustCompile(`^((?:[A-Z_]+=\S+\s+)*)make run(\s|$)`)

// TestREADMEWalkthrough runs every ```sh block of README.md as a reader of
// a fresh clone would, from the module root, with the binary built from
// this tree on PATH as `snippetd`. A `make run` line (re)starts the server,
// with that line's variables and the block's exports (the README tells the
// reader to start it in that shell), against the strict fake Klaviyo;
// every other command runs in bash and must succeed (curl with
// --fail-with-body), and a comment `#   -> output` or `# 202 body` after a
// command must match what it printed. Two substitutions stand between the
// README and the test: the server listens on a free port instead of 8080
// (others may hold it), and /run/secrets/klaviyo is a temporary file
// holding the fake's key. Commands in readmeSkips are logged, not run.
func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README's commands use curl: install curl to run this test")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	pathDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(pathDir, "snippetd")); err != nil {
		t.Fatal(err)
	}
	fake := klaviyotest.NewServer(t)
	keyFile := filepath.Join(t.TempDir(), "klaviyo")
	if err := os.WriteFile(keyFile, []byte(klaviyotest.PrivateKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)

	// The shell of the reader: no SNIPPETD_ setting of the test's own.
	var shellEnv []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SNIPPETD_") && !strings.HasPrefix(kv, "PATH=") {
			shellEnv = append(shellEnv, kv)
		}
	}
	shellEnv = append(shellEnv, "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SNIPPETD_DATA_DIR="+dataDir, "SNIPPETD_KLAVIYO_URL="+fake.URL)
	substitute := strings.NewReplacer("localhost:8080", "localhost:"+port, "/run/secrets/klaviyo", keyFile)

	var server *instance
	var serverEnv map[string]string
	startServer := func(env map[string]string) {
		if server != nil && maps(serverEnv, env) {
			return
		}
		if server != nil {
			server.kill()
		}
		full := map[string]string{"SNIPPETD_DATA_DIR": dataDir, "SNIPPETD_PRIVATE_KEY": klaviyotest.PrivateKey, "SNIPPETD_KLAVIYO_URL": fake.URL}
		for k, v := range env {
			full[k] = v
		}
		server, serverEnv = start(t, "README server", addr, full), env
	}

	ran, skipped := 0, 0
	for _, b := range shBlocks(string(readme)) {
		env := map[string]string{} // for the server: the block's exports and make run's variables
		var exports []string
		for _, cmd := range b.commands {
			if m := regexp.MustCompile(`^export ([A-Z_]+)=(\S+)`).FindStringSubmatch(cmd); m != nil {
				env[m[1]] = m[2]
				exports = append(exports, m[0])
			}
			if m := serverStart.FindStringSubmatch(cmd); m != nil {
				for _, kv := range strings.Fields(m[1]) {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
			}
		}
		for i, cmd := range b.commands {
			line := b.lines[i]
			trimmed := strings.TrimSpace(cmd)
			if strings.HasPrefix(trimmed, "#") {
				continue
			}
			if j := slices.IndexFunc(readmeSkips, func(s struct{ prefix, reason string }) bool { return strings.HasPrefix(trimmed, s.prefix) }); j >= 0 {
				t.Logf("README.md:%d skipped (%s): %s", line, readmeSkips[j].reason, firstLine(cmd))
				skipped++
				continue
			}
			if prog := program(trimmed); prog != "" && prog != "snippetd" && prog != "export" && prog != "echo" {
				if _, err := exec.LookPath(prog); err != nil {
					t.Logf("README.md:%d skipped (%s is not installed): %s", line, prog, firstLine(cmd))
					skipped++
					continue
				}
			}
			if serverStart.MatchString(trimmed) {
				startServer(env)
				ran++
				continue
			}
			if strings.Contains(cmd, "localhost:8080") || strings.HasPrefix(trimmed, "snippetd outbox") || strings.HasPrefix(trimmed, "snippetd backfill") && !strings.Contains(cmd, "--dry-run") {
				startServer(env)
			}
			script := "set -eo pipefail\n" +
				"curl() { command curl --fail-with-body --silent --show-error --write-out '%{stderr}HTTP %{http_code}\\n' \"$@\"; }\n" +
				strings.Join(exports, "\n") + "\n" + substitute.Replace(cmd) + "\n"
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			sh := exec.CommandContext(ctx, "bash", "-c", script)
			sh.Dir, sh.Env = root, shellEnv
			if !strings.Contains(cmd, "SNIPPETD_PRIVATE_KEY") {
				// The README asks for the key in the environment of the
				// commands that send to Klaviyo (backfill).
				sh.Env = append(slices.Clip(shellEnv), "SNIPPETD_PRIVATE_KEY="+klaviyotest.PrivateKey)
			}
			var stdout, stderr bytes.Buffer
			sh.Stdout, sh.Stderr = &stdout, &stderr
			err := sh.Run()
			cancel()
			ran++
			if err != nil {
				t.Errorf("README.md:%d %s\nfailed: %v\nstdout: %s\nstderr: %s", line, firstLine(cmd), err, stdout.String(), stderr.String())
				continue
			}
			if want, ok := expectation(b.commands[i+1:]); ok {
				if !want.matches(stdout.String(), stderr.String()) {
					t.Errorf("README.md:%d %s\nprinted %s (%s)\nthe README says: %s", line, firstLine(cmd), stdout.String(), strings.TrimSpace(stderr.String()), want.text)
				}
			}
		}
	}
	// What the commands sent reached the fake Klaviyo (delivery is
	// asynchronous: wait for it).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(fake.EventsFor("Fulfilled Order")) > 0 && len(fake.EventsFor("Refunded Order")) > 0 {
			break
		}
	}
	if server != nil {
		server.kill()
	}
	t.Logf("ran %d README commands, skipped %d", ran, skipped)
	if ran < 20 {
		t.Errorf("ran %d README commands; the README has more than that", ran)
	}
	var orders []string
	for _, e := range fake.EventsFor("Placed Order") {
		orders = append(orders, e.UniqueID)
	}
	if !slices.Contains(orders, "1001") {
		t.Errorf("the README's order 1001 never reached Klaviyo; Placed Orders: %q", orders)
	}
	if len(fake.EventsFor("Fulfilled Order")) == 0 || len(fake.EventsFor("Refunded Order")) == 0 {
		t.Errorf("the README's fulfilment and refund never reached Klaviyo")
	}
	if len(fake.CatalogItems()) == 0 {
		t.Errorf("snippetd catalog sync sent no catalog item")
	}
}

// maps reports whether a and b hold the same pairs.
func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// program is the command a shell line runs, after its VAR=value
// assignments.
func program(cmd string) string {
	for _, w := range strings.Fields(cmd) {
		if !regexp.MustCompile(`^[A-Z_]+=`).MatchString(w) {
			return w
		}
	}
	return ""
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// outputWant is what a README comment says a command prints.
type outputWant struct {
	text   string
	status string   // "202", or empty
	parts  []string // in order in the output; "..." in the README separates them
}

// expectation reads the comment right after a command: `#   -> output`
// (the output, with ... for elided parts) or `# 202 body` (the HTTP
// status and body).
func expectation(rest []string) (outputWant, bool) {
	if len(rest) == 0 {
		return outputWant{}, false
	}
	c := strings.TrimSpace(rest[0])
	if out, ok := strings.CutPrefix(c, "#   -> "); ok {
		return outputWant{text: out, parts: strings.Split(out, "...")}, true
	}
	if m := regexp.MustCompile(`^# ([1-5]\d\d) (.*)$`).FindStringSubmatch(c); m != nil {
		return outputWant{text: m[0], status: m[1], parts: strings.Split(m[2], "...")}, true
	}
	return outputWant{}, false
}

func (w outputWant) matches(stdout, stderr string) bool {
	if w.status != "" && !strings.Contains(stderr, "HTTP "+w.status) {
		return false
	}
	rest := stdout
	for _, p := range w.parts {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}
