// Package needs marks the tests that need more than `make unit` gives them.
// `make unit` runs with -short and needs neither root nor a daemon: these
// tests skip there, with the reason, and run in `make privileged`.
package needs

import (
	"os"
	"testing"
)

// Root skips t in a short run, and where it is not root: it makes network
// namespaces or links.
func Root(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root (network namespaces): runs in make privileged")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
}

// Daemon skips t in a short run: it starts the daemon what.
func Daemon(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts " + what + ": runs in make privileged")
	}
}
