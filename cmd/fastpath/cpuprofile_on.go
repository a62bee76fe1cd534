//go:build cpuprofile

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startProfile, in the cpuprofile build that `make bench` makes, writes a
// CPU profile of the call into the directory FASTPATH_CPUPROFILE names, one
// file per process, sampled at 1 kHz (a call lasts tens of milliseconds).
// The returned func ends it; a call that exits through os.Exit (an error)
// leaves no profile.
func startProfile() func() {
	dir := os.Getenv("FASTPATH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", os.Getenv("CNI_COMMAND"), os.Getpid())))
	if err != nil {
		return func() {}
	}
	runtime.SetCPUProfileRate(1000)
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
