package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/app"
	"github.com/snippetd/snippetd/internal/config"
	"github.com/snippetd/snippetd/internal/klaviyo/klaviyotest"
	"github.com/snippetd/snippetd/internal/outbox"
)

// openServer runs snippetd in-process with env and returns it.
func openServer(t *testing.T, env map[string]string, keyReload time.Duration) *app.Main {
	t.Helper()
	env["SNIPPETD_ADDR"] = "127.0.0.1:0"
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.KeyReload = keyReload
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBackfillIntoLocalSinkServerFails: with a local-sink server (no
// private key) delivering on the same data directory, a backfill with a
// private key says that server's events never reach Klaviyo, names it,
// enqueues nothing and exits non-zero; `outbox status` names the sink.
func TestBackfillIntoLocalSinkServerFails(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	m := openServer(t, map[string]string{"SNIPPETD_DATA_DIR": data, "SNIPPETD_DEMO": "off"}, 0)
	if m.Sink == nil {
		t.Fatal("the server without a key is not in local-sink mode")
	}
	waitUntil(t, "the server to record itself as the deliverer", func() bool {
		ds, err := outbox.Deliverers(context.Background(), m.DB)
		return err == nil && len(ds) == 1
	})
	file := filepath.Join(dir, "orders.jsonl")
	os.WriteFile(file, []byte(`{"id":"B-1","placed_at":"2025-03-01T10:00:00Z","currency":"USD","customer":{"email":"c@example.com"},"items":[{"quantity":1,"product":{"id":"p1","name":"P","price":5}}]}`+"\n"), 0o644)
	t.Setenv("SNIPPETD_DATA_DIR", data)
	t.Setenv("SNIPPETD_KLAVIYO_URL", fake.URL)
	t.Setenv("SNIPPETD_PRIVATE_KEY", klaviyotest.PrivateKey)
	var out bytes.Buffer
	code := run(context.Background(), []string{"backfill", "--orders", file}, nil, &out, &out)
	pid := fmt.Sprintf("pid %d", os.Getpid())
	if code == 0 || !strings.Contains(out.String(), "local sink") || !strings.Contains(out.String(), pid) || !strings.Contains(out.String(), "nothing was enqueued") {
		t.Fatalf("backfill: exit %d, want non-zero naming the local sink and its %s:\n%s", code, pid, out.String())
	}
	if st, _ := m.Outbox.Status(context.Background()); st.Pending+st.Delivered != 0 || fake.Stats().Requests != 0 || m.Sink.Len() != 0 {
		t.Errorf("events moved: outbox %+v, %d requests at Klaviyo, %d in the sink", st, fake.Stats().Requests, m.Sink.Len())
	}
	out.Reset()
	if err := outboxCmd(context.Background(), []string{"status"}, func(k string) string { return map[string]string{"SNIPPETD_DATA_DIR": data}[k] }, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^delivered by +local sink \(`+pid+` `).MatchString(out.String()) || !strings.Contains(out.String(), "nothing it delivers reaches Klaviyo") {
		t.Errorf("outbox status does not name the sink:\n%s", out.String())
	}
}

// TestWrongKeyPausesAndFileFixResumes: a private key file whose key
// Klaviyo refuses pauses delivery; /readyz (503) and `outbox status` name
// SNIPPETD_PRIVATE_KEY_FILE; writing the right key into the file resumes
// delivery without a restart.
func TestWrongKeyPausesAndFileFixResumes(t *testing.T) {
	fake := klaviyotest.NewServer(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("pk_revoked0000000000\n"), 0o600)
	env := map[string]string{
		"SNIPPETD_DATA_DIR": filepath.Join(dir, "data"), "SNIPPETD_PRIVATE_KEY_FILE": keyFile, "SNIPPETD_KLAVIYO_URL": fake.URL,
		"SNIPPETD_API_TOKEN": "tok", "SNIPPETD_OUTBOX_MAX_BACKOFF": "1h",
	}
	m := openServer(t, env, 50*time.Millisecond)
	req, _ := http.NewRequest("POST", m.Server.URL()+"/v1/orders", strings.NewReader(`{"id":"K-1","placed_at":"2026-02-05T15:00:00Z","currency":"USD","customer":{"email":"ann@example.com"},"items":[{"product":{"id":"p1","name":"Mug","price":9.5},"quantity":1}]}`))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST order: %v %v", resp, err)
	}
	resp.Body.Close()
	readyz := func() (int, string) {
		resp, err := http.Get(m.Server.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUntil(t, "/readyz to report the pause", func() bool { code, _ := readyz(); return code == 503 })
	if _, body := readyz(); !strings.Contains(body, "SNIPPETD_PRIVATE_KEY_FILE ("+keyFile+")") || !strings.Contains(body, "401") {
		t.Errorf("/readyz body does not name the setting: %s", body)
	}
	status := func() string {
		var out bytes.Buffer
		if err := outboxCmd(context.Background(), []string{"status"}, func(k string) string { return env[k] }, &out, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	waitUntil(t, "outbox status to report the pause", func() bool { return strings.Contains(status(), "PAUSED") })
	if s := status(); !strings.Contains(s, "SNIPPETD_PRIVATE_KEY_FILE") || !regexpLine(s, "pending", "2") {
		t.Errorf("outbox status:\n%s", s)
	}
	os.WriteFile(keyFile, []byte(klaviyotest.PrivateKey+"\n"), 0o600)
	waitUntil(t, "delivery with the fixed key", func() bool { return len(fake.Events()) == 2 })
	waitUntil(t, "/readyz ready again", func() bool { code, _ := readyz(); return code == 200 })
	waitUntil(t, "outbox status without the pause", func() bool { return !strings.Contains(status(), "PAUSED") })
}

// TestKeyThatCannotBePrivateFailsStartup: a public key (site id) given as
// the private key stops start-up with the setting named and the key not
// quoted.
func TestKeyThatCannotBePrivateFailsStartup(t *testing.T) {
	env := map[string]string{"SNIPPETD_DATA_DIR": t.TempDir(), "SNIPPETD_PRIVATE_KEY": "AbC123", "SNIPPETD_ADDR": "127.0.0.1:0"}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := app.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err = m.Open(context.Background())
	if err == nil {
		m.Close(context.Background())
		t.Fatal("started with a public key as the private key")
	}
	if !strings.Contains(err.Error(), "SNIPPETD_PRIVATE_KEY") || !strings.Contains(err.Error(), "public key") || strings.Contains(err.Error(), "AbC123") {
		t.Errorf("error %q: want the setting named, the key not quoted", err)
	}
}
