package dpdk

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAddDeletePort is the OVSDB cost of one CNI ADD and one DEL:
// dial + AddPort + close, then dial + DeletePort + close. The
// sub-benchmarks split it, and ovs-vsctl shows what running the CLI (one
// fork+exec per call) would cost instead.
func BenchmarkAddDeletePort(b *testing.B) {
	s := startOVSDB(b)
	ctx := context.Background()
	spec := vhostSpec("br0", "vhu-bench")

	dialDo := func(b *testing.B, f func(*OVS) error) {
		o, err := Dial(ctx, s.endpoint)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		if err := f(o); err != nil {
			b.Fatal(err)
		}
	}
	add := func(o *OVS) error { return o.AddPort(ctx, spec) }
	del := func(o *OVS) error { return o.DeletePort(ctx, "br0", spec.Name) }

	b.Run("add+delete", func(b *testing.B) {
		for b.Loop() {
			dialDo(b, add)
			dialDo(b, del)
		}
	})
	b.Run("dial+close", func(b *testing.B) {
		for b.Loop() {
			dialDo(b, func(*OVS) error { return nil })
		}
	})
	b.Run("dial+add+close", func(b *testing.B) {
		for b.Loop() {
			dialDo(b, add)
			b.StopTimer()
			dialDo(b, del)
			b.StartTimer()
		}
	})
	b.Run("dial+delete+close", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dialDo(b, add)
			b.StartTimer()
			dialDo(b, del)
		}
	})
	b.Run("one-conn/add+delete", func(b *testing.B) {
		o, err := Dial(ctx, s.endpoint)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		for b.Loop() {
			if err := add(o); err != nil {
				b.Fatal(err)
			}
			if err := del(o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ovs-vsctl/add+delete", func(b *testing.B) {
		for b.Loop() {
			s.vsctl(b, "add-port", "br0", spec.Name, "tag=100",
				"external_ids:fastpath.owner=fastpath", "--",
				"set", "Interface", spec.Name, "type=dpdkvhostuserclient",
				"options:vhost-server-path="+spec.Options[OptVhostServerPath])
			s.vsctl(b, "del-port", "br0", spec.Name)
		}
	})
}

// BenchmarkConnect is the cost of starting a session (Dial: connect and
// one probe transaction, no schema) and of a GetPort, on a database with a
// few ports or many. (Earlier revisions compared libovsdb's client here,
// with a 3-table or a full model, monitoring or not; its package is gone
// from this module, for its start-up cost.)
func BenchmarkConnect(b *testing.B) {
	s := startOVSDB(b)
	ctx := context.Background()

	o, err := Dial(ctx, s.endpoint)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	have := 0
	for _, ports := range []int{0, 250} {
		for ; have < ports; have++ {
			if err := o.AddPort(ctx, vhostSpec("br0", fmt.Sprintf("vhu%03d", have))); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("ports=%d/Dial", ports), func(b *testing.B) {
			for b.Loop() {
				o, err := Dial(ctx, s.endpoint)
				if err != nil {
					b.Fatal(err)
				}
				o.Close()
			}
		})
		b.Run(fmt.Sprintf("ports=%d/GetPort", ports), func(b *testing.B) {
			for b.Loop() {
				if _, err := o.GetPort(ctx, "vhu000"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("ports=%d/Ping", ports), func(b *testing.B) {
			for b.Loop() {
				if err := o.Ping(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
