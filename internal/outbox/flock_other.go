//go:build !unix

package outbox

// tryFileLock has no portable implementation here: the single delivering
// instance on SQLite is then the operator's responsibility.
func tryFileLock(path string) (release func(), ok bool, err error) {
	return func() {}, true, nil
}
