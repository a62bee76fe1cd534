package ipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	current "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// Announce tells the segment about ifname's new addresses at once, so that
// switches and neighbours learn the VF's MAC before the app sends: a
// gratuitous ARP for each IPv4 address and an unsolicited neighbour
// advertisement for each IPv6 one. It must run in the pod's namespace.
func Announce(ifname string, ips []*current.IPConfig) error {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return fmt.Errorf("announcing on %s: %w", ifname, err)
	}
	var errs []error
	for _, ipc := range ips {
		if v4 := ipc.Address.IP.To4(); v4 != nil {
			errs = append(errs, gratuitousARP(iface, v4))
		} else {
			errs = append(errs, unsolicitedNA(iface, ipc.Address.IP))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("announcing addresses on %s: %w", ifname, err)
	}
	return nil
}

func gratuitousARP(iface *net.Interface, ip net.IP) error {
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("opening packet socket: %w", err)
	}
	defer syscall.Close(fd)
	broadcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame := make([]byte, 0, 42)
	frame = append(frame, broadcast...)
	frame = append(frame, iface.HardwareAddr...)
	frame = binary.BigEndian.AppendUint16(frame, syscall.ETH_P_ARP)
	frame = binary.BigEndian.AppendUint16(frame, 1)      // Ethernet
	frame = binary.BigEndian.AppendUint16(frame, 0x0800) // IPv4
	frame = append(frame, 6, 4)
	frame = binary.BigEndian.AppendUint16(frame, 1) // request, as Linux sends them
	frame = append(frame, iface.HardwareAddr...)
	frame = append(frame, ip...)
	frame = append(frame, make([]byte, 6)...)
	frame = append(frame, ip...)
	addr := &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ARP), Ifindex: iface.Index, Halen: 6}
	copy(addr.Addr[:], broadcast)
	if err := syscall.Sendto(fd, frame, 0, addr); err != nil {
		return fmt.Errorf("sending gratuitous ARP for %s: %w", ip, err)
	}
	return nil
}

func unsolicitedNA(iface *net.Interface, ip net.IP) error {
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return fmt.Errorf("opening ICMPv6 socket: %w", err)
	}
	defer c.Close()
	pc := c.IPv6PacketConn()
	// RFC 4861: neighbour discovery messages carry hop limit 255.
	if err := pc.SetMulticastHopLimit(255); err != nil {
		return fmt.Errorf("setting hop limit: %w", err)
	}
	if err := pc.SetMulticastInterface(iface); err != nil {
		return fmt.Errorf("choosing %s: %w", iface.Name, err)
	}
	body := make([]byte, 0, 28)
	body = binary.BigEndian.AppendUint32(body, 1<<29) // Override flag
	body = append(body, ip.To16()...)
	body = append(body, 2, 1) // target link-layer address option, 8 bytes
	body = append(body, iface.HardwareAddr...)
	msg := icmp.Message{Type: ipv6.ICMPTypeNeighborAdvertisement, Body: &icmp.RawBody{Data: body}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	dst := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: iface.Name}
	if _, err := c.WriteTo(b, dst); err != nil {
		return fmt.Errorf("sending unsolicited NA for %s: %w", ip, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
