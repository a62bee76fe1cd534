package dpdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const ownerKey = "fastpath.owner"

func intp(i int) *int { return &i }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func vhostSpec(bridge, name string) PortSpec {
	return PortSpec{
		Bridge:  bridge,
		Name:    name,
		Type:    TypeVhostUserClient,
		Options: map[string]string{OptVhostServerPath: "/var/run/fastpath/" + name + ".sock"},
		ExternalIDs: map[string]string{
			ownerKey: "fastpath",
		},
	}
}

func TestAddGetDeleteRoundTrip(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	spec := PortSpec{
		Bridge: "br0",
		Name:   "vhu-abc",
		Type:   TypeVhostUserClient,
		Options: map[string]string{
			OptVhostServerPath: "/var/run/fastpath/pod 1/vhu-abc.sock",
			"n_rxq":            "2",
		},
		Tag:        intp(100),
		MTURequest: intp(9000),
		ExternalIDs: map[string]string{
			ownerKey:             "fastpath",
			"fastpath.container": "c0ffee",
			"fastpath.ifname":    "net1",
		},
	}
	if err := o.AddPort(ctx, spec); err != nil {
		t.Fatalf("AddPort: %v", err)
	}

	// What ovs-vsctl sees.
	for _, c := range []struct{ table, column, want string }{
		{"Interface", "type", "dpdkvhostuserclient"},
		{"Interface", "options:vhost-server-path", "/var/run/fastpath/pod 1/vhu-abc.sock"},
		{"Interface", "options:n_rxq", "2"},
		{"Interface", "mtu_request", "9000"},
		{"Interface", "external_ids", "{}"},
		{"Port", "tag", "100"},
		{"Port", "external_ids:fastpath.owner", "fastpath"},
		{"Port", "external_ids:fastpath.container", "c0ffee"},
		{"Port", "external_ids:fastpath.ifname", "net1"},
		{"Port", "vlan_mode", "[]"},
	} {
		if got := s.get(t, c.table, "vhu-abc", c.column); got != c.want {
			t.Errorf("ovs-vsctl get %s vhu-abc %s = %q, want %q", c.table, c.column, got, c.want)
		}
	}
	if got := s.vsctl(t, "get", "Interface", "vhu-abc", "options"); got != `{n_rxq="2", vhost-server-path="/var/run/fastpath/pod 1/vhu-abc.sock"}` {
		t.Errorf("options = %s", got)
	}
	if got := s.vsctl(t, "port-to-br", "vhu-abc"); got != "br0" {
		t.Errorf("port-to-br = %q", got)
	}
	if got := s.vsctl(t, "list-ifaces", "br0"); got != "vhu-abc" {
		t.Errorf("list-ifaces br0 = %q", got)
	}

	// What GetPort sees.
	p, err := o.GetPort(ctx, "vhu-abc")
	if err != nil || p == nil {
		t.Fatalf("GetPort = %v, %v", p, err)
	}
	if p.Name != "vhu-abc" || p.Bridge != "br0" || p.Type != TypeVhostUserClient ||
		!reflect.DeepEqual(p.Options, spec.Options) || !reflect.DeepEqual(p.ExternalIDs, spec.ExternalIDs) ||
		p.Tag == nil || *p.Tag != 100 || p.MTURequest == nil || *p.MTURequest != 9000 {
		t.Errorf("GetPort = %+v, want what was added: %+v", p, spec)
	}
	// No ovs-vswitchd: nothing has set the interface's state.
	if p.OFPort != nil || p.Error != "" || p.LinkState != "" {
		t.Errorf("GetPort state = ofport %v error %q link %q, want none", p.OFPort, p.Error, p.LinkState)
	}
	if want := s.get(t, "Port", "vhu-abc", "_uuid"); p.PortUUID != want {
		t.Errorf("PortUUID = %s, want %s", p.PortUUID, want)
	}
	if want := s.get(t, "Interface", "vhu-abc", "_uuid"); p.InterfaceUUID != want {
		t.Errorf("InterfaceUUID = %s, want %s", p.InterfaceUUID, want)
	}

	// ovs-vswitchd's view of the interface comes back too.
	s.vsctl(t, "set", "Interface", "vhu-abc", "ofport=7", "link_state=up", `error="no vhost socket"`)
	if p, err = o.GetPort(ctx, "vhu-abc"); err != nil || p.OFPort == nil || *p.OFPort != 7 || p.LinkState != "up" || p.Error != "no vhost socket" {
		t.Errorf("GetPort after vswitchd state = %+v, %v", p, err)
	}

	if err := o.DeletePort(ctx, "br0", "vhu-abc"); err != nil {
		t.Fatalf("DeletePort: %v", err)
	}
	if got := s.vsctl(t, "list-ports", "br0"); got != "" {
		t.Errorf("list-ports br0 after delete = %q", got)
	}
	for _, table := range []string{"Port", "Interface"} {
		if got := s.vsctl(t, "--columns=name", "find", table, "name=vhu-abc"); got != "" {
			t.Errorf("%s row left after delete: %s", table, got)
		}
	}
	if p, err := o.GetPort(ctx, "vhu-abc"); p != nil || err != nil {
		t.Errorf("GetPort after delete = %+v, %v; want nil, nil", p, err)
	}

	// The name is free again.
	if err := o.AddPort(ctx, spec); err != nil {
		t.Fatalf("AddPort after delete: %v", err)
	}
	if got := s.vsctl(t, "list-ports", "br0"); got != "vhu-abc" {
		t.Errorf("list-ports br0 after re-add = %q", got)
	}
}

func TestAddPortMinimal(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	if err := o.AddPort(ctx, PortSpec{Bridge: "br0", Name: "vhost0", Type: TypeVhostUser}); err != nil {
		t.Fatalf("AddPort: %v", err)
	}
	for _, c := range []struct{ table, column, want string }{
		{"Interface", "type", "dpdkvhostuser"},
		{"Interface", "options", "{}"},
		{"Interface", "mtu_request", "[]"},
		{"Port", "tag", "[]"},
		{"Port", "external_ids", "{}"},
	} {
		if got := s.get(t, c.table, "vhost0", c.column); got != c.want {
			t.Errorf("ovs-vsctl get %s vhost0 %s = %q, want %q", c.table, c.column, got, c.want)
		}
	}
	p, err := o.GetPort(ctx, "vhost0")
	if err != nil || p == nil {
		t.Fatalf("GetPort = %v, %v", p, err)
	}
	if p.Tag != nil || p.MTURequest != nil || len(p.Options) != 0 || len(p.ExternalIDs) != 0 || p.Bridge != "br0" {
		t.Errorf("GetPort = %+v, want no tag, mtu, options, external_ids", p)
	}

	// VLAN 0 is a tag, not "no tag".
	spec := vhostSpec("br0", "vhost1")
	spec.Tag = intp(0)
	if err := o.AddPort(ctx, spec); err != nil {
		t.Fatalf("AddPort tag 0: %v", err)
	}
	if got := s.get(t, "Port", "vhost1", "tag"); got != "0" {
		t.Errorf("tag = %q, want 0", got)
	}
}

func TestAddPortExists(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)
	s.vsctl(t, "add-br", "br1", "--", "set", "bridge", "br1", "datapath_type=netdev")

	if err := o.AddPort(ctx, vhostSpec("br0", "p1")); err != nil {
		t.Fatalf("AddPort: %v", err)
	}
	before := s.vsctl(t, "show")

	for _, bridge := range []string{"br0", "br1"} {
		spec := vhostSpec(bridge, "p1")
		spec.Options[OptVhostServerPath] = "/elsewhere.sock"
		err := o.AddPort(ctx, spec)
		if !errors.Is(err, ErrPortExists) {
			t.Fatalf("AddPort p1 again on %s = %v, want ErrPortExists", bridge, err)
		}
		if errors.Is(err, ErrNoBridge) {
			t.Errorf("error also matches ErrNoBridge: %v", err)
		}
		for _, word := range []string{`"p1"`, `bridge "br0"`} {
			if !strings.Contains(err.Error(), word) {
				t.Errorf("error %q does not name %s", err, word)
			}
		}
		t.Logf("AddPort on %s: %v", bridge, err)
	}
	if after := s.vsctl(t, "show"); after != before {
		t.Errorf("database changed by failed AddPort:\n%s\nwas\n%s", after, before)
	}

	// A clash with an interface of another port (a bond's member) is a
	// clash too.
	s.vsctl(t, "add-bond", "br0", "bond0", "m1", "m2")
	err := o.AddPort(ctx, vhostSpec("br0", "m1"))
	if !errors.Is(err, ErrPortExists) {
		t.Fatalf("AddPort m1 (a bond member) = %v, want ErrPortExists", err)
	}
	if !strings.Contains(err.Error(), `port "bond0"`) {
		t.Errorf("error %q does not name the bond holding m1", err)
	}
	t.Logf("AddPort m1: %v", err)
	if got := s.vsctl(t, "list-ports", "br0"); got != "bond0\np1" {
		t.Errorf("list-ports br0 = %q", got)
	}
}

func TestAddPortNoBridge(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	err := o.AddPort(ctx, vhostSpec("nobr", "p1"))
	if !errors.Is(err, ErrNoBridge) || errors.Is(err, ErrPortExists) {
		t.Fatalf("AddPort on missing bridge = %v, want ErrNoBridge", err)
	}
	if !strings.Contains(err.Error(), `"nobr"`) || !strings.Contains(err.Error(), `"p1"`) {
		t.Errorf("error %q does not name the bridge and the port", err)
	}
	t.Logf("AddPort: %v", err)
	for _, table := range []string{"Port", "Interface"} {
		if got := s.vsctl(t, "--bare", "--columns=name", "list", table); got != "br0" {
			t.Errorf("%s rows after failed AddPort: %q, want only br0's own", table, got)
		}
	}
	if got := s.vsctl(t, "list-br"); got != "br0" {
		t.Errorf("list-br = %q: AddPort must never create a bridge", got)
	}
}

func TestAddPortInvalid(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	for name, mod := range map[string]func(*PortSpec){
		"no bridge name":    func(p *PortSpec) { p.Bridge = "" },
		"no port name":      func(p *PortSpec) { p.Name = "" },
		"kernel type":       func(p *PortSpec) { p.Type = "internal" },
		"no type":           func(p *PortSpec) { p.Type = "" },
		"no server path":    func(p *PortSpec) { delete(p.Options, OptVhostServerPath) },
		"tag too big":       func(p *PortSpec) { p.Tag = intp(4096) },
		"negative tag":      func(p *PortSpec) { p.Tag = intp(-1) },
		"zero mtu_request":  func(p *PortSpec) { p.MTURequest = intp(0) },
		"negative mtu_reqs": func(p *PortSpec) { p.MTURequest = intp(-1500) },
	} {
		spec := vhostSpec("br0", "bad")
		mod(&spec)
		err := o.AddPort(ctx, spec)
		if err == nil || errors.Is(err, ErrPortExists) || errors.Is(err, ErrNoBridge) {
			t.Errorf("%s: AddPort = %v, want a validation error", name, err)
		}
	}
	if got := s.vsctl(t, "--bare", "--columns=name", "list", "Port"); got != "br0" {
		t.Errorf("Port rows after invalid AddPorts: %q, want only br0's own", got)
	}
}

func TestDeletePortIdempotent(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	for _, bridge := range []string{"br0", "", "nobr"} {
		if err := o.DeletePort(ctx, bridge, "ghost"); err != nil {
			t.Errorf("DeletePort(%q, ghost) = %v, want nil", bridge, err)
		}
	}

	if err := o.AddPort(ctx, vhostSpec("br0", "p1")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := o.DeletePort(ctx, "br0", "p1"); err != nil {
			t.Fatalf("DeletePort #%d: %v", i+1, err)
		}
	}

	// bridge "" means whichever holds it; a port made by ovs-vsctl goes too.
	s.vsctl(t, "add-port", "br0", "p2", "--", "set", "Interface", "p2", "type=dpdkvhostuser")
	if err := o.DeletePort(ctx, "", "p2"); err != nil {
		t.Fatalf("DeletePort(\"\", p2): %v", err)
	}
	if got := s.vsctl(t, "--bare", "--columns=name", "list", "Interface"); got != "br0" {
		t.Errorf("Interface rows left: %q, want only br0's own", got)
	}
}

func TestDeletePortOtherBridge(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)
	s.vsctl(t, "add-br", "br1", "--", "set", "bridge", "br1", "datapath_type=netdev")

	if err := o.AddPort(ctx, vhostSpec("br1", "p1")); err != nil {
		t.Fatal(err)
	}
	err := o.DeletePort(ctx, "br0", "p1")
	if err == nil || !strings.Contains(err.Error(), `"br1"`) {
		t.Fatalf("DeletePort(br0, p1) of br1's port = %v, want an error naming br1", err)
	}
	t.Logf("DeletePort(br0, p1): %v", err)
	if err := o.DeletePort(ctx, "nobr", "p1"); err == nil || !strings.Contains(err.Error(), `"br1"`) {
		t.Errorf("DeletePort(nobr, p1) of br1's port = %v, want an error naming br1", err)
	}
	if got := s.vsctl(t, "port-to-br", "p1"); got != "br1" {
		t.Errorf("port-to-br p1 = %q after refused delete", got)
	}
	if err := o.DeletePort(ctx, "br1", "p1"); err != nil {
		t.Fatal(err)
	}
	if got := s.vsctl(t, "list-ports", "br1"); got != "" {
		t.Errorf("list-ports br1 = %q", got)
	}
}

func TestListPorts(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)
	s.vsctl(t, "add-br", "br1", "--", "set", "bridge", "br1", "datapath_type=netdev")

	add := func(bridge, name string, ids map[string]string) {
		t.Helper()
		spec := vhostSpec(bridge, name)
		spec.ExternalIDs = ids
		if err := o.AddPort(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	add("br0", "b", map[string]string{ownerKey: "fastpath", "fastpath.container": "c1"})
	add("br1", "a", map[string]string{ownerKey: "fastpath"})
	add("br0", "c", map[string]string{ownerKey: "someone-else"})
	add("br0", "d", nil)
	add("br1", "e", map[string]string{"other": "fastpath"})
	// One made by hand with the owner key is found too.
	s.vsctl(t, "add-port", "br1", "f", "--", "set", "Interface", "f", "type=dpdkvhostuser",
		"--", "set", "Port", "f", "external_ids:fastpath.owner=fastpath")

	got, err := o.ListPorts(ctx, ownerKey, "fastpath")
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, p := range got {
		summary = append(summary, fmt.Sprintf("%s@%s:%s", p.Name, p.Bridge, p.Type))
	}
	want := []string{"a@br1:dpdkvhostuserclient", "b@br0:dpdkvhostuserclient", "f@br1:dpdkvhostuser"}
	if !reflect.DeepEqual(summary, want) {
		t.Errorf("ListPorts = %v, want %v", summary, want)
	}
	if len(got) == 3 && got[1].ExternalIDs["fastpath.container"] != "c1" {
		t.Errorf("ListPorts b external_ids = %v", got[1].ExternalIDs)
	}
	if len(got) > 0 && got[0].Options[OptVhostServerPath] != "/var/run/fastpath/a.sock" {
		t.Errorf("ListPorts a options = %v", got[0].Options)
	}

	if got, err := o.ListPorts(ctx, ownerKey, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ListPorts(owner=nobody) = %v, %v; want none", got, err)
	}
	if got, err := o.ListPorts(ctx, "no.such.key", ""); err != nil || len(got) != 0 {
		t.Errorf("ListPorts(no.such.key=\"\") = %v, %v; want none", got, err)
	}
}

func TestBridgeExists(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	for br, want := range map[string]bool{"br0": true, "br1": false, "": false} {
		got, err := o.BridgeExists(ctx, br)
		if err != nil || got != want {
			t.Errorf("BridgeExists(%q) = %v, %v; want %v", br, got, err, want)
		}
	}
}

func TestPingAndDeadServer(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)

	if err := o.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}

	// No socket at all.
	missing := filepath.Join(s.dir, "missing.sock")
	start := time.Now()
	if o2, err := Dial(ctx, "unix:"+missing); err == nil {
		o2.Close()
		t.Fatal("Dial of a missing socket succeeded")
	} else if !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dial of a missing socket: %v; want the path and ENOENT", err)
	} else {
		t.Logf("Dial missing socket: %v", err)
	}

	// A socket file that nobody listens on any more.
	s.kill(t)
	if err := o.Ping(ctx); err == nil {
		t.Error("Ping of a dead server succeeded")
	} else {
		t.Logf("Ping dead server: %v", err)
	}
	if _, err := o.BridgeExists(ctx, "br0"); err == nil {
		t.Error("BridgeExists on a dead server succeeded")
	}
	if _, err := os.Stat(s.sock); err != nil {
		t.Fatalf("socket file gone after kill: %v", err)
	}
	if o2, err := Dial(ctx, s.endpoint); err == nil {
		o2.Close()
		t.Fatal("Dial of a dead server succeeded")
	} else if !strings.Contains(err.Error(), s.sock) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Dial of a dead server: %v; want the path and connection refused", err)
	} else {
		t.Logf("Dial dead server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("failing took %v: dead servers must fail fast", d)
	}
	o.Close()
	o.Close() // twice is fine
}

func TestDialTimeout(t *testing.T) {
	// A listener that never answers: Dial must give up at the deadline.
	s := startOVSDB(t)
	s.kill(t)
	os.Remove(s.sock)
	l, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	o, err := Dial(ctx, s.endpoint)
	if err == nil {
		o.Close()
		t.Fatal("Dial of a silent server succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial of a silent server: %v; want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Dial took %v despite a 300ms deadline", d)
	}
	t.Logf("Dial silent server: %v", err)
}

func TestConcurrentAdds(t *testing.T) {
	s := startOVSDB(t)
	ctx := testCtx(t)

	// Separate short-lived clients, as separate CNI invocations would be:
	// no add may lose another's Bridge.ports entry.
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			o, err := Dial(ctx, s.endpoint)
			if err != nil {
				errs[i] = err
				return
			}
			defer o.Close()
			errs[i] = o.AddPort(ctx, vhostSpec("br0", fmt.Sprintf("vhu%02d", i)))
		}(i)
		// And everyone races for the same name: one wins.
		go func(i int) {
			defer wg.Done()
			o, err := Dial(ctx, s.endpoint)
			if err != nil {
				errs[n+i] = err
				return
			}
			defer o.Close()
			errs[n+i] = o.AddPort(ctx, vhostSpec("br0", "same"))
		}(i)
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case i < n && err != nil:
			t.Errorf("AddPort vhu%02d: %v", i, err)
		case i >= n && err == nil:
			won++
		case i >= n && !errors.Is(err, ErrPortExists):
			t.Errorf("AddPort same: %v, want nil or ErrPortExists", err)
		}
	}
	if won != 1 {
		t.Errorf("%d AddPorts of the same name succeeded, want 1", won)
	}
	ports := strings.Fields(s.vsctl(t, "list-ports", "br0"))
	if len(ports) != n+1 {
		t.Errorf("br0 has %d ports, want %d: %v", len(ports), n+1, ports)
	}
}

func TestNormalizeEndpoint(t *testing.T) {
	wd, _ := os.Getwd()
	for in, want := range map[string]string{
		"":                               "",
		"unix:/var/run/openvswitch/x":    "unix:/var/run/openvswitch/x",
		"/run/openvswitch/db.sock":       "unix:/run/openvswitch/db.sock",
		"unix:db.sock":                   "unix:" + filepath.Join(wd, "db.sock"),
		"unix:./sub/../db.sock":          "unix:" + filepath.Join(wd, "db.sock"),
		"tcp:127.0.0.1:6640":             "tcp:127.0.0.1:6640",
		"ssl:127.0.0.1:6640":             "",
		"unix:":                          "",
		"tcp:":                           "",
		"http://localhost/":              "",
		"punix:/var/run/openvswitch/db.": "",
	} {
		got, err := normalizeEndpoint(in)
		if want == "" {
			if err == nil {
				t.Errorf("normalizeEndpoint(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("normalizeEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
