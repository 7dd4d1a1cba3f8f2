package check

import (
	"context"
	"errors"
	"sync"
	"testing"
)

var (
	sharedOnce    sync.Once
	sharedBrowser *Browser
	sharedErr     error
)

// shared starts one Chromium per process, for Page.
func shared() (*Browser, error) {
	sharedOnce.Do(func() { sharedBrowser, sharedErr = Start("") })
	return sharedBrowser, sharedErr
}

// Main runs the tests and then stops the Chromium that Page started. Use
// it in TestMain: os.Exit(check.Main(m)). Without it the browser is killed
// when the test binary exits.
func Main(m *testing.M) int {
	code := m.Run()
	if sharedBrowser != nil {
		sharedBrowser.Close()
	}
	return code
}

// Page checks url (and opts.Steps) in both modes from a test: each problem
// fails t with t.Errorf, and the results (pushes, requests, errors,
// problems) are returned for further assertions, one per mode (Loaded
// first). All tests of a binary share one headless Chromium. Without
// Chromium the test is skipped.
//
//	func TestProductPage(t *testing.T) {
//		res := check.Page(t, shopURL+"/products/kettle", check.Options{})
//		if len(res[0].Pushes) == 0 { t.Error("no pushes") }
//	}
func Page(t testing.TB, url string, opts Options) []*Result {
	t.Helper()
	b, err := shared()
	if errors.Is(err, ErrNoChromium) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, ok := t.(interface {
		Context() context.Context
	}); ok {
		ctx = d.Context()
	}
	rep, err := b.Check(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range rep.Results {
		for _, p := range res.Problems {
			t.Errorf("%s [klaviyo.js %s] step %d: %s", res.URL, res.Mode, p.Step, p)
		}
	}
	return rep.Results
}
