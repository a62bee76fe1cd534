//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// parallel runs f for every index at once and fails on any error.
func parallel(t *testing.T, n int, what string, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(i) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s %d: %v", what, i, err)
		}
	}
}

// All seven VFs are attached to seven pods in parallel and released in
// parallel, round after round (FASTPATH_RACE_ROUNDS, 100 by default): no
// error, and after the last round the NIC is as it was, with no lease or
// record left.
func TestRaceRounds(t *testing.T) {
	rounds := 100
	if s := os.Getenv("FASTPATH_RACE_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := make([]ns.NetNS, len(nc.vfs))
	confs := make([]*libcni.NetworkConfigList, len(nc.vfs))
	for i := range pods {
		pods[i] = cnitest.Pod(t)
		confs[i] = vfConf(n, nc, i, 100+i, map[string]any{"mtu": 1400})
	}
	for round := range rounds {
		parallel(t, len(pods), fmt.Sprintf("round %d ADD", round), func(i int) error {
			_, err := n.Add(confs[i], cnitest.RT(pods[i], fmt.Sprintf("pod%d", i), "net1"))
			return err
		})
		parallel(t, len(pods), fmt.Sprintf("round %d DEL", round), func(i int) error {
			return n.Del(confs[i], cnitest.RT(pods[i], fmt.Sprintf("pod%d", i), "net1"))
		})
		if t.Failed() {
			t.Fatalf("stopped at round %d", round)
		}
	}
	t.Logf("%d rounds of 7 parallel ADDs and DELs", rounds)
	nc.same(t, before, fmt.Sprintf("after %d rounds", rounds))
	n.Released(t)
}

// Two pods race for one VF: exactly one gets it; the other is told so (in
// use, or try again) and changes nothing; the winner's DEL restores all.
func TestRaceSameVF(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := []ns.NetNS{cnitest.Pod(t), cnitest.Pod(t)}
	l := vfConf(n, nc, 2, 100, nil)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.Add(l, cnitest.RT(pods[i], fmt.Sprintf("racer%d", i), "net1"))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("both ADDs won")
			}
			winner = i
		case cnitest.Code(err) != 101 && cnitest.Code(err) != types.ErrTryAgainLater:
			t.Errorf("losing ADD = %v (code %d), want 101 or 11", err, cnitest.Code(err))
		}
	}
	if winner < 0 {
		t.Fatalf("no ADD won: %v", errs)
	}
	if l := n.Leases(); len(l) != 1 {
		t.Errorf("leases %v, want the winner's only", l)
	}
	// The loser's DEL (as containerd sends after a failed ADD) must not
	// touch the winner's VF.
	must(t, n.Del(l, cnitest.RT(pods[1-winner], fmt.Sprintf("racer%d", 1-winner), "net1")))
	must(t, n.Check(l, cnitest.RT(pods[winner], fmt.Sprintf("racer%d", winner), "net1")))
	must(t, n.Del(l, cnitest.RT(pods[winner], fmt.Sprintf("racer%d", winner), "net1")))
	nc.same(t, before, "after DEL")
	n.Released(t)
}

// A call that finds the VF locked waits a bounded time, then answers "try
// again later" (11) and changes nothing.
func TestLockWaitBounded(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	must(t, os.MkdirAll(filepath.Join(n.StateDir, "locks"), 0o700))
	f, err := os.OpenFile(filepath.Join(n.StateDir, "locks", nc.vfs[3]+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	must(t, err)
	defer f.Close()
	must(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	_, err = n.Add(vfConf(n, nc, 3, 100, nil), cnitest.RT(cnitest.Pod(t), "waiter", "net1"))
	if cnitest.Code(err) != types.ErrTryAgainLater {
		t.Fatalf("ADD on a locked VF = %v (code %d), want 11", err, cnitest.Code(err))
	}
	nc.same(t, before, "after the refused ADD")
	n.Released(t)
}

// A node reboot, simulated: the state survives, every pod namespace is
// gone, and the kernel has handed each VF back to the host under its
// container name (or a dev%d name where two clash). GC with no valid
// attachment brings every VF back as it was before the pods, and frees
// every lease.
func TestOrphanReboot(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := make([]ns.NetNS, len(nc.vfs))
	for i := range pods {
		pods[i] = cnitest.Pod(t)
		_, err := n.Add(vfConf(n, nc, i, 100+i, map[string]any{"mtu": 1300}), cnitest.RT(pods[i], fmt.Sprintf("pod%d", i), "net1"))
		must(t, err)
	}
	for _, p := range pods {
		p.Close()
		must(t, unix.Unmount(p.Path(), unix.MNT_DETACH))
	}
	gc := n.List("1.1.0", n.Plugin("10.10.0.0/24", nil))
	must(t, n.CNI.GCNetworkList(t.Context(), gc, &libcni.GCArgs{}))
	nc.same(t, before, "after GC")
	n.Released(t)
}
