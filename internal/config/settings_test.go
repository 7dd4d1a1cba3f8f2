package config

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

func loadEnv(args []string, env map[string]string) (Config, error) {
	return Load(args, func(k string) string { return env[k] }, io.Discard)
}

// TestBooleanSpellings: every boolean setting takes on/off, true/false,
// yes/no and 1/0 in any case, from the environment and from its flag.
func TestBooleanSpellings(t *testing.T) {
	proxyOn := map[string]string{"SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example"}
	get := map[string]func(Config) bool{
		"proxy":                 func(c Config) bool { return c.Proxy },
		"proxy-require-consent": func(c Config) bool { return c.ProxyRequireConsent },
		"demo":                  func(c Config) bool { return c.Demo == "on" },
	}
	envOf := map[string]string{"proxy": "SNIPPETD_PROXY", "proxy-require-consent": "SNIPPETD_PROXY_REQUIRE_CONSENT", "demo": "SNIPPETD_DEMO"}
	spellings := map[string]bool{
		"on": true, "ON": true, "true": true, "True": true, "TRUE": true, "yes": true, "Yes": true, "1": true, " on ": true,
		"off": false, "OFF": false, "false": false, "False": false, "no": false, "NO": false, "0": false,
	}
	for flagName, value := range get {
		for spelling, want := range spellings {
			env := map[string]string{envOf[flagName]: spelling}
			for k, v := range proxyOn {
				env[k] = v
			}
			c, err := loadEnv(nil, env)
			if err != nil || value(c) != want {
				t.Errorf("%s=%q: got %v, %v; want %v", envOf[flagName], spelling, value(c), err, want)
			}
			env = map[string]string{}
			for k, v := range proxyOn {
				env[k] = v
			}
			c, err = loadEnv([]string{"-" + flagName + "=" + strings.TrimSpace(spelling)}, env)
			if err != nil || value(c) != want {
				t.Errorf("-%s=%s: got %v, %v; want %v", flagName, spelling, value(c), err, want)
			}
		}
		// The flag alone switches on, and overrides the environment.
		env := map[string]string{envOf[flagName]: "off"}
		for k, v := range proxyOn {
			env[k] = v
		}
		if c, err := loadEnv([]string{"-" + flagName}, env); err != nil || !value(c) {
			t.Errorf("-%s over %s=off: got %v, %v; want on", flagName, envOf[flagName], value(c), err)
		}
		for _, bad := range []string{"maybe", "enabled", "2"} {
			_, err := loadEnv(nil, map[string]string{envOf[flagName]: bad})
			if err == nil || !strings.Contains(err.Error(), envOf[flagName]) {
				t.Errorf("%s=%q: got %v, want an error naming it", envOf[flagName], bad, err)
			}
			if _, err := loadEnv([]string{"-" + flagName + "=" + bad}, nil); err == nil || !strings.Contains(err.Error(), "-"+flagName) {
				t.Errorf("-%s=%s: got %v, want an error naming the flag", flagName, bad, err)
			}
		}
	}
	// Unset, the demo decides from the private key.
	if c, err := loadEnv(nil, nil); err != nil || c.Demo != "" {
		t.Errorf("demo unset: %q, %v; want empty", c.Demo, err)
	}
	// A switch given a separate value says how to write it.
	if _, err := loadEnv([]string{"-proxy", "on"}, proxyOn); err == nil || !strings.Contains(err.Error(), "-proxy=on") {
		t.Errorf("-proxy on: got %v, want a hint to write -proxy=on", err)
	}
}

// TestEnumerationsAnyCase: the settings that name one of a few words take
// them in any case, like booleans.
func TestEnumerationsAnyCase(t *testing.T) {
	c, err := loadEnv(nil, map[string]string{
		"SNIPPETD_LOG_FORMAT": "JSON", "SNIPPETD_LOG_LEVEL": "Debug", "SNIPPETD_CATALOG_MODE": "API",
		"SNIPPETD_PROXY": "On", "SNIPPETD_PUBLIC_KEY": "ABC123", "SNIPPETD_ALLOWED_ORIGINS": "https://a.example", "SNIPPETD_PROXY_ANONYMOUS": "Keep",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFormat != "json" || c.LogLevel.String() != "DEBUG" || c.CatalogMode != "api" || c.ProxyAnonymous != "keep" {
		t.Errorf("got format %q, level %v, catalog %q, anonymous %q", c.LogFormat, c.LogLevel, c.CatalogMode, c.ProxyAnonymous)
	}
	if _, err := loadEnv(nil, map[string]string{"SNIPPETD_LOG_FORMAT": "yaml"}); err == nil || !strings.Contains(err.Error(), "SNIPPETD_LOG_FORMAT") {
		t.Errorf("yaml: %v", err)
	}
}

// TestTypedFlags: -h shows each flag with its real type, and a value of
// the wrong type is refused naming the flag or the variable.
func TestTypedFlags(t *testing.T) {
	var help bytes.Buffer
	Load([]string{"-h"}, func(string) string { return "" }, &help)
	want := map[string]string{
		"proxy": "", "proxy-require-consent": "", "demo": "",
		"shutdown-timeout": "duration", "catalog-poll": "duration", "proxy-script-ttl": "duration", "outbox-retention": "duration", "outbox-max-backoff": "duration",
		"max-body-bytes": "int", "catalog-part-bytes": "int", "catalog-max-body-bytes": "int", "proxy-burst": "int", "proxy-max-events": "int", "proxy-max-body-bytes": "int",
		"proxy-rate": "float",
		"addr":       "string", "log-format": "string",
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z-]+)(?: ([a-z]+))?$`).FindAllStringSubmatch(help.String(), -1) {
		got[m[1]] = m[2]
	}
	for name, typ := range want {
		if g, ok := got[name]; !ok || g != typ {
			t.Errorf("-h shows -%s as %q (listed: %v), want %q", name, g, ok, typ)
		}
	}
	for _, tt := range []struct{ env, value string }{
		{"SNIPPETD_SHUTDOWN_TIMEOUT", "15"},
		{"SNIPPETD_CATALOG_POLL", "often"},
		{"SNIPPETD_MAX_BODY_BYTES", "1MB"},
		{"SNIPPETD_PROXY_BURST", "1.5"},
		{"SNIPPETD_PROXY_RATE", "fast"},
		{"SNIPPETD_PROXY_RATE", "0"},
		{"SNIPPETD_OUTBOX_RETENTION", "30s"},
	} {
		if _, err := loadEnv(nil, map[string]string{tt.env: tt.value}); err == nil || !strings.Contains(err.Error(), tt.env) {
			t.Errorf("%s=%s: got %v, want an error naming it", tt.env, tt.value, err)
		}
	}
	c, err := loadEnv([]string{"-shutdown-timeout", "3s", "-proxy-rate", "2.5", "-max-body-bytes", "2048"}, map[string]string{"SNIPPETD_SHUTDOWN_TIMEOUT": "1m"})
	if err != nil || c.ShutdownTimeout != 3*time.Second || c.ProxyRate != 2.5 || c.MaxBodyBytes != 2048 {
		t.Errorf("flags: %v %v %v, %v", c.ShutdownTimeout, c.ProxyRate, c.MaxBodyBytes, err)
	}
	if _, err := loadEnv([]string{"-shutdown-timeout", "15"}, nil); err == nil || !strings.Contains(err.Error(), "-shutdown-timeout") {
		t.Errorf("-shutdown-timeout 15: got %v, want an error naming the flag", err)
	}
}

// TestAddrPort: an address whose port is no port fails at validation
// naming SNIPPETD_ADDR, not later when listening.
func TestAddrPort(t *testing.T) {
	for _, addr := range []string{":8080", "127.0.0.1:0", "[::1]:65535", "localhost:80"} {
		if c, err := loadEnv(nil, map[string]string{"SNIPPETD_ADDR": addr}); err != nil || c.Addr != addr {
			t.Errorf("%s: %q, %v", addr, c.Addr, err)
		}
	}
	for _, addr := range []string{":99999", ":65536", ":-1", ":http8", "127.0.0.1:", "8080", ":080"} {
		if _, err := loadEnv(nil, map[string]string{"SNIPPETD_ADDR": addr}); err == nil || !strings.Contains(err.Error(), "SNIPPETD_ADDR") {
			t.Errorf("%s: got %v, want an error naming SNIPPETD_ADDR", addr, err)
		}
	}
}

// TestUnknownEnv: a SNIPPETD_ variable that is no setting gets a warning
// naming the closest setting, without its value; settings (and their
// _FILE forms) and other variables get none.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{
		"SNIPPETD_DEMOO=1",
		"SNIPPETD_PRIVATE_KEYFILE=/run/secrets/pk_secretvalue",
		"SNIPPETD_ALOWED_ORIGINS=https://a.example",
		"SNIPPETD_ADDR=:8080",
		"SNIPPETD_API_TOKEN_FILE=/x",
		"SNIPPETD_DATABASE_URL_FILE=/x",
		"HOME=/root",
		"PATH=/bin:SNIPPETD_X",
	})
	want := map[string]string{
		"SNIPPETD_DEMOO":           "SNIPPETD_DEMO",
		"SNIPPETD_PRIVATE_KEYFILE": "SNIPPETD_PRIVATE_KEY_FILE",
		"SNIPPETD_ALOWED_ORIGINS":  "SNIPPETD_ALLOWED_ORIGINS",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d warnings, want %d: %q", len(got), len(want), got)
	}
	for _, w := range got {
		name, _, _ := strings.Cut(w, " ")
		if closest, ok := want[name]; !ok || !strings.HasSuffix(w, "did you mean "+closest+"?") {
			t.Errorf("warning %q: want it to name %s and suggest %s", w, name, want[name])
		}
		if strings.Contains(w, "secretvalue") || strings.Contains(w, "https://") {
			t.Errorf("warning %q shows a value", w)
		}
	}
}
