// Package dpdk is the OVSDB side of fastpath's vhost-user mode: it adds,
// finds and removes the vhost-user ports of an Open vSwitch (DPDK datapath)
// bridge by talking OVSDB directly, never by running ovs-vsctl.
//
// A CNI plugin lives for one call, and its start-up is pod start-up, so
// this is a small client of its own (rpc.go: RFC 7047 JSON-RPC over one
// unix or tcp connection) that builds its operations in OVSDB notation
// with types of its own (wire.go), and nothing of libovsdb: libovsdb's
// client package alone pulls in Prometheus, protobuf and testify and costs
// tens of milliseconds of start-up in a small VM, and even its ovsdb
// package of protocol types costs milliseconds at init. It
// monitors nothing, keeps no cache and never fetches the schema: Dial is
// one probe transaction (does the server serve Open_vSwitch with the
// columns used here?), and every method is one or two transactions whose
// select, mutate and delete operations name their rows with
// where-conditions. AddPort is a single transaction; DeletePort, GetPort
// and ListPorts are two.
//
// Nothing here creates or deletes a bridge, and nothing waits for
// ovs-vswitchd: the database change is the whole job. ovs-vswitchd applies
// it on its own; GetPort reports what it made of a port (ofport, error,
// link_state) for callers that want to poll.
package dpdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultTimeout bounds Dial and each method when the context given has no
// deadline of its own, so that a wedged ovsdb-server cannot hang a CNI call.
const DefaultTimeout = 10 * time.Second

// Port types of vhost-user ports.
const (
	// TypeVhostUserClient: QEMU (or another vhost-user backend) owns the
	// socket at options:vhost-server-path and OVS connects to it.
	TypeVhostUserClient = "dpdkvhostuserclient"
	// TypeVhostUser: OVS creates the socket itself (deprecated in OVS).
	TypeVhostUser = "dpdkvhostuser"
)

// OptVhostServerPath is the Interface option naming the vhost-user socket
// of a dpdkvhostuserclient port.
const OptVhostServerPath = "vhost-server-path"

var (
	// ErrPortExists means a Port or an Interface of that name already
	// exists (on any bridge).
	ErrPortExists = errors.New("port already exists")
	// ErrNoBridge means the bridge named does not exist.
	ErrNoBridge = errors.New("bridge does not exist")
)

// Names in the Open_vSwitch database.
const (
	database       = "Open_vSwitch"
	bridgeTable    = "Bridge"
	portTable      = "Port"
	interfaceTable = "Interface"
)

// OVS is a connection to one ovsdb-server's Open_vSwitch database. Its
// methods may be called concurrently (they take turns on the connection).
type OVS struct {
	rpc      *rpcConn
	endpoint string
}

// Dial connects to the ovsdb-server at endpoint: "unix:/path/db.sock" (a
// relative path is made absolute), a bare "/path/db.sock" or
// "tcp:host:port" (the node's default is package node's). It fails if the server does not answer or
// serves no Open_vSwitch database this package can use.
func Dial(ctx context.Context, endpoint string) (*OVS, error) {
	ep, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	network, addr, _ := strings.Cut(ep, ":")
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("ovsdb %s: %w", ep, err)
	}
	o := &OVS{rpc: newRPCConn(c), endpoint: ep}
	if err := o.probe(ctx); err != nil {
		o.Close()
		return nil, fmt.Errorf("ovsdb %s: %w", ep, err)
	}
	return o, nil
}

// probe is the one round trip of Dial: a transaction of selects that match
// no row (the all-zero UUID) but name every table and column this package
// reads or writes. ovsdb-server checks them, so the server answering at
// all, the database existing and its schema having those columns take one
// small request, where fetching and parsing the schema would take
// milliseconds.
func (o *OVS) probe(ctx context.Context) error {
	none := uuidIs("00000000-0000-0000-0000-000000000000")
	_, err := o.transact(ctx,
		operation{Op: "select", Table: bridgeTable, Where: []condition{none}, Columns: []string{"_uuid", "name", "ports"}},
		operation{Op: "select", Table: portTable, Where: []condition{none}, Columns: portColumns},
		operation{Op: "select", Table: interfaceTable, Where: []condition{none}, Columns: interfaceColumns},
	)
	var rerr *rpcError
	var opErr *opError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rerr) && rerr.Err == "unknown database":
		return fmt.Errorf("no %s database: %w", database, err)
	case errors.As(err, &rerr) || errors.As(err, &opErr):
		// E.g. "syntax error" ... "Interface" ... "unknown column".
		return fmt.Errorf("%s database unusable: %w", database, err)
	default:
		return fmt.Errorf("no answer: %w", err)
	}
}

func normalizeEndpoint(endpoint string) (string, error) {
	switch {
	case endpoint == "":
		return "", errors.New("no ovsdb endpoint")
	case strings.HasPrefix(endpoint, "/"):
		return "unix:" + endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("ovsdb endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case "unix":
		// Relative to the working directory; made absolute so that
		// Endpoint says which socket.
		p := u.Path
		if p == "" {
			p = u.Opaque
		}
		if p == "" {
			return "", fmt.Errorf("ovsdb endpoint %q: no socket path", endpoint)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("ovsdb endpoint %q: %w", endpoint, err)
		}
		return "unix:" + abs, nil
	case "tcp":
		if u.Opaque == "" {
			return "", fmt.Errorf("ovsdb endpoint %q: no host:port", endpoint)
		}
		return endpoint, nil
	default:
		return "", fmt.Errorf("ovsdb endpoint %q: want unix:PATH or tcp:HOST:PORT", endpoint)
	}
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// Endpoint is the endpoint connected to, as Dial normalized it.
func (o *OVS) Endpoint() string { return o.endpoint }

// Close ends the connection. It may be called more than once.
func (o *OVS) Close() {
	if o != nil && o.rpc != nil {
		o.rpc.Close()
	}
}

// Ping asks ovsdb-server for an echo: nil means the server answers.
func (o *OVS) Ping(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	const word = "fastpath"
	var got []any
	if err := o.rpc.call(ctx, "echo", []any{word}, &got); err != nil {
		return fmt.Errorf("ovsdb %s: no answer to echo: %w", o.endpoint, err)
	}
	if len(got) != 1 || got[0] != word {
		return fmt.Errorf("ovsdb %s: echo answered %v, want [%q]", o.endpoint, got, word)
	}
	return nil
}

// BridgeExists tells whether a bridge of that name exists.
func (o *OVS) BridgeExists(ctx context.Context, bridge string) (bool, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	res, err := o.transact(ctx, operation{
		Op:      "select",
		Table:   bridgeTable,
		Where:   []condition{{"name", "==", bridge}},
		Columns: []string{"_uuid"},
	})
	if err != nil {
		return false, fmt.Errorf("ovsdb: look up bridge %q: %w", bridge, err)
	}
	return len(res[0].Rows) > 0, nil
}

// PortSpec describes a port for AddPort: one Port row holding one Interface
// row of the same name.
type PortSpec struct {
	// Bridge that gets the port. It must exist.
	Bridge string
	// Name of the Port and of its Interface.
	Name string
	// Type of the Interface: TypeVhostUserClient or TypeVhostUser.
	Type string
	// Options of the Interface, e.g. vhost-server-path, n_rxq.
	Options map[string]string
	// Tag is the access VLAN (0-4095) of the Port; nil for none.
	Tag *int
	// MTURequest is the Interface's mtu_request; nil leaves OVS's default.
	MTURequest *int
	// ExternalIDs of the Port (the Interface gets none), e.g. the owner
	// key that ListPorts finds again.
	ExternalIDs map[string]string
}

func (s PortSpec) validate() error {
	switch {
	case s.Bridge == "":
		return errors.New("no bridge named")
	case s.Name == "":
		return errors.New("no port name")
	case s.Type != TypeVhostUserClient && s.Type != TypeVhostUser:
		return fmt.Errorf("port type %q: want %q or %q", s.Type, TypeVhostUserClient, TypeVhostUser)
	case s.Type == TypeVhostUserClient && s.Options[OptVhostServerPath] == "":
		return fmt.Errorf("a %s port needs options:%s", TypeVhostUserClient, OptVhostServerPath)
	case s.Tag != nil && (*s.Tag < 0 || *s.Tag > 4095):
		return fmt.Errorf("VLAN tag %d out of range 0-4095", *s.Tag)
	case s.MTURequest != nil && *s.MTURequest < 1:
		return fmt.Errorf("mtu_request %d: must be at least 1", *s.MTURequest)
	}
	return nil
}

// Named UUIDs of the rows AddPort inserts.
const (
	namedIface = "fastpath_iface"
	namedPort  = "fastpath_port"
)

// AddPort creates the Interface and the Port and adds the Port to the
// bridge's ports, in one transaction: either all of it happens or nothing.
// The error wraps ErrNoBridge if the bridge does not exist, and
// ErrPortExists if a Port or Interface of that name exists on any bridge.
func (o *OVS) AddPort(ctx context.Context, spec PortSpec) error {
	if err := spec.validate(); err != nil {
		return fmt.Errorf("ovsdb: add port %q: %w", spec.Name, err)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	// The rows, in OVSDB notation; columns left out get their defaults.
	iface := row{"name": spec.Name, "type": spec.Type}
	if len(spec.Options) > 0 {
		iface["options"] = stringMap(spec.Options)
	}
	if spec.MTURequest != nil {
		iface["mtu_request"] = *spec.MTURequest
	}
	port := row{"name": spec.Name, "interfaces": namedUUID(namedIface)}
	if spec.Tag != nil {
		port["tag"] = *spec.Tag
	}
	if len(spec.ExternalIDs) > 0 {
		port["external_ids"] = stringMap(spec.ExternalIDs)
	}

	// The waits fail the transaction, before anything is inserted, unless
	// the bridge exists and no Port nor Interface has the name: a mutate
	// that matches no row is no error in OVSDB (the unreferenced Port
	// would silently vanish at commit), and an index clash at commit would
	// not say which. ovsdb-server runs a transaction as a whole, so no
	// other client's insert can come between the waits and the inserts.
	ops := []operation{
		waitBridge(spec.Bridge),
		waitNoName(portTable, spec.Name),
		waitNoName(interfaceTable, spec.Name),
		{Op: "insert", Table: interfaceTable, Row: iface, UUIDName: namedIface},
		{Op: "insert", Table: portTable, Row: port, UUIDName: namedPort},
		{
			Op:        "mutate",
			Table:     bridgeTable,
			Where:     []condition{{"name", "==", spec.Bridge}},
			Mutations: []mutation{{"ports", "insert", namedUUID(namedPort)}},
		},
	}
	_, err := o.transact(ctx, ops...)
	timedOut := failedOp(err, "timed out")
	violation := failedOp(err, "constraint violation")
	switch {
	case err == nil:
		return nil
	case timedOut != nil && timedOut.op == &ops[0]:
		return fmt.Errorf("ovsdb: add port %q: %w: %q", spec.Name, ErrNoBridge, spec.Bridge)
	case timedOut != nil && (timedOut.op == &ops[1] || timedOut.op == &ops[2]),
		// A unique index clash at commit: only if a server does not
		// serialize transactions as ovsdb-server does.
		violation != nil && strings.Contains(violation.Error(), "for index on column"):
		return fmt.Errorf("ovsdb: add port %q to bridge %q: %w%s", spec.Name, spec.Bridge, ErrPortExists, o.whereIs(ctx, spec.Name))
	default:
		return fmt.Errorf("ovsdb: add port %q to bridge %q: %w", spec.Name, spec.Bridge, err)
	}
}

// whereIs describes the existing port or interface of that name, for an
// error message; "" if it cannot tell.
func (o *OVS) whereIs(ctx context.Context, name string) string {
	p, err := o.GetPort(ctx, name)
	switch {
	case err != nil:
		return ""
	case p != nil && p.Bridge != "":
		return fmt.Sprintf(" (on bridge %q, type %q)", p.Bridge, p.Type)
	case p != nil:
		return fmt.Sprintf(" (type %q)", p.Type)
	}
	// No such port: the clash is an interface of another port (a bond).
	res, err := o.transact(ctx, operation{
		Op:      "select",
		Table:   interfaceTable,
		Where:   []condition{{"name", "==", name}},
		Columns: []string{"_uuid"},
	})
	if err != nil || len(res[0].Rows) == 0 {
		return ""
	}
	ports, err := o.selectPortRows(ctx, condition{"interfaces", "includes", uuidSet(rowUUID(res[0].Rows[0], "_uuid"))})
	if err != nil || len(ports) == 0 {
		return " (an interface of that name exists)"
	}
	if b, err := o.bridgeOf(ctx, ports[0].UUID); err == nil && b != "" {
		return fmt.Sprintf(" (an interface of port %q on bridge %q)", ports[0].Name, b)
	}
	return fmt.Sprintf(" (an interface of port %q)", ports[0].Name)
}

// waitBridge fails the transaction unless the bridge exists.
func waitBridge(name string) operation { return waitName(bridgeTable, name, "==") }

// waitNoName fails the transaction if the table has a row of that name:
// the rows named so must differ from the one row {name}. (Waiting until
// they equal no rows would say the same, but rows is left out when empty.)
func waitNoName(table, name string) operation { return waitName(table, name, "!=") }

// waitName waits, without blocking, until the table's rows of that name
// compare by until ("==" or "!=") to the one row {name}.
func waitName(table, name, until string) operation {
	timeout := 0
	return operation{
		Op:      "wait",
		Table:   table,
		Where:   []condition{{"name", "==", name}},
		Columns: []string{"name"},
		Until:   until,
		Rows:    []row{{"name": name}},
		Timeout: &timeout,
	}
}

// DeletePort takes the port named off its bridge and deletes its Port and
// Interface rows, in one transaction. A port that does not exist is no
// error. bridge may be "" for whichever bridge holds the port; a port held
// by a bridge other than the one named is left alone, with an error.
func (o *OVS) DeletePort(ctx context.Context, bridge, name string) error {
	if name == "" {
		return errors.New("ovsdb: delete port: no port name")
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	ports, err := o.selectPortRows(ctx, condition{"name", "==", name})
	if err != nil {
		return fmt.Errorf("ovsdb: delete port %q: %w", name, err)
	}
	if len(ports) == 0 {
		return nil
	}
	p := ports[0]
	holds := condition{"ports", "includes", uuidSet(p.UUID)}

	// Rows are named by UUID: a port deleted meanwhile makes these delete
	// nothing (no error), and one re-created meanwhile is not touched.
	var ops []operation
	if bridge != "" {
		// Fails the transaction unless that bridge holds the port.
		timeout := 0
		ops = append(ops, operation{
			Op:      "wait",
			Table:   bridgeTable,
			Where:   []condition{{"name", "==", bridge}, holds},
			Columns: []string{"name"},
			Until:   "==",
			Rows:    []row{{"name": bridge}},
			Timeout: &timeout,
		})
	}
	ops = append(ops,
		operation{
			Op:        "mutate",
			Table:     bridgeTable,
			Where:     []condition{holds},
			Mutations: []mutation{{"ports", "delete", uuidSet(p.UUID)}},
		},
		operation{
			Op:    "delete",
			Table: portTable,
			Where: []condition{uuidIs(p.UUID)},
		})
	for _, u := range p.Interfaces {
		ops = append(ops, operation{
			Op:    "delete",
			Table: interfaceTable,
			Where: []condition{uuidIs(u)},
		})
	}
	_, err = o.transact(ctx, ops...)
	if timedOut := failedOp(err, "timed out"); timedOut != nil && timedOut.op != nil && timedOut.op.Op == "wait" {
		// Not on that bridge: on another one, or gone meanwhile.
		holder, herr := o.bridgeOf(ctx, p.UUID)
		switch {
		case herr != nil:
			return fmt.Errorf("ovsdb: delete port %q: not on bridge %q: %w", name, bridge, herr)
		case holder == "":
			if again, gerr := o.selectPortRows(ctx, uuidIs(p.UUID)); gerr == nil && len(again) == 0 {
				return nil
			}
			return fmt.Errorf("ovsdb: delete port %q: it is on no bridge, not on %q", name, bridge)
		default:
			return fmt.Errorf("ovsdb: delete port %q: it is on bridge %q, not %q", name, holder, bridge)
		}
	}
	if err != nil {
		return fmt.Errorf("ovsdb: delete port %q: %w", name, err)
	}
	return nil
}

// PortInfo is what the database holds about one port and its interface.
type PortInfo struct {
	Name string
	// Bridge holding the port; "" if none does.
	Bridge      string
	Tag         *int
	ExternalIDs map[string]string

	// Of the Interface: the one named like the port, else the first.
	Type       string
	Options    map[string]string
	MTURequest *int
	// Set by ovs-vswitchd once it has applied the port: OFPort (-1 when
	// it failed), Error (why it failed), LinkState ("up" or "down").
	OFPort    *int
	Error     string
	LinkState string

	// Row UUIDs.
	PortUUID      string
	InterfaceUUID string
}

// GetPort returns the port of that name, or nil, nil if there is none.
func (o *OVS) GetPort(ctx context.Context, name string) (*PortInfo, error) {
	infos, err := o.queryPorts(ctx, condition{"name", "==", name})
	if err != nil {
		return nil, fmt.Errorf("ovsdb: get port %q: %w", name, err)
	}
	if len(infos) == 0 {
		return nil, nil
	}
	return &infos[0], nil
}

// ListPorts returns the ports whose external_ids map key to value exactly,
// sorted by name; for example all ports of one owner.
func (o *OVS) ListPorts(ctx context.Context, externalIDKey, value string) ([]PortInfo, error) {
	cond := condition{"external_ids", "includes", stringMap(map[string]string{externalIDKey: value})}
	infos, err := o.queryPorts(ctx, cond)
	if err != nil {
		return nil, fmt.Errorf("ovsdb: list ports with external_ids:%s=%q: %w", externalIDKey, value, err)
	}
	return infos, nil
}

// The columns read, as Port and Interface rows hold them.
var (
	portColumns      = []string{"_uuid", "name", "interfaces", "tag", "external_ids"}
	interfaceColumns = []string{"_uuid", "name", "type", "options", "mtu_request", "ofport", "error", "link_state"}
)

type portRow struct {
	UUID        string
	Name        string
	Interfaces  []string
	Tag         *int
	ExternalIDs map[string]string
}

func decodePort(r row) portRow {
	return portRow{
		UUID:        rowUUID(r, "_uuid"),
		Name:        rowString(r, "name"),
		Interfaces:  rowUUIDs(r, "interfaces"),
		Tag:         rowInt(r, "tag"),
		ExternalIDs: rowMap(r, "external_ids"),
	}
}

type interfaceRow struct {
	UUID       string
	Name       string
	Type       string
	Options    map[string]string
	MTURequest *int
	OFPort     *int
	Error      string
	LinkState  string
}

func decodeInterface(r row) interfaceRow {
	return interfaceRow{
		UUID:       rowUUID(r, "_uuid"),
		Name:       rowString(r, "name"),
		Type:       rowString(r, "type"),
		Options:    rowMap(r, "options"),
		MTURequest: rowInt(r, "mtu_request"),
		OFPort:     rowInt(r, "ofport"),
		Error:      rowString(r, "error"),
		LinkState:  rowString(r, "link_state"),
	}
}

// selectPortRows reads the ports matching cond.
func (o *OVS) selectPortRows(ctx context.Context, cond condition) ([]portRow, error) {
	res, err := o.transact(ctx, operation{
		Op: "select", Table: portTable, Where: []condition{cond}, Columns: portColumns,
	})
	if err != nil {
		return nil, err
	}
	ports := make([]portRow, len(res[0].Rows))
	for i, r := range res[0].Rows {
		ports[i] = decodePort(r)
	}
	return ports, nil
}

// selectBridgeOf is the select of the name of the bridge holding a port.
// (Selecting the bridges' ports columns instead would ship every port's
// UUID of every bridge.)
func selectBridgeOf(portUUID string) operation {
	return operation{
		Op:      "select",
		Table:   bridgeTable,
		Where:   []condition{{"ports", "includes", uuidSet(portUUID)}},
		Columns: []string{"name"},
	}
}

// bridgeOf returns the name of the bridge holding a port, "" if none.
func (o *OVS) bridgeOf(ctx context.Context, portUUID string) (string, error) {
	res, err := o.transact(ctx, selectBridgeOf(portUUID))
	if err != nil {
		return "", err
	}
	return rowName(res[0]), nil
}

func rowName(r opResult) string {
	if len(r.Rows) == 0 {
		return ""
	}
	return rowString(r.Rows[0], "name")
}

// queryPorts reads the ports matching cond, then, in a second transaction,
// their bridges' names and their interfaces.
func (o *OVS) queryPorts(ctx context.Context, cond condition) ([]PortInfo, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ports, err := o.selectPortRows(ctx, cond)
	if err != nil || len(ports) == 0 {
		return nil, err
	}

	var ops []operation
	for _, p := range ports {
		ops = append(ops, selectBridgeOf(p.UUID))
		for _, u := range p.Interfaces {
			ops = append(ops, operation{
				Op:      "select",
				Table:   interfaceTable,
				Where:   []condition{uuidIs(u)},
				Columns: interfaceColumns,
			})
		}
	}
	res, err := o.transact(ctx, ops...)
	if err != nil {
		return nil, err
	}

	infos := make([]PortInfo, 0, len(ports))
	for _, p := range ports {
		info := PortInfo{
			Name:        p.Name,
			Bridge:      rowName(res[0]),
			Tag:         p.Tag,
			ExternalIDs: p.ExternalIDs,
			PortUUID:    p.UUID,
		}
		res = res[1:]
		var iface *interfaceRow
		for range p.Interfaces {
			r := res[0]
			res = res[1:]
			if len(r.Rows) == 0 {
				continue // deleted meanwhile
			}
			i := decodeInterface(r.Rows[0])
			if iface == nil || i.Name == p.Name {
				iface = &i
			}
		}
		if iface != nil {
			info.InterfaceUUID = iface.UUID
			info.Type = iface.Type
			info.Options = iface.Options
			info.MTURequest = iface.MTURequest
			info.OFPort = iface.OFPort
			info.Error = iface.Error
			info.LinkState = iface.LinkState
		}
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

// Values in OVSDB notation (RFC 7047 section 5.1), as wire.go writes and
// reads them: a set of one element may stand as the element itself, an
// empty set is ["set",[]], numbers read back as float64.

func uuidSet(u string) set {
	return set{uuid(u)}
}

func uuidIs(u string) condition {
	return condition{"_uuid", "==", uuid(u)}
}

func stringMap(m map[string]string) ovsMap {
	om := make(ovsMap, len(m))
	for k, v := range m {
		om[k] = v
	}
	return om
}

// elements returns the elements of a set column's value.
func elements(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case set:
		return v
	default:
		return []any{v}
	}
}

func rowUUID(r row, column string) string {
	u, _ := r[column].(uuid)
	return string(u)
}

func rowUUIDs(r row, column string) []string {
	var uuids []string
	for _, e := range elements(r[column]) {
		if u, ok := e.(uuid); ok {
			uuids = append(uuids, string(u))
		}
	}
	return uuids
}

// rowString reads a string column, or an optional one (a set of at most
// one string): "" when empty.
func rowString(r row, column string) string {
	for _, e := range elements(r[column]) {
		s, _ := e.(string)
		return s
	}
	return ""
}

// rowInt reads an optional integer column: nil when empty.
func rowInt(r row, column string) *int {
	for _, e := range elements(r[column]) {
		if f, ok := e.(float64); ok {
			i := int(f)
			return &i
		}
	}
	return nil
}

// rowMap reads a string-to-string map column: never nil.
func rowMap(r row, column string) map[string]string {
	om, _ := r[column].(ovsMap)
	m := make(map[string]string, len(om))
	for k, v := range om {
		ks, kok := k.(string)
		vs, vok := v.(string)
		if kok && vok {
			m[ks] = vs
		}
	}
	return m
}

// transact runs ops as one transaction and turns any failed operation or
// failed commit into an error (failedOp finds the *opError of a wait that
// timed out, of a constraint violation and so on; its op points into ops).
// The results hold one element per operation.
func (o *OVS) transact(ctx context.Context, ops ...operation) ([]opResult, error) {
	params := make([]any, 0, 1+len(ops))
	params = append(params, database)
	for _, op := range ops {
		params = append(params, op)
	}
	var res []opResult
	if err := o.rpc.call(ctx, "transact", params, &res); err != nil {
		return nil, err
	}
	if err := checkResults(res, ops); err != nil {
		return nil, err
	}
	return res[:len(ops)], nil
}
