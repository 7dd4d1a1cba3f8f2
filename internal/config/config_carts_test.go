package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
)

func TestCartSettings(t *testing.T) {
	const tmpl = "https://shop.example/cart/restore?items={items}"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(config.Config) bool
	}{
		{"defaults", nil, "", func(c config.Config) bool {
			return c.PublicURL == "" && c.CartTTL == 30*24*time.Hour && c.CartRestore == "missing" && c.CartRestoreURL == ""
		}},
		{"set", map[string]string{"SNIPPETD_PUBLIC_URL": "https://t.shop.example", "SNIPPETD_CART_TTL": "48h", "SNIPPETD_CART_RESTORE": "always", "SNIPPETD_CART_RESTORE_URL": tmpl, "SNIPPETD_PRIVATE_KEY": "pk"}, "", func(c config.Config) bool {
			return c.PublicURL == "https://t.shop.example" && c.CartTTL == 48*time.Hour && c.CartRestore == "always" && c.CartRestoreURL == tmpl
		}},
		{"demo default template", map[string]string{"SNIPPETD_PUBLIC_URL": "http://127.0.0.1:8080"}, "", func(c config.Config) bool { return c.DemoOn() }},
		{"template required", map[string]string{"SNIPPETD_PUBLIC_URL": "https://t.shop.example", "SNIPPETD_PRIVATE_KEY": "pk"}, "SNIPPETD_CART_RESTORE_URL", nil},
		{"bad public url", map[string]string{"SNIPPETD_PUBLIC_URL": "t.shop.example", "SNIPPETD_CART_RESTORE_URL": tmpl}, "SNIPPETD_PUBLIC_URL", nil},
		{"bad ttl", map[string]string{"SNIPPETD_CART_TTL": "30d"}, "SNIPPETD_CART_TTL", nil},
		{"bad mode", map[string]string{"SNIPPETD_CART_RESTORE": "sometimes"}, "SNIPPETD_CART_RESTORE", nil},
		{"host put in", map[string]string{"SNIPPETD_CART_RESTORE_URL": "https://{cart_id}.example/?i={items}"}, "SNIPPETD_CART_RESTORE_URL", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(nil, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
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
