package snippets

import (
	"context"
	"html"
	"io"

	"github.com/a-h/templ"
)

// The JavaScript around the pushes: they go to window.klaviyo, or straight
// onto the queue klaviyo.js drains when the loader has not run yet, so that
// a page never throws when the loader is missing or placed later.
var (
	scriptOpen       = []byte(`<script>`)
	scriptNonceOpen  = []byte(`<script nonce="`)
	scriptNonceClose = []byte(`">`)
	pushPrologue     = []byte(`(function(klaviyo){`)
	pushCallOpen     = []byte(`klaviyo.push(`)
	pushCallClose    = []byte(`);`)
	pushEpilogue     = []byte(`})(window.klaviyo||(window._klOnsite=window._klOnsite||[]));</script>`)
)

// pushScript writes one <script> element (with the context's CSP nonce)
// whose code calls klaviyo.push(p); for each push in order.
//
// It is Go rather than a templ script element with {{ p }} because templ
// passes every {{ }} value in a script through encoding/json, which
// re-scans and copies the payload: that was more than half of the time of
// a render. The pushes are bytes this package produced and escaped itself
// (see json.go), which is what writing raw is for; the nonce is escaped as
// templ escapes attributes.
func pushScript(ps ...Push) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		// w is templ's buffered writer: small writes cost a copy each and
		// no allocation.
		var err error
		write := func(b []byte) {
			if err == nil {
				_, err = w.Write(b)
			}
		}
		if nonce := templ.GetNonce(ctx); nonce != "" {
			write(scriptNonceOpen)
			write([]byte(html.EscapeString(nonce)))
			write(scriptNonceClose)
		} else {
			write(scriptOpen)
		}
		write(pushPrologue)
		for _, p := range ps {
			write(pushCallOpen)
			write(p)
			write(pushCallClose)
		}
		write(pushEpilogue)
		return err
	})
}
