package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRenderCLIRefusesPathFormURLs: URLs that net/url reads as a path on
// this origin but a browser resolves to another host (a backslash read as
// a slash, tabs and newlines dropped) are refused for every URL the loader
// writes into a script element or hands the helper.
func TestRenderCLIRefusesPathFormURLs(t *testing.T) {
	hostile := []string{
		`/\evil.example/x.js`,
		`//evil.example/x.js`,
		`\\evil.example/x.js`,
		"/\t/evil.example/x.js",
		"/\n/evil.example/x.js",
		"/\r/evil.example/x.js",
		`https://shop.example\@evil.example/x.js`,
		"https://evil.example\t/x.js",
	}
	for _, u := range hostile {
		q, _ := json.Marshal(u)
		for _, c := range []struct{ body, field string }{
			{`{"public_key":"AbC123","klaviyo_js_url":` + string(q) + `}`, "klaviyo_js_url"},
			{`{"public_key":"AbC123","helper":true,"helper_base":` + string(q) + `}`, "helper_src"},
			{`{"public_key":"AbC123","helper":true,"proxy_endpoint":` + string(q) + `}`, "proxy_endpoint"},
		} {
			code, out, errOut := runCLI(t, c.body, "render", "loader")
			if code == 0 || !strings.Contains(errOut, c.field) || out != "" {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want a refusal naming %s", c.body, code, errOut, out, c.field)
			}
		}
	}
	// The legitimate forms still render.
	for _, body := range []string{
		`{"public_key":"AbC123","klaviyo_js_url":"/kp/k.js"}`,
		`{"public_key":"AbC123","klaviyo_js_url":"https://cdn.example/k.js?x=1"}`,
		`{"helper":true,"helper_base":"https://cdn.example/","proxy_endpoint":"/kp/"}`,
	} {
		if code, _, errOut := runCLI(t, body, "render", "loader", "--public-key", "AbC123"); code != 0 {
			t.Errorf("%s: exit %d: %s", body, code, errOut)
		}
	}
}
