package app

import (
	"log/slog"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo"
)

// NewKlaviyoClient builds the Klaviyo client from the configuration (private
// key, base URL, revision), for the server and for the
// commands (backfill, catalog sync) alike. with adjusts the options a caller
// needs beyond those, such as a metrics hook.
func NewKlaviyoClient(cfg config.Config, logger *slog.Logger, with ...func(*klaviyo.Options)) (*klaviyo.Client, error) {
	opts := klaviyo.Options{
		BaseURL:  cfg.KlaviyoURL,
		Revision: cfg.KlaviyoRevision,
		Logger:   logger,
	}
	for _, f := range with {
		f(&opts)
	}
	return klaviyo.NewClient(cfg.PrivateKey, opts)
}
