package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// A network config is a tenant's input: the node's settings (sysfs root,
// state directory, log directory) are not its to move. Each attempt is CNI
// error 7 naming the key and the value, and nothing on the host changes:
// not the link the planted tree points at, not the directories named, not
// the files.
func TestNodeSettingsRefused(t *testing.T) {
	nd := newNode(t, 1)
	pod := nd.pod()
	victim := nd.vfs[0]
	linkBefore := hostLink(t, victim)

	// A tree planted where a pod could write (its emptyDir) that calls the
	// victim link a VF of a made-up PF.
	planted := filepath.Join(t.TempDir(), "sys")
	must(t, fakesysfs.Build(planted, fakePF(1, strings.TrimSuffix(victim, "0"))))
	rootFile := filepath.Join(t.TempDir(), "root-owned")
	must(t, os.WriteFile(rootFile, []byte("do not touch\n"), 0o600))
	otherState := filepath.Join(t.TempDir(), "state")
	created := filepath.Join(t.TempDir(), "etc", "fastpath-created.log")

	for _, tc := range []struct {
		key   string
		value any
	}{
		{"sysfsRoot", planted},
		{"stateDir", otherState},
	} {
		_, err := nd.Add(nd.conf("1.1.0", map[string]any{tc.key: tc.value}), rt(pod, "c1", "net1"))
		if cniCode(err) != types.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.value.(string)) {
			t.Errorf("ADD with %s %v = %v, want code 7 naming both", tc.key, tc.value, err)
		}
	}
	if got := hostLink(t, victim); got != linkBefore {
		t.Errorf("link %s changed: %+v, was %+v", victim, got, linkBefore)
	}
	nd.Released(t)

	// logFile is a file of the node's log directory: a path elsewhere
	// (sriov-cni's configs give one) logs to the file of its name there.
	for _, path := range []string{rootFile, created, "../escape.log"} {
		l := nd.conf("1.1.0", map[string]any{"logFile": path})
		r := rt(pod, "c3", "net1")
		_, err := nd.Add(l, r)
		must(t, err)
		must(t, nd.Del(l, r))
		if b, err := os.ReadFile(filepath.Join(nd.Dir, filepath.Base(path))); err != nil || !strings.Contains(string(b), `"ADD done"`) {
			t.Errorf("logFile %s: the node's log directory has %q (%v), want its ADD done line", path, b, err)
		}
	}
	if b, err := os.ReadFile(rootFile); err != nil || string(b) != "do not touch\n" {
		t.Errorf("%s: %q %v: written through logFile", rootFile, b, err)
	}
	for _, p := range []string{otherState, created, filepath.Dir(created), filepath.Join(nd.Dir, "..", "escape.log")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s was made: %v", p, err)
		}
	}
	nd.Released(t)

	// The node's own value is taken, as configs of earlier releases name it;
	// a DEL whose config names another still releases, with the node's
	// values: refusing would keep the pod from ever being deleted.
	l := nd.conf("1.1.0", map[string]any{"sysfsRoot": nd.sysfs, "stateDir": nd.StateDir, "logFile": filepath.Join(nd.Dir, "fastpath.log")})
	r := rt(pod, "c2", "net1")
	_, err := nd.Add(l, r)
	must(t, err)
	must(t, nd.Del(nd.conf("1.1.0", map[string]any{"sysfsRoot": planted, "stateDir": otherState}), r))
	if got := hostLink(t, victim); got != linkBefore {
		t.Errorf("after DEL, link %s is %+v, was %+v", victim, got, linkBefore)
	}
	nd.Released(t)
}

// The log file is opened without following a link, even one planted in the
// node's log directory: the plugin logs to stderr instead, and the link's
// target is untouched.
func TestLogFileNoFollow(t *testing.T) {
	nd := newNode(t, 1)
	target := filepath.Join(t.TempDir(), "target")
	must(t, os.WriteFile(target, nil, 0o600))
	must(t, os.Symlink(target, filepath.Join(nd.Dir, "linked.log")))
	l := nd.conf("1.1.0", map[string]any{"logFile": "linked.log"})
	r := rt(nd.pod(), "c1", "net1")
	_, err := nd.Add(l, r)
	must(t, err)
	must(t, nd.Del(l, r))
	if b, err := os.ReadFile(target); err != nil || len(b) != 0 {
		t.Errorf("the link's target got %q (%v)", b, err)
	}
	nd.Released(t)
}

// The netdev that ADD moves is the VF's own, never its PF's: a sysfs tree
// that names the PF's netdev as the VF's (a driver bug, a hand-made tree) is
// refused with code 100 before anything changes.
func TestNeverMovesThePF(t *testing.T) {
	nd := newNode(t, 1)
	pf := fakePF(1, strings.TrimSuffix(nd.vfs[0], "0"))
	pf.Netdev = nd.vfs[0]
	tree := filepath.Join(nd.Dir, "sys-pf-as-vf")
	must(t, fakesysfs.Build(tree, pf))
	nd.SetNode("sysfsRoot", tree)
	before := hostLink(t, nd.vfs[0])
	_, err := nd.Add(nd.conf("1.1.0", nil), rt(nd.pod(), "c1", "net1"))
	if cniCode(err) != 100 || !strings.Contains(err.Error(), "must not move into a pod") {
		t.Errorf("ADD = %v, want code 100: the netdev is the PF's", err)
	}
	if got := hostLink(t, nd.vfs[0]); got != before {
		t.Errorf("link %s changed: %+v, was %+v", nd.vfs[0], got, before)
	}
	nd.Released(t)
}
