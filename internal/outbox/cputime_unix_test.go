//go:build unix

package outbox

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) the whole test process has used:
// the outbox, the client and the in-process fake Klaviyo together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
