package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/config"
)

func TestShopDefaults(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(config.Config) bool
	}{
		{"defaults", nil, "", func(c config.Config) bool {
			return c.DefaultCountry == "" && c.DefaultTimezone.String() == "UTC" && c.Currency == ""
		}},
		{"set", map[string]string{"SNIPPETD_DEFAULT_COUNTRY": "gb", "SNIPPETD_DEFAULT_TIMEZONE": "Europe/Berlin", "SNIPPETD_CURRENCY": "KWD"}, "", func(c config.Config) bool {
			return c.DefaultCountry == "GB" && c.DefaultTimezone.String() == "Europe/Berlin" && c.Currency == "KWD"
		}},
		{"bad country", map[string]string{"SNIPPETD_DEFAULT_COUNTRY": "USA"}, "SNIPPETD_DEFAULT_COUNTRY", nil},
		{"bad zone", map[string]string{"SNIPPETD_DEFAULT_TIMEZONE": "Mars/Base"}, "SNIPPETD_DEFAULT_TIMEZONE", nil},
		{"local zone", map[string]string{"SNIPPETD_DEFAULT_TIMEZONE": "Local"}, "SNIPPETD_DEFAULT_TIMEZONE", nil},
		{"bad currency", map[string]string{"SNIPPETD_CURRENCY": "usd"}, "SNIPPETD_CURRENCY", nil},
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
			if err != nil || !tt.check(c) {
				t.Errorf("%+v, %v", c, err)
			}
		})
	}
}
