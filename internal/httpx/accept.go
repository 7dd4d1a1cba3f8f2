package httpx

import (
	"mime"
	"strconv"
	"strings"
)

// WantsJSON reports whether an Accept header prefers application/json to
// text/html: JSON must be acceptable (q > 0) and rank above HTML, ties going
// to the type listed first. No Accept header means HTML, so that a browser
// following a link always gets a page.
func WantsJSON(accept string) bool {
	if accept == "" {
		return false
	}
	qJSON, qHTML := -1.0, -1.0
	posJSON, posHTML := 0, 0
	for i, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/json":
			if q > qJSON {
				qJSON, posJSON = q, i
			}
		case "text/html":
			if q > qHTML {
				qHTML, posHTML = q, i
			}
		}
	}
	switch {
	case qJSON <= 0:
		return false
	case qHTML < 0:
		return true
	case qJSON != qHTML:
		return qJSON > qHTML
	}
	return posJSON < posHTML
}
