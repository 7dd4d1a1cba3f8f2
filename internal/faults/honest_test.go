package faults

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/snippetd/snippetd/internal/db/dbtest"
)

// TestDiskFullIsUnavailable: on SQLite whose file cannot grow (as on a
// full disk), the orders API answers 503 unavailable with Retry-After,
// /readyz fails, and both recover once there is room.
func TestDiskFullIsUnavailable(t *testing.T) {
	s := start(t, "sqlite", nil)
	url := s.Server.URL()
	if a := post(url, "/v1/orders", orderBody("full-0")); a.status != http.StatusAccepted {
		t.Fatalf("healthy POST: %+v", a)
	}
	undo := dbtest.Fill(t, s.DB)
	time.Sleep(20 * time.Millisecond) // past the probe's reuse period
	if a := get(url, "/readyz"); a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Errorf("/readyz with a full disk: %+v, want 503 with Retry-After", a)
	}
	refused := false
	for i := 1; i <= 200 && !refused; i++ {
		a := post(url, "/v1/orders", orderBody(fmt.Sprintf("full-%d", i)))
		refused = !checkHonest(t, fmt.Sprintf("POST %d with a full disk", i), a)
		if t.Failed() {
			return
		}
	}
	if !refused {
		t.Fatal("200 orders were acknowledged by a full database")
	}
	undo()
	time.Sleep(20 * time.Millisecond)
	if a := get(url, "/readyz"); a.status != http.StatusOK {
		t.Errorf("/readyz after the disk has room: %+v", a)
	}
	if a := post(url, "/v1/orders", orderBody("full-after")); a.status != http.StatusAccepted {
		t.Errorf("POST after the disk has room: %+v", a)
	}
}

// TestKilledSessionIsUnavailable: when PostgreSQL kills snippetd's
// sessions (pg_terminate_backend, as a failover does) the orders API
// answers 503 unavailable with Retry-After, never 500, and goes on; while
// the database refuses connections /readyz fails, and recovers after.
func TestKilledSessionIsUnavailable(t *testing.T) {
	s := start(t, "postgres", nil)
	url := s.Server.URL()
	if a := post(url, "/v1/orders", orderBody("kill-0")); a.status != http.StatusAccepted {
		t.Fatalf("healthy POST: %+v", a)
	}
	// Killing sessions leaves the database up: each dead pooled
	// connection fails the statement that finds it, then the pool
	// reconnects.
	refused := 0
	for round := range 5 {
		dbtest.TerminateSessions(t, s.dbURL)
		for i := range 4 {
			if !checkHonest(t, "POST after a killed session", post(url, "/v1/orders", orderBody(fmt.Sprintf("kill-%d-%d", round, i)))) {
				refused++
			}
		}
	}
	t.Logf("%d of 20 POSTs right after a session kill were refused with 503", refused)
	allow := dbtest.Refuse(t, s.dbURL)
	time.Sleep(20 * time.Millisecond)
	a := post(url, "/v1/orders", orderBody("down-1"))
	if checkHonest(t, "POST while the database refuses connections", a) {
		t.Error("an order was acknowledged while the database refused connections")
	}
	if a := get(url, "/readyz"); a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Errorf("/readyz while the database refuses connections: %+v, want 503 with Retry-After", a)
	}
	allow()
	deadline := time.Now().Add(10 * time.Second)
	for get(url, "/readyz").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still failing 10 s after the database came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := post(url, "/v1/orders", orderBody("down-after")); a.status != http.StatusAccepted {
		t.Errorf("POST after the outage: %+v", a)
	}
}
