package dpdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const (
	uuidA = "6fffb8cf-09ba-45ce-88d1-091b71f41f99"
	uuidB = "847994b2-5a37-438b-8f5f-3c743368a5e3"
)

// sameJSON fails unless got and want are the same JSON value (objects
// compared by their members, arrays element by element). It may be called
// from a fake server's goroutine.
func sameJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %s is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Errorf("%s: want %s is not JSON: %v", what, want, err)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s =\n%s\nwant\n%s", what, got, want)
	}
}

// TestValueRoundTrip: each value is written in RFC 7047 notation, and reads
// back as what was written (a set of one as its element, numbers as
// float64).
func TestValueRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		v    any
		json string
		back any
	}{
		{"uuid", uuid(uuidA), `["uuid","` + uuidA + `"]`, uuid(uuidA)},
		{"zero uuid", uuid("00000000-0000-0000-0000-000000000000"), `["uuid","00000000-0000-0000-0000-000000000000"]`, uuid("00000000-0000-0000-0000-000000000000")},
		{"named-uuid", namedUUID("fastpath_port"), `["named-uuid","fastpath_port"]`, namedUUID("fastpath_port")},
		{"empty set", set{}, `["set",[]]`, set{}},
		{"nil set", set(nil), `["set",[]]`, set{}},
		{"set of one uuid", set{uuid(uuidA)}, `["uuid","` + uuidA + `"]`, uuid(uuidA)},
		{"set of one string", set{"up"}, `"up"`, "up"},
		{"set of one int", set{7}, `7`, float64(7)},
		{"set of uuids", set{uuid(uuidA), uuid(uuidB)}, `["set",[["uuid","` + uuidA + `"],["uuid","` + uuidB + `"]]]`, set{uuid(uuidA), uuid(uuidB)}},
		{"set of ints", set{1, 2, 3}, `["set",[1,2,3]]`, set{float64(1), float64(2), float64(3)}},
		{"empty map", ovsMap{}, `["map",[]]`, ovsMap{}},
		{"nil map", ovsMap(nil), `["map",[]]`, ovsMap{}},
		{"map", stringMap(map[string]string{"vhost-server-path": "/run/a b.sock", "n_rxq": "2", "a": ""}),
			`["map",[["a",""],["n_rxq","2"],["vhost-server-path","/run/a b.sock"]]]`,
			ovsMap{"a": "", "n_rxq": "2", "vhost-server-path": "/run/a b.sock"}},
		{"map to uuid", ovsMap{float64(1): uuid(uuidA)}, `["map",[[1,["uuid","` + uuidA + `"]]]]`, ovsMap{float64(1): uuid(uuidA)}},
		{"string", "br0", `"br0"`, "br0"},
		{"bool", true, `true`, true},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Errorf("%s: marshal: %v", c.name, err)
			continue
		}
		if string(b) != c.json {
			t.Errorf("%s: written %s, want %s", c.name, b, c.json)
		}
		var r row
		if err := json.Unmarshal([]byte(`{"c":`+string(b)+`}`), &r); err != nil {
			t.Errorf("%s: read %s: %v", c.name, b, err)
			continue
		}
		if !reflect.DeepEqual(r["c"], c.back) {
			t.Errorf("%s: %s read back as %#v, want %#v", c.name, b, r["c"], c.back)
		}
	}
}

func TestReadValueErrors(t *testing.T) {
	for _, bad := range []string{
		`["uuid",5]`,
		`["named-uuid"]`,
		`["set","x"]`,
		`["set",[["set",[]]]]`,
		`["set",[["uuid",1]]]`,
		`["map",{}]`,
		`["map",[["a"]]]`,
		`["map",[[["x","y"],"v"]]]`,
		`["map",[["k",["map",[]]]]]`,
		`["other","x"]`,
		`[1,2,3]`,
		`[]`,
	} {
		var r row
		if err := json.Unmarshal([]byte(`{"col":`+bad+`}`), &r); err == nil {
			t.Errorf("read %s: %#v, want an error", bad, r["col"])
		} else if !strings.Contains(err.Error(), `"col"`) {
			t.Errorf("read %s: %v does not name the column", bad, err)
		}
	}
}

// realResult is the result of a transaction of queryPorts, answered by
// ovsdb-server 3.1.0 (captured from a run of TestAddGetDeleteRoundTrip
// after ovs-vsctl set ofport, link_state and error), and one of
// TestAddPortExists's selects of a bond's Port.
const (
	realResult = `[{"rows":[{"name":"br0"}]},{"rows":[{"name":"vhu-abc","mtu_request":9000,` +
		`"options":["map",[["n_rxq","2"],["vhost-server-path","/var/run/fastpath/pod 1/vhu-abc.sock"]]],` +
		`"type":"dpdkvhostuserclient","link_state":"up","_uuid":["uuid","6fffb8cf-09ba-45ce-88d1-091b71f41f99"],` +
		`"ofport":7,"error":"no vhost socket"}]}]`
	realNewInterface = `{"name":"vhu-abc","mtu_request":9000,` +
		`"options":["map",[["n_rxq","2"],["vhost-server-path","/var/run/fastpath/pod 1/vhu-abc.sock"]]],` +
		`"type":"dpdkvhostuserclient","link_state":["set",[]],"_uuid":["uuid","6fffb8cf-09ba-45ce-88d1-091b71f41f99"],` +
		`"ofport":["set",[]],"error":["set",[]]}`
	realBondPort = `{"name":"bond0","interfaces":["set",[["uuid","afc7fd82-d44a-4906-912f-1975f5e4bfc4"],` +
		`["uuid","e92da785-451b-4d96-94f3-58076476ed2e"]]],"_uuid":["uuid","8a853cc2-ba69-4167-8273-c368278a65c5"],` +
		`"external_ids":["map",[]],"tag":["set",[]]}`
)

func TestReadRealRows(t *testing.T) {
	var res []opResult
	if err := json.Unmarshal([]byte(realResult), &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || len(res[0].Rows) != 1 || len(res[1].Rows) != 1 {
		t.Fatalf("results = %#v", res)
	}
	if got := rowName(res[0]); got != "br0" {
		t.Errorf("rowName = %q", got)
	}
	r := res[1].Rows[0]
	want := row{
		"name":        "vhu-abc",
		"type":        "dpdkvhostuserclient",
		"mtu_request": float64(9000),
		"options":     ovsMap{"n_rxq": "2", "vhost-server-path": "/var/run/fastpath/pod 1/vhu-abc.sock"},
		"link_state":  "up",
		"_uuid":       uuid(uuidA),
		"ofport":      float64(7),
		"error":       "no vhost socket",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("row = %#v\nwant %#v", r, want)
	}
	got := decodeInterface(r)
	wantIface := interfaceRow{
		UUID: uuidA, Name: "vhu-abc", Type: TypeVhostUserClient,
		Options:    map[string]string{"n_rxq": "2", OptVhostServerPath: "/var/run/fastpath/pod 1/vhu-abc.sock"},
		MTURequest: intp(9000), OFPort: intp(7), Error: "no vhost socket", LinkState: "up",
	}
	if !reflect.DeepEqual(got, wantIface) {
		t.Errorf("decodeInterface = %+v\nwant %+v", got, wantIface)
	}

	// Before ovs-vswitchd sets them, optional columns are empty sets.
	if err := json.Unmarshal([]byte(realNewInterface), &r); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r["ofport"], set{}) || !reflect.DeepEqual(r["link_state"], set{}) {
		t.Errorf("empty optional columns read as %#v, %#v", r["ofport"], r["link_state"])
	}
	if got := decodeInterface(r); got.OFPort != nil || got.LinkState != "" || got.Error != "" || got.MTURequest == nil || *got.MTURequest != 9000 {
		t.Errorf("decodeInterface of a new interface = %+v", got)
	}

	// A set of two UUIDs, an empty map, an empty optional integer.
	if err := json.Unmarshal([]byte(realBondPort), &r); err != nil {
		t.Fatal(err)
	}
	wantPort := portRow{
		UUID: "8a853cc2-ba69-4167-8273-c368278a65c5", Name: "bond0",
		Interfaces:  []string{"afc7fd82-d44a-4906-912f-1975f5e4bfc4", "e92da785-451b-4d96-94f3-58076476ed2e"},
		ExternalIDs: map[string]string{},
	}
	if got := decodePort(r); !reflect.DeepEqual(got, wantPort) {
		t.Errorf("decodePort = %+v\nwant %+v", got, wantPort)
	}
}

// TestOperationJSON: operations are written as libovsdb wrote them (the
// wanted JSON is what it sent, captured from the tests' transactions).
func TestOperationJSON(t *testing.T) {
	for _, c := range []struct {
		name string
		op   operation
		want string
	}{
		{"wait bridge", waitBridge("br0"),
			`{"op":"wait","table":"Bridge","rows":[{"name":"br0"}],"columns":["name"],"timeout":0,"where":[["name","==","br0"]],"until":"=="}`},
		{"wait no port", waitNoName(portTable, "vhu-abc"),
			`{"op":"wait","table":"Port","rows":[{"name":"vhu-abc"}],"columns":["name"],"timeout":0,"where":[["name","==","vhu-abc"]],"until":"!="}`},
		{"select bridge of", selectBridgeOf(uuidB),
			`{"where":[["ports","includes",["uuid","` + uuidB + `"]]],"op":"select","table":"Bridge","columns":["name"]}`},
		{"select by uuid", operation{Op: "select", Table: interfaceTable, Where: []condition{uuidIs(uuidA)}, Columns: interfaceColumns},
			`{"where":[["_uuid","==",["uuid","` + uuidA + `"]]],"op":"select","table":"Interface","columns":["_uuid","name","type","options","mtu_request","ofport","error","link_state"]}`},
		{"select by external_ids", operation{Op: "select", Table: portTable, Where: []condition{{"external_ids", "includes", stringMap(map[string]string{ownerKey: "fastpath"})}}, Columns: portColumns},
			`{"where":[["external_ids","includes",["map",[["fastpath.owner","fastpath"]]]]],"op":"select","table":"Port","columns":["_uuid","name","interfaces","tag","external_ids"]}`},
		{"mutate delete", operation{Op: "mutate", Table: bridgeTable, Where: []condition{{"ports", "includes", uuidSet(uuidB)}}, Mutations: []mutation{{"ports", "delete", uuidSet(uuidB)}}},
			`{"op":"mutate","table":"Bridge","mutations":[["ports","delete",["uuid","` + uuidB + `"]]],"where":[["ports","includes",["uuid","` + uuidB + `"]]]}`},
		{"delete", operation{Op: "delete", Table: portTable, Where: []condition{uuidIs(uuidB)}},
			`{"op":"delete","table":"Port","where":[["_uuid","==",["uuid","` + uuidB + `"]]]}`},
		// Not used here, but sayable: a select of every row.
		{"select all", operation{Op: "select", Table: bridgeTable, Where: []condition{}, Columns: []string{"name"}},
			`{"op":"select","table":"Bridge","where":[],"columns":["name"]}`},
	} {
		b, err := json.Marshal(c.op)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		sameJSON(t, c.name, b, c.want)
	}
}

// addPortRequest is the transact request of AddPort for the spec of
// TestAddGetDeleteRoundTrip, as libovsdb wrote it (map pairs sorted).
const addPortRequest = `["Open_vSwitch",
 {"op":"wait","table":"Bridge","rows":[{"name":"br0"}],"columns":["name"],"timeout":0,"where":[["name","==","br0"]],"until":"=="},
 {"op":"wait","table":"Port","rows":[{"name":"vhu-abc"}],"columns":["name"],"timeout":0,"where":[["name","==","vhu-abc"]],"until":"!="},
 {"op":"wait","table":"Interface","rows":[{"name":"vhu-abc"}],"columns":["name"],"timeout":0,"where":[["name","==","vhu-abc"]],"until":"!="},
 {"op":"insert","table":"Interface","row":{"mtu_request":9000,"name":"vhu-abc","options":["map",[["n_rxq","2"],["vhost-server-path","/var/run/fastpath/pod 1/vhu-abc.sock"]]],"type":"dpdkvhostuserclient"},"uuid-name":"fastpath_iface"},
 {"op":"insert","table":"Port","row":{"external_ids":["map",[["fastpath.container","c0ffee"],["fastpath.ifname","net1"],["fastpath.owner","fastpath"]]],"interfaces":["named-uuid","fastpath_iface"],"name":"vhu-abc","tag":100},"uuid-name":"fastpath_port"},
 {"op":"mutate","table":"Bridge","mutations":[["ports","insert",["named-uuid","fastpath_port"]]],"where":[["name","==","br0"]]}]`

// TestAddPortWire: AddPort's request, and what it makes of each way a
// transaction can fail, against a fake server answering as ovsdb-server
// does (the answers of the first cases are ovsdb-server's, captured).
func TestAddPortWire(t *testing.T) {
	spec := PortSpec{
		Bridge: "br0", Name: "vhu-abc", Type: TypeVhostUserClient,
		Options:     map[string]string{OptVhostServerPath: "/var/run/fastpath/pod 1/vhu-abc.sock", "n_rxq": "2"},
		Tag:         intp(100),
		MTURequest:  intp(9000),
		ExternalIDs: map[string]string{ownerKey: "fastpath", "fastpath.container": "c0ffee", "fastpath.ifname": "net1"},
	}
	const (
		whereFailed = `{"details":"\"where\" clause test failed","error":"timed out"}`
		inserted    = `{},{},{},{"uuid":["uuid","` + uuidA + `"]},{"uuid":["uuid","` + uuidB + `"]},{"count":1}`
		// ovsdb-server's commit failure on an index clash (captured from
		// TestCommitFailsReal).
		indexClash = `{"details":"Transaction causes multiple rows in \"Interface\" table to have identical values (vhu-abc) for index on column \"name\".  First row, with UUID 5a8626b6-056b-40a5-a616-6cb7dbf255f6, existed in the database before this transaction and was not modified by the transaction.  Second row, with UUID ` + uuidA + `, was inserted by this transaction.","error":"constraint violation"}`
	)
	for _, c := range []struct {
		name   string
		result string
		is     error  // errors.Is
		says   string // in the error
	}{
		{"success", `[` + inserted + `]`, nil, ""},
		{"no bridge", `[` + whereFailed + `,null,null,null,null,null]`, ErrNoBridge, `bridge does not exist: "br0"`},
		{"port exists", `[{},` + whereFailed + `,null,null,null,null]`, ErrPortExists, "port already exists"},
		{"interface exists", `[{},{},` + whereFailed + `,null,null,null]`, ErrPortExists, "port already exists"},
		{"index clash at commit", `[` + inserted + `,` + indexClash + `]`, ErrPortExists, "port already exists"},
		{"other commit failure", `[` + inserted + `,{"error":"constraint violation","details":"something else"}]`, nil, "constraint violation: something else"},
		{"commit result without error", `[` + inserted + `,{}]`, nil, ""},
		{"operation error", `[{},{},{},{"error":"constraint violation","details":"bad type"},null,null]`, nil, "constraint violation: bad type"},
		{"short result", `[{}]`, nil, "6 operations submitted but only 1 results received"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, f := newFake(t)
			done := make(chan struct{})
			go func() {
				defer close(done)
				req := f.read()
				sameJSON(t, "request", req.Params, addPortRequest)
				f.send(fmt.Sprintf(`{"id":%s,"result":%s,"error":null}`, req.ID, c.result))
				// ErrPortExists looks for the port (GetPort, then the
				// interface): none here.
				for {
					var m rpcMessage
					if f.dec.Decode(&m) != nil {
						return
					}
					f.send(fmt.Sprintf(`{"id":%s,"result":[{"rows":[]}],"error":null}`, m.ID))
				}
			}()
			o := &OVS{rpc: r, endpoint: "fake"}
			err := o.AddPort(testCtx(t), spec)
			o.Close()
			<-done
			switch {
			case c.says == "" && err != nil:
				t.Errorf("AddPort = %v, want nil", err)
			case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says)):
				t.Errorf("AddPort = %v, want an error saying %q", err, c.says)
			}
			for _, e := range []error{ErrNoBridge, ErrPortExists} {
				if got := errors.Is(err, e); got != (c.is == e) {
					t.Errorf("AddPort = %v: errors.Is(%v) = %v", err, e, got)
				}
			}
			t.Logf("AddPort: %v", err)
		})
	}
}

// TestCheckResults: the error of each way a transaction's results can say
// it failed, and the operation it points at.
func TestCheckResults(t *testing.T) {
	ops := make([]operation, 3)
	timedOut := opResult{Error: "timed out", Details: `"where" clause test failed`}
	violation := opResult{Error: "constraint violation", Details: "x"}

	if err := checkResults([]opResult{{}, {Rows: []row{}}, {}}, ops); err != nil {
		t.Errorf("all succeeded: %v", err)
	}
	if err := checkResults([]opResult{{}, {}, {}, {}}, ops); err != nil {
		t.Errorf("all succeeded, empty extra element: %v", err)
	}
	err := checkResults([]opResult{{}, {}}, ops)
	if err == nil || err.Error() != "ovsdb transaction error. 3 operations submitted but only 2 results received" {
		t.Errorf("short results: %v", err)
	}
	var oe *opError
	if errors.As(err, &oe) {
		t.Errorf("short results: an *opError %v", oe)
	}

	// One failed operation; the later ones' results are null (zero).
	err = checkResults([]opResult{{}, timedOut, {}}, ops)
	if e := failedOp(err, "timed out"); e == nil || e.op != &ops[1] || e.details != timedOut.Details {
		t.Errorf("failed wait: %v: %#v", err, e)
	}
	if err.Error() != `timed out: "where" clause test failed` {
		t.Errorf("failed wait says %q", err)
	}
	if failedOp(err, "constraint violation") != nil {
		t.Errorf("failed wait found as a constraint violation")
	}
	if !errors.As(err, &oe) || oe.op != &ops[1] {
		t.Errorf("errors.As *opError: %v", oe)
	}

	// The commit failed: one more element, pointing at no operation.
	err = checkResults([]opResult{{}, {}, {}, violation}, ops)
	if e := failedOp(err, "constraint violation"); e == nil || e.op != nil || err.Error() != "constraint violation: x" {
		t.Errorf("failed commit: %v: %#v", err, e)
	}
	// An error without details says its name alone.
	if err := checkResults([]opResult{{}, {}, {}, {Error: "aborted"}}, ops); err == nil || err.Error() != "aborted" {
		t.Errorf("aborted commit: %v", err)
	}

	// Several failed operations (ovsdb-server stops at the first): all
	// are reported, a commit error after them is not, and failedOp finds
	// the first of each name, through wrapping too.
	err = checkResults([]opResult{violation, timedOut, {Error: "timed out"}, {Error: "aborted"}}, ops)
	if err.Error() != "constraint violation: x\ntimed out: \"where\" clause test failed\ntimed out" {
		t.Errorf("several failures say %q", err)
	}
	wrapped := fmt.Errorf("context: %w", err)
	if e := failedOp(wrapped, "timed out"); e == nil || e.op != &ops[1] {
		t.Errorf("first timed out: %#v", e)
	}
	if e := failedOp(wrapped, "constraint violation"); e == nil || e.op != &ops[0] {
		t.Errorf("first constraint violation: %#v", e)
	}
	if failedOp(wrapped, "aborted") != nil || failedOp(nil, "timed out") != nil {
		t.Errorf("failedOp found what is not there")
	}
}

// TestCommitFailsReal: ovsdb-server's own answer when every operation
// succeeds but the commit does not: an index clash, as AddPort would meet
// without its waits.
func TestCommitFailsReal(t *testing.T) {
	s := startOVSDB(t)
	o := s.dial(t)
	ctx := testCtx(t)
	if err := o.AddPort(ctx, vhostSpec("br0", "p1")); err != nil {
		t.Fatal(err)
	}
	ops := []operation{
		{Op: "insert", Table: interfaceTable, Row: row{"name": "p1", "type": TypeVhostUser}, UUIDName: namedIface},
		{Op: "insert", Table: portTable, Row: row{"name": "p1", "interfaces": namedUUID(namedIface)}, UUIDName: namedPort},
		{Op: "mutate", Table: bridgeTable, Where: []condition{{"name", "==", "br0"}}, Mutations: []mutation{{"ports", "insert", namedUUID(namedPort)}}},
	}
	_, err := o.transact(ctx, ops...)
	e := failedOp(err, "constraint violation")
	if e == nil || e.op != nil || !strings.Contains(err.Error(), "for index on column") {
		t.Fatalf("transact of a clashing port: %v (%#v), want a failed commit, an index clash", err, e)
	}
	t.Logf("transact: %v", err)
	if got := s.vsctl(t, "list-ports", "br0"); got != "p1" {
		t.Errorf("list-ports br0 = %q", got)
	}

	// And a real row read back: a select of every column used, compared
	// with what ovs-vsctl says.
	res, err := o.transact(ctx, operation{Op: "select", Table: portTable, Where: []condition{{"name", "==", "p1"}}, Columns: portColumns})
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("select = %v, %v", res, err)
	}
	r := res[0].Rows[0]
	if u, ok := r["_uuid"].(uuid); !ok || string(u) != s.get(t, "Port", "p1", "_uuid") {
		t.Errorf("_uuid = %#v", r["_uuid"])
	}
	if u, ok := r["interfaces"].(uuid); !ok || string(u) != s.get(t, "Interface", "p1", "_uuid") {
		t.Errorf("interfaces (a set of one) = %#v", r["interfaces"])
	}
	if m, ok := r["external_ids"].(ovsMap); !ok || !reflect.DeepEqual(m, ovsMap{ownerKey: "fastpath"}) {
		t.Errorf("external_ids = %#v", r["external_ids"])
	}
	if !reflect.DeepEqual(r["tag"], set{}) || r["name"] != "p1" {
		t.Errorf("tag, name = %#v, %#v", r["tag"], r["name"])
	}
}
