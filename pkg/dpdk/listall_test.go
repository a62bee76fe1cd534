package dpdk

import (
	"fmt"
	"reflect"
	"testing"
)

func TestListPortsWithKey(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)
	add := func(name string, ids map[string]string) {
		t.Helper()
		spec := vhostSpec("br0", name)
		spec.ExternalIDs = ids
		if err := o.AddPort(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	add("a", map[string]string{"fastpath.network": "net1"})
	add("b", map[string]string{"fastpath.network": "net2", "x": "y"})
	add("c", map[string]string{"other": "net1"})
	add("d", nil)
	s.vsctl(t, "add-port", "br0", "e", "--", "set", "Port", "e", `external_ids:fastpath.network=""`)

	got, err := o.ListPortsWithKey(ctx, "fastpath.network")
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, p := range got {
		summary = append(summary, fmt.Sprintf("%s@%s=%s", p.Name, p.Bridge, p.ExternalIDs["fastpath.network"]))
	}
	if want := []string{"a@br0=net1", "b@br0=net2", "e@br0="}; !reflect.DeepEqual(summary, want) {
		t.Errorf("ListPortsWithKey = %v, want %v", summary, want)
	}
	if got, err := o.ListPortsWithKey(ctx, "no.such.key"); err != nil || len(got) != 0 {
		t.Errorf("ListPortsWithKey(no.such.key) = %v, %v; want none", got, err)
	}
}
