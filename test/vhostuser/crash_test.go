package vhostuser

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// The plugin is killed after every step of ADD and of DEL (the
// fault-injection build); the next DEL must leave OVS and the pods
// directory as they were, with no lease or record.
func TestCrashEveryStep(t *testing.T) {
	w := newWorld(t)
	w.Net = cnitest.NewNet(t, cnitest.CrashBin(t, binDir, filepath.Join(binDir, "fastpath-crash")))
	before := w.snapshot()
	info := filepath.Join(w.Dir, "devinfo.json")
	l := w.List("1.1.0", w.Plugin("10.98.0.0/24", map[string]any{
		"mode": "vhostuser", "runtimeConfig": map[string]any{"CNIDeviceInfoFile": info},
		"vhostuser": map[string]any{"backend": "ovs", "bridge": bridge, "vlan": 42},
	}))
	w.setNode()
	p := cnitest.Pod(t)
	r := rt(p, "crash")
	points := cnitest.Trace(t, func() {
		_, err := w.Add(l, r)
		cnitest.Must(t, err)
		cnitest.Must(t, w.Del(l, r))
	})
	t.Logf("ADD steps %v, DEL steps %v", points["add"], points["del"])
	check := func(t *testing.T, point string) {
		if after := w.snapshot(); after != before {
			t.Errorf("after a crash at %s and DEL:\n%s\nbefore ADD:\n%s", point, after, before)
		}
		w.Released(t)
	}
	for _, point := range points["add"] {
		t.Run(point, func(t *testing.T) {
			cnitest.CrashAt(t, point, func() {
				if _, err := w.Add(l, r); err == nil {
					t.Fatalf("ADD survived a crash at %s", point)
				}
			})
			cnitest.Must(t, w.Del(l, r))
			check(t, point)
		})
	}
	for _, point := range points["del"] {
		t.Run(point, func(t *testing.T) {
			_, err := w.Add(l, r)
			cnitest.Must(t, err)
			cnitest.CrashAt(t, point, func() {
				if err := w.Del(l, r); err == nil {
					t.Fatalf("DEL survived a crash at %s", point)
				}
			})
			cnitest.Must(t, w.Del(l, r))
			check(t, fmt.Sprint(point))
		})
	}
}
