package bench

import (
	"bytes"
	"crypto/sha256"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spinHashing hashes until the process has used d of CPU time: on a loaded
// machine d of wall time gave the profiler a handful of samples, and under
// -race the detector's own functions then filled the flat top.
//
//go:noinline
func spinHashing(d time.Duration) (sum byte) {
	for start := cpuTime(); cpuTime()-start < d; {
		for range 1000 {
			h := sha256.Sum256([]byte("fastpath"))
			sum ^= h[0]
		}
	}
	return sum
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPprofTop(t *testing.T) {
	var profiles [][]byte
	for range 2 {
		var buf bytes.Buffer
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Skip("CPU profiling unavailable:", err)
		}
		spinHashing(300 * time.Millisecond)
		pprof.StopCPUProfile()
		profiles = append(profiles, buf.Bytes())
	}
	out, err := PprofTop(profiles, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "2 calls, ") {
		t.Errorf("header: %q", out)
	}
	cum, flat, ok := strings.Cut(out, "\nflat:\n")
	if !ok || !strings.Contains(cum, "bench.spinHashing") {
		t.Fatalf("the busy function is not among the cumulative top:\n%s", out)
	}
	// Most of the time is in SHA-256's own code, which spinHashing calls.
	if !strings.Contains(flat, "sha256") {
		t.Errorf("no SHA-256 function in the flat top:\n%s", out)
	}
	if _, err := PprofTop(nil, 10); err == nil {
		t.Error("no profiles: no error")
	}
	if _, err := PprofTop([][]byte{[]byte("not a profile")}, 10); err == nil {
		t.Error("garbage: no error")
	}
}
