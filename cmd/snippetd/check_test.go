package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/snippetd/snippetd/check"
	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
)

var (
	checkBrowserOnce sync.Once
	checkBrowser     *check.Browser
	checkBrowserErr  error
)

// sharedCheckBrowser starts one Chromium for the test binary and makes
// `snippetd check` use it; TestMain stops it.
func sharedCheckBrowser(t *testing.T) *check.Browser {
	t.Helper()
	checkBrowserOnce.Do(func() {
		checkBrowser, checkBrowserErr = check.Start("")
		if checkBrowserErr == nil {
			startBrowser = func(string) (*check.Browser, func(), error) { return checkBrowser, func() {}, nil }
		}
	})
	if checkBrowserErr != nil {
		t.Skipf("no browser: %v", checkBrowserErr)
	}
	return checkBrowser
}

// closeCheckBrowser stops the browser of the check tests, if one started.
func closeCheckBrowser() {
	if checkBrowser != nil {
		checkBrowser.Close()
	}
}

// startDemo starts snippetd in-process with the demo on and the local
// sink (no private key), and returns its origin.
func startDemo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	env := map[string]string{
		"SNIPPETD_ADDR":      "127.0.0.1:" + port,
		"SNIPPETD_DATA_DIR":  t.TempDir(),
		"SNIPPETD_DEMO":      "on",
		"SNIPPETD_LOG_LEVEL": "warn",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return "http://127.0.0.1:" + port
}

// TestCheckDemoShop walks the demo shop with the README's steps file: it
// passes every rule with klaviyo.js loading and blocked, and every event
// of the walk was seen in both modes.
func TestCheckDemoShop(t *testing.T) {
	b := sharedCheckBrowser(t)
	origin := startDemo(t)
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "check-steps.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := check.ParseSteps(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := b.Check(context.Background(), origin+"/demo/products/kettle", check.Options{Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("got %d results, want one per mode", len(rep.Results))
	}
	for _, res := range rep.Results {
		for _, p := range res.Problems {
			t.Errorf("%s: %s", res.Mode, p)
		}
		var got []string
		for _, p := range res.Pushes {
			if m := p.Metric(); m != "" {
				got = append(got, m)
			} else {
				got = append(got, p.Command())
			}
		}
		want := []string{"Viewed Product", "trackViewedItem", "Added to Cart", "Added to Cart", "identify", "Started Checkout"}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: pushes (-want +got):\n%s", res.Mode, d)
		}
		blocked := slices.ContainsFunc(res.Requests, func(q check.Request) bool { return q.Outcome == "blocked" })
		if blocked != (res.Mode == check.Blocked) {
			t.Errorf("%s: requests %+v", res.Mode, res.Requests)
		}
	}
}

// TestCheckCommand runs `snippetd check` on a correct and a broken page:
// the exit status, the JSON report and the JUnit file agree.
func TestCheckCommand(t *testing.T) {
	sharedCheckBrowser(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("..", "..", "check", "testdata"))))
	defer srv.Close()
	dir := t.TempDir()
	stepsPath := filepath.Join(dir, "steps.json")
	os.WriteFile(stepsPath, []byte(`{"steps": [{"click": "#add"}]}`), 0o644)

	type jsonReport struct {
		Results []struct {
			URL      string
			Mode     string
			Pushes   []json.RawMessage
			Problems []struct{ Rule, Event, Field, Value string }
		}
		Rules []struct{ ID, Why, Example string }
	}
	type junit struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	runCheck := func(page string) (int, jsonReport, junit, string) {
		t.Helper()
		junitPath := filepath.Join(dir, page+".xml")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"check", "--json", "--junit", junitPath, "--steps", stepsPath,
			"--screenshots", filepath.Join(dir, "shots"), srv.URL + "/" + page + ".html"}, nil, &stdout, &stderr)
		var rep jsonReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%s: JSON report: %v\n%s\nstderr: %s", page, err, stdout.String(), stderr.String())
		}
		raw, err := os.ReadFile(junitPath)
		if err != nil {
			t.Fatal(err)
		}
		var ju junit
		if err := xml.Unmarshal(raw, &ju); err != nil {
			t.Fatalf("%s: JUnit: %v\n%s", page, err, raw)
		}
		return code, rep, ju, stderr.String()
	}

	code, rep, ju, stderr := runCheck("good")
	if code != 0 || stderr != "" {
		t.Errorf("good page: exit %d, stderr %q", code, stderr)
	}
	if len(rep.Results) != 2 || len(rep.Results[0].Pushes) != 3 || len(rep.Rules) != 0 {
		t.Errorf("good page: JSON report %+v", rep)
	}
	if ju.Failures != 0 || ju.Tests != 2*len(check.Rules) || len(ju.Suites) != 2 {
		t.Errorf("good page: JUnit %d tests, %d failures, %d suites", ju.Tests, ju.Failures, len(ju.Suites))
	}
	if _, err := os.Stat(filepath.Join(dir, "shots")); !os.IsNotExist(err) {
		t.Errorf("a passing page left screenshots: %v", err)
	}

	code, rep, ju, stderr = runCheck("value-sum")
	if code != 1 || !strings.Contains(stderr, "check: rules failed: 2 problem(s)") {
		t.Errorf("broken page: exit %d, stderr %q", code, stderr)
	}
	for _, res := range rep.Results {
		want := []struct{ Rule, Event, Field, Value string }{{"value-sum", "Added to Cart", "$value", "9.99"}}
		if d := cmp.Diff(want, res.Problems); d != "" {
			t.Errorf("%s: problems (-want +got):\n%s", res.Mode, d)
		}
	}
	if len(rep.Rules) != 1 || rep.Rules[0].ID != "value-sum" || rep.Rules[0].Example == "" {
		t.Errorf("rules explained: %+v", rep.Rules)
	}
	var failed []string
	for _, s := range ju.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				failed = append(failed, s.Name+" "+c.Name)
			}
		}
	}
	wantFailed := []string{
		srv.URL + "/value-sum.html (klaviyo.js loaded) value-sum",
		srv.URL + "/value-sum.html (klaviyo.js blocked) value-sum",
	}
	if d := cmp.Diff(wantFailed, failed); d != "" || ju.Failures != 2 {
		t.Errorf("JUnit failures (-want +got):\n%s", d)
	}
	shots, _ := filepath.Glob(filepath.Join(dir, "shots", "*.png"))
	if len(shots) != 2 {
		t.Errorf("screenshots of the failing page: %v", shots)
	}

	// Bad input is an error naming the flag, before any browser work.
	var stdout, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check", "--header", "nocolon", srv.URL}, nil, &stdout, &errOut); code != 1 || !strings.Contains(errOut.String(), "--header") {
		t.Errorf("bad --header: exit %d, %q", code, errOut.String())
	}
}
