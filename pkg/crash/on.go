//go:build faultinject

package crash

import (
	"os"
	"syscall"
)

// Point records that the step name is done and, if asked to, dies here.
func Point(name string) {
	if trace := os.Getenv("FASTPATH_CRASH_TRACE"); trace != "" {
		if f, err := os.OpenFile(trace, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
			f.WriteString(name + "\n")
			f.Close()
		}
	}
	if os.Getenv("FASTPATH_CRASH_AT") == name {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
