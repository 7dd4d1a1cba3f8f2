//go:build !unix

package outbox

import "time"

// cpuTime is not measured off unix; the CPU metrics then read 0.
func cpuTime() time.Duration { return 0 }
