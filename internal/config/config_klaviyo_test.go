package config_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/config"
)

func TestKlaviyoSettings(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("pk_from_file\n"), 0o600)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(config.Config) bool
	}{
		{"defaults", nil, nil, "", func(c config.Config) bool {
			return c.KlaviyoURL == "https://a.klaviyo.com" && c.KlaviyoRevision == "2026-07-15" && c.PrivateKey == ""
		}},
		{"env", map[string]string{"SNIPPETD_PRIVATE_KEY": "pk_1", "SNIPPETD_KLAVIYO_URL": "http://127.0.0.1:9", "SNIPPETD_KLAVIYO_REVISION": "2026-04-15.pre"}, nil, "", func(c config.Config) bool {
			return c.PrivateKey == "pk_1" && c.KlaviyoURL == "http://127.0.0.1:9" && c.KlaviyoRevision == "2026-04-15.pre"
		}},
		{"key file", map[string]string{"SNIPPETD_PRIVATE_KEY_FILE": keyFile}, nil, "", func(c config.Config) bool { return c.PrivateKey == "pk_from_file" }},
		{"flag wins", map[string]string{"SNIPPETD_KLAVIYO_REVISION": "2026-04-15"}, []string{"-klaviyo-revision", "2026-07-15"}, "", func(c config.Config) bool { return c.KlaviyoRevision == "2026-07-15" }},
		{"both key and file", map[string]string{"SNIPPETD_PRIVATE_KEY": "a", "SNIPPETD_PRIVATE_KEY_FILE": keyFile}, nil, "SNIPPETD_PRIVATE_KEY or SNIPPETD_PRIVATE_KEY_FILE", nil},
		{"bad url", map[string]string{"SNIPPETD_KLAVIYO_URL": "a.klaviyo.com"}, nil, "SNIPPETD_KLAVIYO_URL", nil},
		{"bad revision", map[string]string{"SNIPPETD_KLAVIYO_REVISION": "2026/07/15"}, nil, "SNIPPETD_KLAVIYO_REVISION", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string { return tt.env[k] }
			c, err := config.Load(tt.args, env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pk_from_file") {
					t.Errorf("error shows the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
