//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

// cnitool, the CNI project's own client, drives the whole life cycle the way
// Multus would call fastpath: deviceID and mac as capabilities. GC (which
// cnitool sends with no valid attachments) must bring the VF back.
func TestCnitool(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	dir := t.TempDir()
	conf := map[string]any{
		"cniVersion": "1.1.0", "name": "cnitool-net",
		"plugins": []map[string]any{{
			"type": "fastpath", "capabilities": map[string]bool{"deviceID": true, "mac": true},
			"vlan": 42, "logFile": "fastpath.log",
			"ipam": map[string]any{"type": "host-local", "subnet": "10.42.0.0/24", "dataDir": filepath.Join(dir, "ipam")},
		}},
	}
	b, _ := json.Marshal(conf)
	must(t, os.WriteFile(filepath.Join(dir, "10-net.conflist"), b, 0o644))
	nodeFile := filepath.Join(dir, "node.json")
	b, _ = json.Marshal(map[string]any{"stateDir": filepath.Join(dir, "state"), "logDir": dir})
	must(t, os.WriteFile(nodeFile, b, 0o644))
	netns := "/var/run/netns/cnitool-pod"
	run := func(args ...string) (string, error) {
		cmd := exec.Command("cnitool", args...)
		cmd.Env = append(os.Environ(), "NETCONFPATH="+dir, "CNI_PATH="+binDir, node.PathEnv+"="+nodeFile,
			`CAP_ARGS={"deviceID":"`+nc.vfs[4]+`","mac":"02:42:00:00:00:01"}`)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := exec.Command("/usr/sbin/ip-full", "netns", "add", "cnitool-pod").CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	defer exec.Command("/usr/sbin/ip-full", "netns", "del", "cnitool-pod").Run()

	out, err := run("add", "cnitool-net", netns)
	defer run("del", "cnitool-net", netns) // after a failure, free the VF for the next tests
	if err != nil || !strings.Contains(out, `"pciID": "`+nc.vfs[4]+`"`) || !strings.Contains(out, "10.42.0.") {
		t.Fatalf("cnitool add: %v\n%s", err, out)
	}
	if pf := ipLink(t, nc.pf); !strings.Contains(pf, "vf 4     link/ether 02:42:00:00:00:01 brd ff:ff:ff:ff:ff:ff, vlan 42") {
		t.Errorf("PF does not show VF 4 configured:\n%s", pf)
	}
	for _, cmd := range []string{"check", "status"} {
		if out, err := run(cmd, "cnitool-net", netns); err != nil {
			t.Errorf("cnitool %s: %v\n%s", cmd, err, out)
		}
	}
	if out, err := run("gc", "cnitool-net", netns); err != nil {
		t.Fatalf("cnitool gc: %v\n%s", err, out)
	}
	nc.same(t, before, "after GC")
	ents, _ := os.ReadDir(filepath.Join(dir, "ipam", "cnitool-net"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "10.42.") {
			t.Errorf("lease %s left after GC", e.Name())
		}
	}
	if t.Failed() {
		if b, err := os.ReadFile(filepath.Join(dir, "fastpath.log")); err == nil {
			t.Logf("fastpath.log:\n%s", b)
		}
	}
}
