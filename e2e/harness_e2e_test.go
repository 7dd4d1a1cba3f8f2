// Package e2e runs snippetd's pages in real headless Chromium. It starts one
// browser per test binary (Run, from TestMain), gives each test its own tab
// (NewTab) that fails the test on any uncaught exception or console error,
// serves test pages next to the real HTTP server (NewSite), and fakes
// static.klaviyo.com (FakeKlaviyo) so that klaviyo.js can load, 404 or hang.
// Only Klaviyo is faked: the helper, the loader and the server are the real
// ones. Tests of later features (proxy, demo shop) add their files here and
// reuse these helpers.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

var (
	// browserCtx is the browser every tab is opened in; nil when browserErr
	// says why there is none.
	browserCtx context.Context
	browserErr error
	klaviyo    *FakeKlaviyo
)

// chromiumPaths are where Chromium is looked for, in order.
var chromiumPaths = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

// Run starts the fake Klaviyo and one headless Chromium, runs the tests and
// stops both. Use it as TestMain's body: os.Exit(e2e.Run(m)). Without
// Chromium the browser tests skip with a message saying what to install.
func Run(m *testing.M) int {
	klaviyo = newFakeKlaviyo()
	defer klaviyo.close()

	exe := ""
	for _, p := range chromiumPaths {
		if found, err := exec.LookPath(p); err == nil {
			exe = found
			break
		}
	}
	if exe == "" {
		browserErr = errors.New("Chromium not found (apt-get install chromium; .ci/run installs it)")
		return m.Run()
	}
	_, port, _ := net.SplitHostPort(klaviyo.srv.Listener.Addr().String())
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // tests run as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		// The real klaviyo.js URL reaches the fake: static.klaviyo.com
		// resolves to its TLS listener, whose test certificate is accepted.
		// Hosts under shop.test are the local sites (their port kept),
		// for tests that need parent domains.
		// a.klaviyo.com (Klaviyo's client API) reaches the same listener,
		// which hands it to the API fake a test sets (FakeKlaviyo.SetAPI).
		chromedp.Flag("host-resolver-rules", "MAP static.klaviyo.com 127.0.0.1:"+port+", MAP a.klaviyo.com 127.0.0.1:"+port+", MAP *.shop.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	// The first Do starts the browser; its context has no timeout, so the
	// browser lives until cancel.
	if err := chromedp.Do(ctx); err != nil {
		browserErr = fmt.Errorf("start Chromium %s: %w", exe, err)
		fmt.Fprintln(os.Stderr, "e2e:", browserErr)
	} else {
		browserCtx = ctx
	}
	return m.Run()
}

// Klaviyo returns the fake static.klaviyo.com of this test binary.
func Klaviyo() *FakeKlaviyo { return klaviyo }
