package cnitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CrashBin makes a plugin directory whose "fastpath" is the fault-injection
// build at crashBin, beside the other plugins of binDir.
func CrashBin(t testing.TB, binDir, crashBin string) string {
	dir := t.TempDir()
	ents, err := os.ReadDir(binDir)
	Must(t, err)
	for _, e := range ents {
		Must(t, os.Symlink(filepath.Join(binDir, e.Name()), filepath.Join(dir, e.Name())))
	}
	Must(t, os.Remove(filepath.Join(dir, "fastpath")))
	Must(t, os.Symlink(crashBin, filepath.Join(dir, "fastpath")))
	return dir
}

// Trace runs f with the fault-injection build recording the steps it
// passes, and returns them by command: "add" and "del".
func Trace(t testing.TB, f func()) map[string][]string {
	file := filepath.Join(t.TempDir(), "trace")
	t.Setenv("FASTPATH_CRASH_TRACE", file)
	f()
	os.Unsetenv("FASTPATH_CRASH_TRACE")
	b, err := os.ReadFile(file)
	Must(t, err)
	points := map[string][]string{}
	for _, p := range strings.Fields(string(b)) {
		cmd, _, _ := strings.Cut(p, "/")
		points[cmd] = append(points[cmd], p)
	}
	if len(points["add"]) == 0 || len(points["del"]) == 0 {
		t.Fatalf("traced no steps: %q", b)
	}
	return points
}

// CrashAt runs f with the fault-injection build dying at point.
func CrashAt(t testing.TB, point string, f func()) {
	t.Setenv("FASTPATH_CRASH_AT", point)
	f()
	os.Unsetenv("FASTPATH_CRASH_AT")
}

// BuildCrash builds the fault-injection fastpath as dir/fastpath-crash.
func BuildCrash(dir string) error {
	cmd := exec.Command("go", "build", "-tags", "faultinject", "-o", filepath.Join(dir, "fastpath-crash"),
		"github.com/fastpath-cni/fastpath/cmd/fastpath")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the fault-injection fastpath: %w\n%s", err, out)
	}
	return nil
}
