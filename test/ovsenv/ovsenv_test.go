package ovsenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseOVSDBMap(t *testing.T) {
	m, err := parseOVSDBMap(`{rx_packets=12, tx_packets=0, "odd-key"=3}`)
	if err != nil || m["rx_packets"] != 12 || m["tx_packets"] != 0 || m["odd-key"] != 3 {
		t.Fatalf("got %v, %v", m, err)
	}
	if m, err := parseOVSDBMap("{}"); err != nil || len(m) != 0 {
		t.Fatalf("empty map: %v, %v", m, err)
	}
	if _, err := parseOVSDBMap("[]"); err == nil {
		t.Fatal("a set parsed as a map")
	}
}

// TestVhostUserVLAN: two pods' DPDK apps (testpmd, virtio-user, server mode) on access
// ports of VLAN 100 of a netdev bridge exchange traffic through OVS-DPDK; a third on
// VLAN 200 gets none of it, until its port is moved to VLAN 100.
func TestVhostUserVLAN(t *testing.T) {
	begin := time.Now()
	o := Start(t)
	t.Logf("OVS with DPDK up in %v (ovs-vswitchd exec to dpdk_initialized %v)",
		time.Since(begin).Round(time.Millisecond), o.StartupTime.Round(time.Millisecond))

	o.AddBridge("br0")
	sockDir := filepath.Join(o.Dir, "vhu")
	sock := func(port string) string { return filepath.Join(sockDir, port+".sock") }
	if err := os.Mkdir(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name string
		tag  string
	}{{"tx100", "100"}, {"rx100", "100"}, {"rx200", "200"}} {
		if _, err := o.Vsctl("add-port", "br0", p.name, "tag="+p.tag,
			"--", "set", "Interface", p.name, "type=dpdkvhostuserclient",
			"options:vhost-server-path="+sock(p.name)); err != nil {
			t.Fatal(err)
		}
	}

	// Receivers first, so that they count from the first packet.
	rx := StartTestpmd(t, sock("rx100"), true, RxOnly(), MAC("02:00:00:00:01:02"))
	other := StartTestpmd(t, sock("rx200"), true, RxOnly(), MAC("02:00:00:00:02:02"))
	for _, p := range []*Testpmd{rx, other} {
		if err := p.WaitReady(20 * time.Second); err != nil {
			t.Fatalf("receiver not up: %v", err)
		}
	}
	for _, port := range []string{"rx100", "rx200"} {
		if err := o.WaitLinkState(port, "up", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// Destination: rx100's MAC, which OVS has not learned (rx100 sends nothing), so OVS
	// floods the frames to every port of VLAN 100, and only there.
	tx := StartTestpmd(t, sock("tx100"), true, TxOnly("02:00:00:00:01:02"), MAC("02:00:00:00:01:01"))
	txUp := time.Now()
	_, err := rx.WaitRX(1000, 20*time.Second)
	if err != nil {
		t.Fatalf("rx100 received too little: %v\nsender: %+v", err, tx.Stats())
	}
	t.Logf("first report with >= 1000 packets at rx100 %v after the sender started",
		time.Since(txUp).Round(time.Millisecond))
	// OVS's Interface statistics (refreshed every 5 s): packets in from tx100, out to rx100.
	in, err := o.WaitPortStat("tx100", "rx_packets", 1, 15*time.Second)
	if err != nil {
		t.Fatalf("OVS saw nothing from tx100: %v", err)
	}
	out, err := o.WaitPortStat("rx100", "tx_packets", 1, 15*time.Second)
	if err != nil {
		t.Fatalf("OVS sent nothing to rx100: %v", err)
	}
	t.Logf("OVS: tx100 rx_packets=%d, rx100 tx_packets=%d (ovs_tx_failure_drops=%d)",
		in["rx_packets"], out["tx_packets"], out["ovs_tx_failure_drops"])
	t.Logf("sender:   %+v", tx.Stats())
	t.Logf("receiver: %+v", rx.Stats())
	if pmd, err := o.Appctl("dpif-netdev/pmd-stats-show"); err == nil {
		t.Logf("pmd-stats-show:\n%s", pmd)
	}

	// VLAN 200 stays silent, in testpmd's count and in OVS's (whose statistics above were
	// refreshed after the traffic began).
	if n := other.Stats().RXPackets; n != 0 {
		t.Errorf("rx200 (VLAN 200) received %d packets of VLAN 100", n)
	}
	if s := o.PortStats("rx200"); s["tx_packets"] != 0 {
		t.Errorf("OVS sent %d packets to rx200 (VLAN 200)", s["tx_packets"])
	}
	// Control: the same receiver, moved to VLAN 100, does get the flood.
	if _, err := o.Vsctl("set", "Port", "rx200", "tag=100"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WaitRX(1, 15*time.Second); err != nil {
		t.Errorf("rx200 moved to VLAN 100 received nothing: %v", err)
	}

	txFinal, err := tx.Stop()
	if err != nil {
		t.Fatal(err)
	}
	rxFinal, err := rx.Stop()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final: sender TX=%d (dropped %d: the vhost ring was full), rx100 RX=%d",
		txFinal.TXPackets, txFinal.TXDropped, rxFinal.RXPackets)
	if txFinal.TXPackets == 0 || rxFinal.RXPackets == 0 {
		t.Errorf("final counters show no traffic: sender %+v, receiver %+v", txFinal, rxFinal)
	}
	if rxFinal.RXPackets > txFinal.TXPackets {
		t.Errorf("rx100 received %d > %d sent", rxFinal.RXPackets, txFinal.TXPackets)
	}
}
