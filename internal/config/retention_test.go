package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestRetentionSettings(t *testing.T) {
	c, err := Load(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OrdersRetention != 90*24*time.Hour || c.ProxyRetention != 400*24*time.Hour || c.OutboxDeadRetention != 30*24*time.Hour {
		t.Errorf("defaults: orders %s, proxy %s, dead %s", c.OrdersRetention, c.ProxyRetention, c.OutboxDeadRetention)
	}
	env := map[string]string{"SNIPPETD_ORDERS_RETENTION": "48h"}
	c, err = Load([]string{"-proxy-retention", "24h"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.OrdersRetention != 48*time.Hour || c.ProxyRetention != 24*time.Hour {
		t.Errorf("set: orders %s, proxy %s", c.OrdersRetention, c.ProxyRetention)
	}
	env = map[string]string{"SNIPPETD_OUTBOX_DEAD_RETENTION": "10s"}
	_, err = Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "outbox-dead-retention (SNIPPETD_OUTBOX_DEAD_RETENTION)") {
		t.Errorf("too short a retention: %v, want an error naming the setting", err)
	}
}
