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

// TestProxyAddr checks SNIPPETD_PROXY_ADDR: empty by default (the proxy
// only on the main listener), taken when the proxy is on, and refused
// with the proxy off, without a port, or equal to the main address.
func TestProxyAddr(t *testing.T) {
	on := map[string]string{"SNIPPETD_PROXY": "on", "SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range on {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	load := func(args []string, env map[string]string) (Config, error) {
		return Load(args, func(k string) string { return env[k] }, io.Discard)
	}
	c, err := load(nil, on)
	if err != nil || c.ProxyAddr != "" {
		t.Errorf("default: %q, %v; want empty", c.ProxyAddr, err)
	}
	for _, addr := range []string{"127.0.0.1:8081", ":8081", "127.0.0.1:0", "[::1]:9000"} {
		c, err = load(nil, with(map[string]string{"SNIPPETD_PROXY_ADDR": addr}))
		if err != nil || c.ProxyAddr != addr {
			t.Errorf("%s: %q, %v", addr, c.ProxyAddr, err)
		}
	}
	c, err = load([]string{"-proxy-addr", ":9001"}, on)
	if err != nil || c.ProxyAddr != ":9001" {
		t.Errorf("flag: %q, %v", c.ProxyAddr, err)
	}
	for name, tt := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"proxy off":    {nil, map[string]string{"SNIPPETD_PROXY_ADDR": ":8081"}},
		"no port":      {nil, with(map[string]string{"SNIPPETD_PROXY_ADDR": "127.0.0.1"})},
		"empty port":   {nil, with(map[string]string{"SNIPPETD_PROXY_ADDR": "127.0.0.1:"})},
		"same as addr": {[]string{"-addr", ":8080"}, with(map[string]string{"SNIPPETD_PROXY_ADDR": ":8080"})},
	} {
		_, err := load(tt.args, tt.env)
		if err == nil || !strings.Contains(err.Error(), "SNIPPETD_PROXY_ADDR") {
			t.Errorf("%s: got %v, want an error naming SNIPPETD_PROXY_ADDR", name, err)
		}
	}
}
