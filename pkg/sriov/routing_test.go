package sriov

import "testing"

func TestRoutingID(t *testing.T) {
	for pci, want := range map[string]int{"0000:01:10.0": 0x180, "0000:3b:02.7": 0x3b17, "0001:ff:1f.7": 0xffff} {
		if got, err := routingID(pci); err != nil || got != want {
			t.Errorf("routingID(%q) = %#x, %v; want %#x", pci, got, err, want)
		}
	}
	for _, pci := range []string{"", "0000:01:10", "01:10.0", "0000:01:20.0", "0000:01:10.8", "0000:100:10.0", "0000:0x:10.0", "0000:01:10.0.1"} {
		if got, err := routingID(pci); err == nil {
			t.Errorf("routingID(%q) = %#x, want an error", pci, got)
		}
	}
}
