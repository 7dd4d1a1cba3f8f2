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
const (
	pushPrologue = `(function(klaviyo){`
	pushEpilogue = `})(window.klaviyo||(window._klOnsite=window._klOnsite||[]));</script>`
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
		n := 0
		for _, p := range ps {
			n += len(p) + len("klaviyo.push();")
		}
		nonce := templ.GetNonce(ctx)
		b := make([]byte, 0, len(`<script nonce="">`)+len(nonce)+len(pushPrologue)+n+len(pushEpilogue))
		b = append(b, "<script"...)
		if nonce != "" {
			b = append(b, ` nonce="`...)
			b = append(b, html.EscapeString(nonce)...)
			b = append(b, '"')
		}
		b = append(b, '>')
		b = append(b, pushPrologue...)
		for _, p := range ps {
			b = append(b, "klaviyo.push("...)
			b = append(b, p...)
			b = append(b, ");"...)
		}
		b = append(b, pushEpilogue...)
		_, err := w.Write(b)
		return err
	})
}
