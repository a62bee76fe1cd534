// Package dpdk is the OVSDB side of fastpath's vhost-user mode: it adds,
// finds and removes the vhost-user ports of an Open vSwitch (DPDK datapath)
// bridge by talking OVSDB directly through libovsdb, never by running
// ovs-vsctl.
//
// A CNI plugin lives for one call, so the client here monitors nothing and
// keeps no cache: Dial fetches the schema (list_dbs, get_schema), and every
// method is one or two transactions whose select, mutate and delete
// operations name their rows with where-conditions. AddPort is a single
// transaction; DeletePort, GetPort and ListPorts are two.
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
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/fastpath-cni/fastpath/pkg/dpdk/vswitch"
)

// DefaultEndpoint is where Open vSwitch's ovsdb-server listens by default.
// (libovsdb's own default, unix:/var/run/openvswitch/ovsdb.sock, is not a
// path Open vSwitch uses.)
const DefaultEndpoint = "unix:/var/run/openvswitch/db.sock"

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

// OVS is a connection to one ovsdb-server's Open_vSwitch database. Its
// methods may be called concurrently.
type OVS struct {
	c        client.Client
	endpoint string
}

// Dial connects to the ovsdb-server at endpoint: "unix:/path/db.sock" (a
// relative path is made absolute), a bare "/path/db.sock", "tcp:host:port",
// or "" for DefaultEndpoint. It fails if the server does not answer or
// serves no Open_vSwitch database this package can use.
func Dial(ctx context.Context, endpoint string) (*OVS, error) {
	ep, err := normalizeEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	dbModel, err := clientDBModel()
	if err != nil {
		return nil, err
	}
	// libovsdb logs to stderr at verbosity 5 unless given a logger.
	discard := logr.Discard()
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(ep), client.WithLogger(&discard))
	if err != nil {
		return nil, fmt.Errorf("ovsdb %s: %w", ep, err)
	}
	if err := c.Connect(ctx); err != nil {
		c.Close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("ovsdb: %w", err)
	}
	return &OVS{c: c, endpoint: ep}, nil
}

// clientDBModel names only the tables this package touches: libovsdb
// refuses to connect when a model's table or column is missing from the
// server's schema, so the fewer tables, the more OVS releases work. Each of
// these models is complete (every column), as generated.
func clientDBModel() (model.ClientDBModel, error) {
	return model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		vswitch.BridgeTable:    &vswitch.Bridge{},
		vswitch.PortTable:      &vswitch.Port{},
		vswitch.InterfaceTable: &vswitch.Interface{},
	})
}

func normalizeEndpoint(endpoint string) (string, error) {
	switch {
	case endpoint == "":
		return DefaultEndpoint, nil
	case strings.HasPrefix(endpoint, "/"):
		return "unix:" + endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("ovsdb endpoint %q: %w", endpoint, err)
	}
	switch u.Scheme {
	case client.UNIX:
		// libovsdb silently swaps a relative "unix:db.sock" for its own
		// default socket; make the path absolute instead.
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
	case client.TCP:
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
	if o != nil && o.c != nil {
		o.c.Close()
	}
}

// Ping asks ovsdb-server for an echo: nil means the server answers.
func (o *OVS) Ping(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if !o.c.Connected() {
		return fmt.Errorf("ovsdb %s: %w", o.endpoint, client.ErrNotConnected)
	}
	if err := o.c.Echo(ctx); err != nil {
		// libovsdb's Echo reports a failed call as "incorrect server
		// response"; name the cause where it is known.
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("ovsdb %s: no answer to echo: %w", o.endpoint, err)
	}
	return nil
}

// BridgeExists tells whether a bridge of that name exists.
func (o *OVS) BridgeExists(ctx context.Context, bridge string) (bool, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	res, err := o.transact(ctx, ovsdb.Operation{
		Op:      ovsdb.OperationSelect,
		Table:   vswitch.BridgeTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, bridge)},
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

	iface := &vswitch.Interface{
		UUID:       namedIface,
		Name:       spec.Name,
		Type:       spec.Type,
		Options:    spec.Options,
		MTURequest: spec.MTURequest,
	}
	port := &vswitch.Port{
		UUID:        namedPort,
		Name:        spec.Name,
		Interfaces:  []string{namedIface},
		Tag:         spec.Tag,
		ExternalIDs: spec.ExternalIDs,
	}
	inserts, err := o.c.Create(iface, port)
	if err != nil {
		return fmt.Errorf("ovsdb: add port %q: %w", spec.Name, err)
	}
	bridge := &vswitch.Bridge{Name: spec.Bridge}
	mutate, err := o.c.Where(bridge).Mutate(bridge, model.Mutation{
		Field:   &bridge.Ports,
		Mutator: ovsdb.MutateOperationInsert,
		Value:   []string{namedPort},
	})
	if err != nil {
		return fmt.Errorf("ovsdb: add port %q: %w", spec.Name, err)
	}

	// The wait fails the transaction, before anything is inserted, unless
	// the bridge exists: a mutate that matches no row is no error in OVSDB,
	// and the unreferenced Port would silently vanish at commit.
	ops := append([]ovsdb.Operation{waitBridge(spec.Bridge)}, inserts...)
	ops = append(ops, mutate...)
	_, err = o.transact(ctx, ops...)
	var timedOut *ovsdb.TimedOut
	var violation *ovsdb.ConstraintViolation
	switch {
	case err == nil:
		return nil
	case errors.As(err, &timedOut) && timedOut.Operation() != nil && timedOut.Operation().Op == ovsdb.OperationWait:
		return fmt.Errorf("ovsdb: add port %q: %w: %q", spec.Name, ErrNoBridge, spec.Bridge)
	case errors.As(err, &violation) && strings.Contains(violation.Error(), "for index on column"):
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
	res, err := o.transact(ctx, ovsdb.Operation{
		Op:      ovsdb.OperationSelect,
		Table:   vswitch.InterfaceTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)},
		Columns: []string{"_uuid"},
	})
	if err != nil || len(res[0].Rows) == 0 {
		return ""
	}
	u, _ := res[0].Rows[0]["_uuid"].(ovsdb.UUID)
	ports, err := o.selectPortRows(ctx, ovsdb.NewCondition("interfaces", ovsdb.ConditionIncludes, uuidSet(u.GoUUID)))
	if err != nil || len(ports) == 0 {
		return " (an interface of that name exists)"
	}
	if b, err := o.bridgeOf(ctx, ports[0].UUID); err == nil && b != "" {
		return fmt.Sprintf(" (an interface of port %q on bridge %q)", ports[0].Name, b)
	}
	return fmt.Sprintf(" (an interface of port %q)", ports[0].Name)
}

func waitBridge(name string) ovsdb.Operation {
	timeout := 0
	return ovsdb.Operation{
		Op:      ovsdb.OperationWait,
		Table:   vswitch.BridgeTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)},
		Columns: []string{"name"},
		Until:   string(ovsdb.WaitConditionEqual),
		Rows:    []ovsdb.Row{{"name": name}},
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

	ports, err := o.selectPortRows(ctx, ovsdb.NewCondition("name", ovsdb.ConditionEqual, name))
	if err != nil {
		return fmt.Errorf("ovsdb: delete port %q: %w", name, err)
	}
	if len(ports) == 0 {
		return nil
	}
	p := ports[0]
	holds := ovsdb.NewCondition("ports", ovsdb.ConditionIncludes, uuidSet(p.UUID))

	// Rows are named by UUID: a port deleted meanwhile makes these delete
	// nothing (no error), and one re-created meanwhile is not touched.
	var ops []ovsdb.Operation
	if bridge != "" {
		// Fails the transaction unless that bridge holds the port.
		timeout := 0
		ops = append(ops, ovsdb.Operation{
			Op:      ovsdb.OperationWait,
			Table:   vswitch.BridgeTable,
			Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, bridge), holds},
			Columns: []string{"name"},
			Until:   string(ovsdb.WaitConditionEqual),
			Rows:    []ovsdb.Row{{"name": bridge}},
			Timeout: &timeout,
		})
	}
	ops = append(ops,
		ovsdb.Operation{
			Op:        ovsdb.OperationMutate,
			Table:     vswitch.BridgeTable,
			Where:     []ovsdb.Condition{holds},
			Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("ports", ovsdb.MutateOperationDelete, uuidSet(p.UUID))},
		},
		ovsdb.Operation{
			Op:    ovsdb.OperationDelete,
			Table: vswitch.PortTable,
			Where: []ovsdb.Condition{uuidIs(p.UUID)},
		})
	for _, u := range p.Interfaces {
		ops = append(ops, ovsdb.Operation{
			Op:    ovsdb.OperationDelete,
			Table: vswitch.InterfaceTable,
			Where: []ovsdb.Condition{uuidIs(u)},
		})
	}
	_, err = o.transact(ctx, ops...)
	var timedOut *ovsdb.TimedOut
	if errors.As(err, &timedOut) && timedOut.Operation() != nil && timedOut.Operation().Op == ovsdb.OperationWait {
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
	infos, err := o.queryPorts(ctx, ovsdb.NewCondition("name", ovsdb.ConditionEqual, name))
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
	m, err := ovsdb.NewOvsMap(map[string]string{externalIDKey: value})
	if err != nil {
		return nil, err
	}
	infos, err := o.queryPorts(ctx, ovsdb.NewCondition("external_ids", ovsdb.ConditionIncludes, m))
	if err != nil {
		return nil, fmt.Errorf("ovsdb: list ports with external_ids:%s=%q: %w", externalIDKey, value, err)
	}
	return infos, nil
}

var (
	portColumns      = []string{"_uuid", "name", "interfaces", "tag", "external_ids"}
	interfaceColumns = []string{"_uuid", "name", "type", "options", "mtu_request", "ofport", "error", "link_state"}
)

// selectPortRows reads the ports matching cond.
func (o *OVS) selectPortRows(ctx context.Context, cond ovsdb.Condition) ([]vswitch.Port, error) {
	res, err := o.transact(ctx, ovsdb.Operation{
		Op: ovsdb.OperationSelect, Table: vswitch.PortTable, Where: []ovsdb.Condition{cond}, Columns: portColumns,
	})
	if err != nil {
		return nil, err
	}
	ports := make([]vswitch.Port, len(res[0].Rows))
	for i := range res[0].Rows {
		if err := o.decode(&res[0].Rows[i], &ports[i]); err != nil {
			return nil, err
		}
	}
	return ports, nil
}

// selectBridgeOf is the select of the name of the bridge holding a port.
// (Selecting the bridges' ports columns instead costs milliseconds once a
// bridge has a few hundred ports: libovsdb decodes sets slowly.)
func selectBridgeOf(portUUID string) ovsdb.Operation {
	return ovsdb.Operation{
		Op:      ovsdb.OperationSelect,
		Table:   vswitch.BridgeTable,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("ports", ovsdb.ConditionIncludes, uuidSet(portUUID))},
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

func rowName(r ovsdb.OperationResult) string {
	if len(r.Rows) == 0 {
		return ""
	}
	name, _ := r.Rows[0]["name"].(string)
	return name
}

// queryPorts reads the ports matching cond, then, in a second transaction,
// their bridges' names and their interfaces.
func (o *OVS) queryPorts(ctx context.Context, cond ovsdb.Condition) ([]PortInfo, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ports, err := o.selectPortRows(ctx, cond)
	if err != nil || len(ports) == 0 {
		return nil, err
	}

	var ops []ovsdb.Operation
	for _, p := range ports {
		ops = append(ops, selectBridgeOf(p.UUID))
		for _, u := range p.Interfaces {
			ops = append(ops, ovsdb.Operation{
				Op:      ovsdb.OperationSelect,
				Table:   vswitch.InterfaceTable,
				Where:   []ovsdb.Condition{uuidIs(u)},
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
		var iface *vswitch.Interface
		for range p.Interfaces {
			r := res[0]
			res = res[1:]
			if len(r.Rows) == 0 {
				continue // deleted meanwhile
			}
			var i vswitch.Interface
			if err := o.decode(&r.Rows[0], &i); err != nil {
				return nil, err
			}
			if iface == nil || i.Name == p.Name {
				iface = &i
			}
		}
		if iface != nil {
			info.InterfaceUUID = iface.UUID
			info.Type = iface.Type
			info.Options = iface.Options
			info.MTURequest = iface.MTURequest
			info.OFPort = iface.Ofport
			if iface.Error != nil {
				info.Error = *iface.Error
			}
			if iface.LinkState != nil {
				info.LinkState = *iface.LinkState
			}
		}
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

func uuidSet(u string) ovsdb.OvsSet {
	return ovsdb.OvsSet{GoSet: []interface{}{ovsdb.UUID{GoUUID: u}}}
}

func uuidIs(u string) ovsdb.Condition {
	return ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: u})
}

// decode fills a model from a row that a select returned. libovsdb's
// mapper fills only the schema's columns, and _uuid is not one of them.
func (o *OVS) decode(row *ovsdb.Row, m model.Model) error {
	dbModel := o.c.Cache().DatabaseModel()
	info, err := dbModel.NewModelInfo(m)
	if err != nil {
		return err
	}
	if err := dbModel.Mapper.GetRowData(row, info); err != nil {
		return err
	}
	if u, ok := (*row)["_uuid"].(ovsdb.UUID); ok {
		return info.SetField("_uuid", u.GoUUID)
	}
	return errors.New("row without _uuid")
}

// transact runs ops as one transaction and turns any failed operation or
// failed commit into an error (errors.As finds the *ovsdb.TimedOut,
// *ovsdb.ConstraintViolation and so on). The results hold one element per
// operation.
func (o *OVS) transact(ctx context.Context, ops ...ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	res, err := o.c.Transact(ctx, ops...)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	opErrs, err := ovsdb.CheckOperationResults(res, ops)
	if err != nil || len(opErrs) > 0 {
		errs := make([]error, 0, len(opErrs)+1)
		for _, e := range opErrs {
			errs = append(errs, e)
		}
		if len(opErrs) == 0 {
			// The commit itself failed (e.g. an index clash).
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
	return res[:len(ops)], nil
}
