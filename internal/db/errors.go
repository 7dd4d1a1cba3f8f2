package db

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/snippetd/snippetd/internal/apperr"
)

// ErrUnavailable is the client-facing error of a storage failure: the
// request was not stored and the same request may be sent again later.
var ErrUnavailable = &apperr.Error{Code: apperr.EUNAVAILABLE, Message: "storage is unavailable; nothing was stored, retry later"}

// unavailableError is a storage failure classified as EUNAVAILABLE. It
// unwraps to both the client-facing error (for apperr.As) and the driver's
// error (for logs and errors.Is).
type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return "storage unavailable: " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// Unavailable returns err classified: a storage failure that a retry can
// outlive — the database unreachable, a session terminated, a connection
// lost, the disk or the database full, the file read-only, a lock or busy
// timeout, an I/O error — becomes an error whose apperr code is
// EUNAVAILABLE (503 with Retry-After at the HTTP funnel), still wrapping
// err. Anything else, including constraint and syntax errors (bugs, not
// outages) and errors that already carry an apperr code, is returned as
// it is. Nil stays nil.
func Unavailable(err error) error {
	if err == nil || !IsUnavailable(err) {
		return err
	}
	var u *unavailableError
	if errors.As(err, &u) {
		return err
	}
	return &unavailableError{cause: err}
}

// IsUnavailable reports whether err is a storage failure that Unavailable
// classifies as EUNAVAILABLE, or already carries that code.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := apperr.As(err); ok {
		return e.Code == apperr.EUNAVAILABLE
	}
	// A failed connection attempt wraps the server's refusal (such as
	// "database is not accepting connections"): an outage whatever it says.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgUnavailable(pe.Code)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return sqliteUnavailable(se.Code())
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, pgconn.ErrConnClosed), pgconn.Timeout(err),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO),
		errors.Is(err, syscall.EDQUOT):
		return true
	}
	return false
}

// pgUnavailable reports whether a PostgreSQL SQLSTATE is an outage rather
// than a bug in the statement: connection exceptions (08), insufficient
// resources such as a full disk (53), operator intervention such as a
// terminated backend or a shutdown (57, except 57014 query_canceled, which
// is a statement timeout and also retryable), system and I/O errors (58),
// serialization failures and deadlocks (40001, 40P01), a read-only
// transaction on a standby (25006) and lock timeouts (55P03).
func pgUnavailable(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	switch code {
	case "40001", "40P01", "25006", "55P03":
		return true
	}
	return false
}

// sqliteUnavailable reports whether an SQLite result code (extended codes
// carry the primary one in their low byte) is an outage: busy or locked
// past the busy timeout, out of memory, read-only, I/O error (ENOSPC shows
// as SQLITE_IOERR_WRITE), full (max_page_count or the disk), cannot open,
// or a WAL protocol error.
func sqliteUnavailable(code int) bool {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}
