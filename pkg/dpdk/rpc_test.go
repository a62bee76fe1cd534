package dpdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeServer is the server end of a net.Pipe, for tests of the transport
// that need the server to misbehave in ways ovsdb-server does not.
type fakeServer struct {
	t    *testing.T
	conn net.Conn
	dec  *json.Decoder
}

func newFake(t *testing.T) (*rpcConn, *fakeServer) {
	t.Helper()
	c, s := net.Pipe()
	r := newRPCConn(c)
	t.Cleanup(func() { r.Close(); s.Close() })
	return r, &fakeServer{t: t, conn: s, dec: json.NewDecoder(s)}
}

// read reads one message; errors end the test from the server goroutine's
// side by returning a zero message.
func (f *fakeServer) read() rpcMessage {
	var m rpcMessage
	if err := f.dec.Decode(&m); err != nil {
		f.t.Errorf("fake server: read: %v", err)
	}
	return m
}

func (f *fakeServer) send(s string) {
	if _, err := f.conn.Write([]byte(s)); err != nil {
		f.t.Errorf("fake server: write %s: %v", s, err)
	}
}

// TestRPCServerMessages: the server's notifications are dropped, its echo
// requests answered, and responses to other ids skipped, all while a call
// waits for its own response.
func TestRPCServerMessages(t *testing.T) {
	r, f := newFake(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		req := f.read()
		if req.Method != "transact" || string(req.ID) != "1" || string(req.Params) != `["db",{"op":"comment"}]` {
			f.t.Errorf("request = %s %s %s", req.Method, req.ID, req.Params)
		}
		f.send(`{"method":"update","params":[null,{}],"id":null}`)
		f.send(`{"id":"echo","method":"echo","params":["probe",7]}`)
		if reply := f.read(); string(reply.ID) != `"echo"` || string(reply.Result) != `["probe",7]` || string(reply.Error) != "null" {
			f.t.Errorf("echo reply = id %s result %s error %s", reply.ID, reply.Result, reply.Error)
		}
		f.send(`{"id":99,"result":[{"count":99}],"error":null}` + "\n")
		f.send(`{"id":1,"result":[{"count":1}],"error":null}`)

		// Then an error response, as for an unknown database.
		if req := f.read(); string(req.ID) != "2" {
			f.t.Errorf("second request id = %s", req.ID)
		}
		f.send(`{"id":2,"result":null,"error":{"error":"unknown database","details":"no such db"}}`)
		// And a bare string error.
		f.read()
		f.send(`{"id":3,"result":null,"error":"oops"}`)
	}()

	ctx := testCtx(t)
	var res []map[string]int
	if err := r.call(ctx, "transact", []any{"db", map[string]string{"op": "comment"}}, &res); err != nil {
		t.Fatalf("call: %v", err)
	}
	if len(res) != 1 || res[0]["count"] != 1 {
		t.Errorf("result = %v, want the response of id 1", res)
	}
	err := r.call(ctx, "transact", []any{"nodb"}, &res)
	var rerr *rpcError
	if !errors.As(err, &rerr) || rerr.Err != "unknown database" || !strings.Contains(err.Error(), "no such db") {
		t.Errorf("error response: %v, want an *rpcError unknown database", err)
	}
	err = r.call(ctx, "echo", nil, nil)
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "oops") {
		t.Errorf("string error response: %v", err)
	}
	<-done
}

// TestRPCContext: a cancelled context ends a call blocked on a silent
// server, and breaks the connection for later calls; a call waiting for
// its turn gives up at its own deadline.
func TestRPCContext(t *testing.T) {
	r, f := newFake(t)
	go func() {
		for {
			var m rpcMessage
			if f.dec.Decode(&m) != nil {
				return
			}
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	blocked := make(chan error)
	go func() { blocked <- r.call(ctx, "echo", nil, nil) }()
	time.Sleep(50 * time.Millisecond)

	// Waits for its turn, then gives up at its deadline.
	wctx, wcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer wcancel()
	start := time.Now()
	if err := r.call(wctx, "echo", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting call: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waiting call took %v", d)
	}

	cancel()
	select {
	case err := <-blocked:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled call: %v, want Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled call still blocked after 5s")
	}
	err := r.call(testCtx(t), "echo", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("call after a broken one: %v, want the first failure", err)
	}
}

// TestRPCDeadline: the context's deadline bounds the read of a response.
func TestRPCDeadline(t *testing.T) {
	r, f := newFake(t)
	go f.read()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.call(ctx, "echo", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("call to a silent server: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call took %v despite a 100ms deadline", d)
	}
}

// TestRPCCloseDuringCall: Close ends a call in flight.
func TestRPCCloseDuringCall(t *testing.T) {
	r, f := newFake(t)
	go f.read()
	errc := make(chan error)
	go func() { errc <- r.call(testCtx(t), "echo", nil, nil) }()
	time.Sleep(50 * time.Millisecond)
	r.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, errClosed) {
			t.Errorf("call ended by Close: %v, want errClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call still blocked 5s after Close")
	}
	if err := r.call(testCtx(t), "echo", nil, nil); !errors.Is(err, errClosed) {
		t.Errorf("call after Close: %v", err)
	}
}

// startSchemaServer runs ovsdb-server on a database of the schema given
// (JSON), for Dial's checks of the database.
func startSchemaServer(t *testing.T, schema string) string {
	t.Helper()
	server, tool := ovsTool(t, "ovsdb-server"), ovsTool(t, "ovsdb-tool")
	dir, err := os.MkdirTemp("", "fpovsdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	schemaFile, db, sock := filepath.Join(dir, "s.ovsschema"), filepath.Join(dir, "db"), filepath.Join(dir, "db.sock")
	if err := os.WriteFile(schemaFile, []byte(schema), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "create", db, schemaFile).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create: %v: %s", err, out)
	}
	cmd := exec.Command(server, db, "--remote=punix:"+sock, "--unixctl="+filepath.Join(dir, "ctl"),
		"-vconsole:warn", "-vsyslog:off", "-vfile:off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return "unix:" + sock
		} else if i == 1000 {
			t.Fatalf("ovsdb-server on %s not up: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDialChecksDatabase: Dial fails, saying why, on a server without the
// Open_vSwitch database or with one lacking a column used here.
func TestDialChecksDatabase(t *testing.T) {
	const tables = `"Bridge": {"columns": {"name": {"type": "string"},
		"ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}}}, "isRoot": true},
	"Port": {"columns": {"name": {"type": "string"},
		"interfaces": {"type": {"key": {"type": "uuid", "refTable": "Interface"}, "min": 1, "max": "unlimited"}}}},
	"Interface": {"columns": {"name": {"type": "string"}}}`
	for _, c := range []struct{ name, want string }{
		{"Other", "no Open_vSwitch database"},
		{"Open_vSwitch", "not a valid column name"},
	} {
		ep := startSchemaServer(t, `{"name": "`+c.name+`", "version": "1.0.0", "tables": {`+tables+`}}`)
		o, err := Dial(testCtx(t), ep)
		if err == nil {
			o.Close()
			t.Errorf("Dial of a %s database succeeded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Dial of a %s database: %v; want %q", c.name, err, c.want)
		}
		t.Logf("Dial %s database: %v", c.name, err)
	}
}

// freePort is a TCP port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTCPAndServerEcho: a tcp endpoint works, and on tcp ovsdb-server
// probes an idle client with echo requests (here after 1s, its minimum),
// which the next call finds ahead of its own response and answers.
func TestTCPAndServerEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for ovsdb-server's inactivity probe")
	}
	s := startOVSDB(t)
	appctl := ovsTool(t, "ovs-appctl")
	port := freePort(t)
	ctl := filepath.Join(s.dir, "ovsdb-server.ctl")
	if out, err := exec.Command(appctl, "-t", ctl, "ovsdb-server/add-remote", "db:Open_vSwitch,Open_vSwitch,manager_options").CombinedOutput(); err != nil {
		t.Fatalf("ovs-appctl add-remote: %v: %s", err, out)
	}
	target := "ptcp:" + strconv.Itoa(port) + ":127.0.0.1"
	s.vsctl(t, "--", "--id=@m", "create", "Manager", "target=\""+target+"\"", "inactivity_probe=2000",
		"--", "add", "Open_vSwitch", ".", "manager_options", "@m")

	ep := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	var o *OVS
	for i := 0; ; i++ {
		var err error
		if o, err = Dial(testCtx(t), ep); err == nil {
			break
		} else if i == 200 {
			t.Fatalf("Dial %s: %v", ep, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer o.Close()
	if o.Endpoint() != ep {
		t.Errorf("Endpoint = %q", o.Endpoint())
	}
	for i := 0; i < 3; i++ {
		// Idle past the probe interval but short of twice it (when the
		// server would hang up): its echo is waiting. A second of margin
		// each way, for a loaded machine.
		time.Sleep(3 * time.Second)
		if ok, err := o.BridgeExists(testCtx(t), "br0"); err != nil || !ok {
			t.Fatalf("BridgeExists after %d probe intervals: %v, %v", i+1, ok, err)
		}
	}
	if o.rpc.served < 3 {
		t.Errorf("%d requests of the server's handled, want an echo per idle interval", o.rpc.served)
	}
}
