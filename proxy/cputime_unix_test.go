//go:build unix

package proxy

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the process has used so far.
// The benchmarks report it per operation as cpu-ns/op next to ns/op: on a
// shared machine wall time includes the time other processes hold the
// cores, the process's own CPU time does not (it does include GC).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
