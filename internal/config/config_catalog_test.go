package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/config"
)

func TestCatalogSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		check   func(config.Config) bool
	}{
		{"defaults", nil, nil, "", func(c config.Config) bool {
			return c.CatalogMode == "feed" && c.CatalogFile == "" && c.CatalogPoll == 2*time.Second &&
				c.CatalogPartBytes == 100_000_000 && c.CatalogMaxBodyBytes == 32<<20
		}},
		{"env", map[string]string{"SNIPPETD_CATALOG_MODE": "api", "SNIPPETD_CATALOG_FILE": "/x.csv", "SNIPPETD_CATALOG_POLL": "0", "SNIPPETD_CATALOG_PART_BYTES": "5000"}, nil, "", func(c config.Config) bool {
			return c.CatalogMode == "api" && c.CatalogFile == "/x.csv" && c.CatalogPoll == 0 && c.CatalogPartBytes == 5000
		}},
		{"flag wins", map[string]string{"SNIPPETD_CATALOG_MODE": "api"}, []string{"-catalog-mode", "feed"}, "", func(c config.Config) bool { return c.CatalogMode == "feed" }},
		{"both ways", map[string]string{"SNIPPETD_CATALOG_MODE": "both"}, nil, "never both", nil},
		{"bad poll", map[string]string{"SNIPPETD_CATALOG_POLL": "soon"}, nil, "SNIPPETD_CATALOG_POLL", nil},
		{"tiny part", map[string]string{"SNIPPETD_CATALOG_PART_BYTES": "10"}, nil, "SNIPPETD_CATALOG_PART_BYTES", nil},
		{"bad body", map[string]string{"SNIPPETD_CATALOG_MAX_BODY_BYTES": "1MB"}, nil, "SNIPPETD_CATALOG_MAX_BODY_BYTES", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}
}
