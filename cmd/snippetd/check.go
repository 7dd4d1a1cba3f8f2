package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/snippetd/snippetd/check"
)

// errCheckFailed makes `snippetd check` exit 1 after its report.
var errCheckFailed = errors.New("check: rules failed")

// startBrowser starts the Chromium of `snippetd check`; tests replace it to
// share one browser per test binary.
var startBrowser = func(execPath string) (*check.Browser, func(), error) {
	b, err := check.Start(execPath)
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// checkCmd audits storefront pages in headless Chromium (package check)
// and exits 1 when a rule fails.
func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("snippetd check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: snippetd check [flags] URL...\n\nChecks each page's Klaviyo integration in headless Chromium, with klaviyo.js loading and blocked.\n\n")
		fs.PrintDefaults()
	}
	stepsFile := fs.String("steps", "", "YAML or JSON file of steps (open, click, type+text, wait) run after each URL opens")
	crawl := fs.Int("crawl", 0, "also check up to N same-origin product links of each start page")
	crawlPattern := fs.String("crawl-pattern", `/products?/`, "regular expression a link's path must match to be crawled")
	var headers, cookies listFlag
	fs.Var(&headers, "header", `header sent to the start URL's origin (and the --catalog fetch), "Name: value" (repeatable)`)
	fs.Var(&cookies, "cookie", `cookie set for the start URL, "name=value" (repeatable)`)
	consent := fs.String("consent", "", "CSS selector of the consent banner's accept button, clicked after each page opens")
	catalog := fs.String("catalog", "", "URL of the shop's catalog feed (JSON or XML): report product ids it does not list")
	standIn := fs.Bool("stand-in", false, "serve the local klaviyo.js stand-in even when static.klaviyo.com can be reached")
	jsonOut := fs.Bool("json", false, "write the report as JSON instead of text")
	junit := fs.String("junit", "", "also write a JUnit XML report to this file (- for stdout, in place of the text report)")
	shots := fs.String("screenshots", "", "directory for a screenshot of each failing page")
	chromium := fs.String("chromium", "", "path of Chromium or Chrome (default: found in PATH)")
	stepTimeout := fs.Duration("step-timeout", 15*time.Second, "how long one step may take, waiting for its selector included")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("check: give at least one URL")
	}
	o := check.Options{Crawl: *crawl, ConsentSelector: *consent, CatalogURL: *catalog, StandIn: *standIn, ScreenshotDir: *shots, StepTimeout: *stepTimeout}
	if *crawl < 0 {
		return fmt.Errorf("check: --crawl %d: want 0 or more", *crawl)
	}
	re, err := regexp.Compile(*crawlPattern)
	if err != nil {
		return fmt.Errorf("check: --crawl-pattern: %w", err)
	}
	o.CrawlPattern = re
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("check: --header %q: want \"Name: value\"", h)
		}
		if o.Headers == nil {
			o.Headers = map[string]string{}
		}
		o.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	for _, c := range cookies {
		name, value, ok := strings.Cut(c, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("check: --cookie %q: want name=value", c)
		}
		if o.Cookies == nil {
			o.Cookies = map[string]string{}
		}
		o.Cookies[strings.TrimSpace(name)] = value
	}
	if *stepsFile != "" {
		data, err := os.ReadFile(*stepsFile)
		if err != nil {
			return fmt.Errorf("check: --steps: %w", err)
		}
		if o.Steps, err = check.ParseSteps(data); err != nil {
			return fmt.Errorf("check: --steps %s: %w", *stepsFile, err)
		}
	}

	b, stop, err := startBrowser(*chromium)
	if err != nil {
		return err
	}
	defer stop()
	rep := &check.Report{}
	for _, u := range fs.Args() {
		r, err := b.Check(ctx, u, o)
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r.Results...)
	}

	if *junit != "" && *junit != "-" {
		f, err := os.Create(*junit)
		if err != nil {
			return fmt.Errorf("check: --junit: %w", err)
		}
		if err := rep.WriteJUnit(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("check: --junit: %w", err)
		}
	}
	switch {
	case *junit == "-":
		err = rep.WriteJUnit(stdout)
	case *jsonOut:
		err = rep.WriteJSON(stdout)
	default:
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return fmt.Errorf("%w: %d problem(s)", errCheckFailed, len(rep.Problems()))
	}
	return nil
}
