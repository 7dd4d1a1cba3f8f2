package config

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProxyConfig(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		return Load(nil, func(k string) string { return env[k] }, io.Discard)
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy || c.ProxyPrefix != "/s/" || c.KlaviyoStaticURL != "https://static.klaviyo.com" || c.ProxyAnonymous != "drop" ||
		c.ProxyRate != 5 || c.ProxyBurst != 20 || c.ProxyMaxEvents != 50 || c.ProxyMaxBodyBytes != 65536 || c.ProxyScriptTTL != 15*time.Minute {
		t.Errorf("defaults: %+v", c)
	}
	c, err = load(map[string]string{
		"SNIPPETD_PROXY":                 "on",
		"SNIPPETD_PUBLIC_KEY":            "ABC123",
		"SNIPPETD_ALLOWED_ORIGINS":       "https://shop.example, http://localhost:3000",
		"SNIPPETD_TRUSTED_PROXIES":       "10.0.0.0/8, 127.0.0.1",
		"SNIPPETD_PROXY_METRICS":         "Viewed Collection,Searched",
		"SNIPPETD_PROXY_REQUIRE_CONSENT": "true",
		"SNIPPETD_PROXY_ANONYMOUS":       "keep",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	if d := cmp.Diff([]string{"https://shop.example", "http://localhost:3000"}, c.AllowedOrigins); d != "" {
		t.Errorf("origins (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, c.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("trusted (-want +got):\n%s", d)
	}
	if !c.Proxy || !c.ProxyRequireConsent || c.ProxyAnonymous != "keep" || len(c.ProxyMetrics) != 2 {
		t.Errorf("%+v", c)
	}
	for name, env := range map[string]map[string]string{
		"SNIPPETD_ALLOWED_ORIGINS": {"SNIPPETD_PROXY": "on", "SNIPPETD_PUBLIC_KEY": "ABC123"},
		"SNIPPETD_PUBLIC_KEY":      {"SNIPPETD_PROXY": "on", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example"},
		"SNIPPETD_PROXY_PREFIX":    {"SNIPPETD_PROXY": "on", "SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example", "SNIPPETD_PROXY_PREFIX": "s"},
		"SNIPPETD_TRUSTED_PROXIES": {"SNIPPETD_TRUSTED_PROXIES": "10.0.0.0/99"},
		"SNIPPETD_PROXY ":          {"SNIPPETD_PROXY": "maybe"},
		"SNIPPETD_PROXY_RATE":      {"SNIPPETD_PROXY_RATE": "-1"},
		"SNIPPETD_KLAVIYO_STATIC_URL": {"SNIPPETD_PROXY": "on", "SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example",
			"SNIPPETD_KLAVIYO_STATIC_URL": "ftp://x"},
		"SNIPPETD_ALLOWED_ORIGINS=path": {"SNIPPETD_ALLOWED_ORIGINS": "https://a.example/shop"},
	} {
		_, err := load(env)
		v := strings.Split(strings.TrimSpace(name), "=")[0]
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(v)) {
			t.Errorf("%s: got %v, want an error naming it", name, err)
		}
	}
}

// TestProxyAddrRemoved: the dedicated listener's setting is gone, and a
// server still configured with it refuses to start instead of leaving the
// address dead behind a reverse proxy.
func TestProxyAddrRemoved(t *testing.T) {
	env := map[string]string{"SNIPPETD_PROXY": "on", "SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example"}
	load := func(args []string) error {
		_, err := Load(args, func(k string) string { return env[k] }, io.Discard)
		return err
	}
	if err := load(nil); err != nil {
		t.Fatal(err)
	}
	if err := load([]string{"-proxy-addr", ":9001"}); err == nil {
		t.Error("-proxy-addr accepted")
	}
	env["SNIPPETD_PROXY_ADDR"] = "127.0.0.1:8081"
	if err := load(nil); err == nil || !strings.Contains(err.Error(), "SNIPPETD_PROXY_ADDR") {
		t.Errorf("got %v, want an error naming SNIPPETD_PROXY_ADDR", err)
	}
}
