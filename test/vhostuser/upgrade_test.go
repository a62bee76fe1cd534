package vhostuser

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// A vhost-user port that the previous release added (a version 1 record)
// is released exactly by this one: the OVS port, the pod's files, the lease
// and the record. Its config names ovsdb, podsDir, stateDir and a logFile
// path as configs for that release did; this release takes them, as they
// are the node's.
func TestUpgradeReleasesVersion1(t *testing.T) {
	v1, err := cnitest.BuildV1(t.TempDir())
	if err != nil {
		t.Skipf("no fastpath of version 1 records: %v", err)
	}
	w := newWorld(t)
	before := w.snapshot()
	l := w.conf(map[string]any{"vlan": 42})
	var m map[string]any
	cnitest.Must(t, json.Unmarshal(l.Plugins[0].Bytes, &m))
	vu := m["vhostuser"].(map[string]any)
	vu["ovsdb"], vu["podsDir"] = "unix:"+w.ovs.DBSock, w.pods
	m["stateDir"], m["logFile"] = w.StateDir, filepath.Join(w.Dir, "fastpath.log")
	l = w.List("1.1.0", m)
	old := libcni.NewCNIConfigWithCacheDir([]string{v1, binDir}, filepath.Join(w.Dir, "cache"), nil)
	p := cnitest.Pod(t)
	r := rt(p, "up")
	res, err := old.AddNetworkList(context.Background(), l, r)
	cnitest.Must(t, err)
	if !strings.Contains(w.snapshot(), "vhu") {
		t.Fatalf("the previous release made no port: %s (result %v)", w.snapshot(), res)
	}
	b, err := os.ReadFile(filepath.Join(w.StateDir, "attachments", "fpnet", "up:net1.json"))
	cnitest.Must(t, err)
	if strings.Contains(string(b), `"version"`) {
		t.Fatalf("the previous release wrote a versioned record: %s", b)
	}
	cnitest.Must(t, w.Check(l, r))
	cnitest.Must(t, w.Del(l, r))
	if after := w.snapshot(); after != before {
		t.Errorf("after this release's DEL of a version 1 port:\n%s\nwas\n%s", after, before)
	}
	w.Released(t)
}
