package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo"
	"github.com/snippetd/snippetd/internal/outbox"
)

// NewKlaviyoClient builds the Klaviyo client from the configuration (private
// key, base URL, revision), for the server and for the
// commands (backfill, catalog sync) alike. with adjusts the options a caller
// needs beyond those, such as a metrics hook. A key that cannot be a
// Klaviyo private key is refused here, naming its setting, so the server
// does not start with it.
func NewKlaviyoClient(cfg config.Config, logger *slog.Logger, with ...func(*klaviyo.Options)) (*klaviyo.Client, error) {
	if err := klaviyo.CheckPrivateKey(cfg.PrivateKey); err != nil {
		return nil, fmt.Errorf("%s: %v", KeySetting(cfg), err)
	}
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

// KeySetting names the setting the private key came from, for messages
// that tell an operator what to fix.
func KeySetting(cfg config.Config) string {
	if cfg.PrivateKeyFile != "" {
		return fmt.Sprintf("SNIPPETD_PRIVATE_KEY_FILE (%s)", cfg.PrivateKeyFile)
	}
	return "SNIPPETD_PRIVATE_KEY"
}

// DeliveryTarget is what a process delivering with cfg records in the
// outbox's deliverers: the local sink, or Klaviyo at its base URL.
func DeliveryTarget(cfg config.Config, localSink bool) string {
	if localSink {
		return outbox.TargetLocalSink
	}
	return outbox.TargetKlaviyo + " " + cfg.KlaviyoURL
}

// DefaultKeyReload is how often the server re-reads
// SNIPPETD_PRIVATE_KEY_FILE.
const DefaultKeyReload = 10 * time.Second

// watchKeyFile re-reads the private key file every every until ctx ends.
// A changed key that can be a private key replaces the client's and wakes
// a delivery loop paused on the old one; a file that cannot be read or a
// key that cannot be a private key is logged and the old key kept.
func watchKeyFile(ctx context.Context, path string, every time.Duration, c *klaviyo.Client, ob *outbox.Outbox, current string, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastProblem string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b, err := os.ReadFile(path)
		key := strings.TrimSpace(string(b))
		problem := ""
		switch {
		case err != nil:
			problem = err.Error()
		case key == current:
			continue
		default:
			if err := c.SetKey(key); err != nil {
				problem = err.Error()
			}
		}
		if problem != "" {
			if problem != lastProblem {
				logger.Warn("SNIPPETD_PRIVATE_KEY_FILE: keeping the current key", "file", path, "err", problem)
			}
			lastProblem = problem
			continue
		}
		current, lastProblem = key, ""
		logger.Info("SNIPPETD_PRIVATE_KEY_FILE changed: using the new private key", "file", path)
		ob.Resume()
	}
}
