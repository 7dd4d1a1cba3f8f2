// Package faults is snippetd's fault-injection suite: its tests run the
// whole server (app.Main, or the built binary as a subprocess) against
// SQLite and PostgreSQL and the fake Klaviyo, inject one fault each —
// database outage, killed sessions, full disk, Klaviyo down, 429 storms,
// permanent rejections, kill -9 — and count what was acknowledged,
// delivered, missing and sent twice, and how long recovery took. The
// figures are in docs/reliability.md. The package has no code of its own.
package faults
