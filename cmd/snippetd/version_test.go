package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snippetd/snippetd/internal/version"
)

func TestVersionFlags(t *testing.T) {
	want := "snippetd " + version.String() + "\n"
	for _, arg := range []string{"version", "--version", "-version", "-v"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{arg}, nil, &out, &errb); code != 0 || out.String() != want {
			t.Errorf("snippetd %s: exit %d, stdout %q, stderr %q; want %q", arg, code, out.String(), errb.String(), want)
		}
	}
	var out bytes.Buffer
	run(context.Background(), []string{"--help"}, nil, &out, &out)
	for _, s := range []string{"--version", "healthcheck"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help does not mention %s:\n%s", s, out.String())
		}
	}
}

func TestHealthzURL(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"", "http://127.0.0.1:8080/healthz"},
		{":9000", "http://127.0.0.1:9000/healthz"},
		{"0.0.0.0:9000", "http://127.0.0.1:9000/healthz"},
		{"[::]:9000", "http://127.0.0.1:9000/healthz"},
		{"10.1.2.3:80", "http://10.1.2.3:80/healthz"},
		{"[::1]:80", "http://[::1]:80/healthz"},
	} {
		if got, err := healthzURL(tt.addr); err != nil || got != tt.want {
			t.Errorf("healthzURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	if _, err := healthzURL("8080"); err == nil || !strings.Contains(err.Error(), "SNIPPETD_ADDR") {
		t.Errorf("healthzURL(8080): %v; want an error naming SNIPPETD_ADDR", err)
	}
}

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte("answer\n"))
	}))
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	env := func(k string) string {
		if k == "SNIPPETD_ADDR" {
			return addr
		}
		return ""
	}
	var out, errb bytes.Buffer
	if err := healthcheck(context.Background(), nil, env, &out, &errb); err != nil || out.String() != "answer\n" {
		t.Errorf("healthy: %v, %q", err, out.String())
	}
	status = http.StatusServiceUnavailable
	if err := healthcheck(context.Background(), nil, env, &out, &errb); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unhealthy: %v; want an error with the status", err)
	}
	ts.Close()
	if err := healthcheck(context.Background(), []string{"--url", ts.URL + "/healthz"}, env, &out, &errb); err == nil {
		t.Error("server down: no error")
	}
}
