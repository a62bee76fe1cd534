//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// A pod renamed its VF, and links come and go in its namespace while
// fastpath looks for the VF by its PCI address: some link dumps are
// interrupted (the kernel flags them, netlink returns ErrDumpInterrupted
// with a list), and FindInNS finds the VF every time all the same.
func TestFindInNSWhileLinksChange(t *testing.T) {
	nc := findNIC(t)
	const idx = 6
	pci, name := nc.vfs[idx], nc.names[idx]
	pod := cnitest.Pod(t)
	podNS, err := netns.GetFromPath(pod.Path())
	must(t, err)
	t.Cleanup(func() { podNS.Close() })
	// One handle for the lookups, one for the goroutine that changes links:
	// a handle serves one request at a time.
	h, err := netlink.NewHandleAt(podNS)
	must(t, err)
	t.Cleanup(h.Close)
	churnH, err := netlink.NewHandleAt(podNS)
	must(t, err)
	defer churnH.Close()

	vf, err := netlink.LinkByName(name)
	must(t, err)
	must(t, netlink.LinkSetNsFd(vf, int(podNS)))
	t.Cleanup(func() {
		host, err := netns.Get()
		if err == nil {
			defer host.Close()
			var l netlink.Link
			if l, err = h.LinkByName("renamed"); err == nil {
				err = errors.Join(h.LinkSetName(l, name), h.LinkSetNsFd(l, int(host)))
			}
		}
		if err != nil {
			t.Errorf("returning VF %s to the host as %s: %v", pci, name, err)
		}
	})
	vf, err = h.LinkByName(name)
	must(t, err)
	must(t, h.LinkSetName(vf, "renamed"))

	// Enough links that one dump takes many messages, and one link that a
	// goroutine adds and deletes meanwhile.
	must(t, pod.Do(func(ns.NetNS) error {
		for i := range 100 {
			if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("b%d", i)}}); err != nil {
				return err
			}
		}
		return nil
	}))
	stop, churned := make(chan struct{}), make(chan error)
	go func() {
		var err error
		for err == nil {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "churn"}}
			if err = churnH.LinkAdd(br); err == nil {
				err = churnH.LinkDel(br)
			}
		}
		churned <- err
	}()

	interrupted := 0
	for i := 0; i < 100 && interrupted < 5; i++ {
		if _, err := h.LinkList(); errors.Is(err, netlink.ErrDumpInterrupted) {
			interrupted++
		}
		l, err := sriov.FindInNS(h, "net1", pci, 0)
		if err != nil || l == nil || l.Attrs().Name != "renamed" {
			close(stop)
			<-churned
			t.Fatalf("lookup %d (after %d interrupted dumps): FindInNS = %v, %v; want the VF as renamed", i, interrupted, l, err)
		}
	}
	close(stop)
	must(t, <-churned)
	if interrupted == 0 {
		t.Fatal("no link dump was interrupted: the test did not reach the case it is for")
	}
	t.Logf("%d link dumps interrupted; FindInNS found the VF every time", interrupted)
}
