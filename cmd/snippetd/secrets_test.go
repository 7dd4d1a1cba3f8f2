package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretEnv sets every secret setting, directly or through its _FILE
// variable, to a value that must never be printed, and returns the values.
func secretEnv(t *testing.T, viaFile bool) []string {
	t.Helper()
	secrets := map[string]string{
		"SNIPPETD_PRIVATE_KEY":  "pk_SECRETprivatekey0123456789",
		"SNIPPETD_API_TOKEN":    "SECRET-api-token-4711",
		"SNIPPETD_DATABASE_URL": "postgres://snippetd:SECRETdbpassword@127.0.0.1:1/snippetd",
	}
	var values []string
	for k, v := range secrets {
		if viaFile {
			v = strings.Replace(v, "SECRET", "FILESECRET", 1)
			f := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv(k+"_FILE", f)
		} else {
			t.Setenv(k, v)
		}
		values = append(values, v)
	}
	// The password alone is a secret too.
	if viaFile {
		values = append(values, "FILESECRETdbpassword")
	} else {
		values = append(values, "SECRETdbpassword")
	}
	return values
}

// TestSecretsNeverPrinted runs every command with -h, with a flag that does
// not exist and with invalid settings, with every secret setting set, and
// fails if any output holds a secret value.
func TestSecretsNeverPrinted(t *testing.T) {
	cases := [][]string{
		{"-h"},
		{"no-such-command"},
		{"serve", "-h"},
		{"serve", "-no-such-flag"},
		{"serve", "-addr", ":99999", "-proxy=maybe"},
		{"serve", "-shutdown-timeout", "soon"},
		{"serve", "-addr", "127.0.0.1:0", "-data-dir", "DATA"}, // the database is unreachable
		{"render", "-h"},
		{"render", "identify", "-no-such-flag"},
		{"outbox", "-h"},
		{"outbox", "status", "-h"},
		{"outbox", "status", "-no-such-flag"},
		{"outbox", "dead-letters", "-h"},
		{"outbox", "replay", "-h"},
		{"outbox", "replay", "-id", "x"},
		{"catalog", "-h"},
		{"catalog", "sync", "-h"},
		{"catalog", "sync", "-no-such-flag"},
		{"backfill", "-h"},
		{"backfill", "-no-such-flag"},
		{"healthcheck", "-h"},
		{"healthcheck", "-no-such-flag"},
		{"version", "-h"},
	}
	for _, viaFile := range []bool{false, true} {
		name := "env"
		if viaFile {
			name = "file"
		}
		t.Run(name, func(t *testing.T) {
			secrets := secretEnv(t, viaFile)
			t.Setenv("SNIPPETD_PRIVATE_KEY_TYPO", "x") // a warning names variables, never values
			data := filepath.Join(t.TempDir(), "data")
			for _, args := range cases {
				for i, a := range args {
					if a == "DATA" {
						args[i] = data
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				code, stdout, stderr := runCLICtx(ctx, args...)
				cancel()
				out := stdout + stderr
				if out == "" {
					t.Errorf("%q printed nothing (exit %d)", args, code)
				}
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("%q printed the secret %q:\n%s", args, s, out)
					}
				}
			}
		})
	}
}

// TestAddrInUse: a listen address another process holds stops start-up
// with an error naming SNIPPETD_ADDR, the setting to change.
func TestAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("SNIPPETD_DATA_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, _, stderr := runCLICtx(ctx, "serve", "-addr", ln.Addr().String())
	if code == 0 || !strings.Contains(stderr, "SNIPPETD_ADDR") || !strings.Contains(stderr, "address already in use") {
		t.Errorf("exit %d, stderr:\n%s\nwant an error naming SNIPPETD_ADDR and the address in use", code, stderr)
	}
}
