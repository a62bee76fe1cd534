package ipam

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// binDir holds a real host-local, built once for the package's tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ipam-test-bin")
	if err == nil {
		err = cnitest.Build(dir, "github.com/containernetworking/plugins/plugins/ipam/host-local")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostLocalConf is a network config for host-local on subnet, and the
// directory where host-local keeps its leases.
func hostLocalConf(t *testing.T, subnet string) ([]byte, string) {
	dir := t.TempDir()
	return fmt.Appendf(nil, `{"cniVersion":"1.0.0","name":"exec-test","ipam":{"type":"host-local","subnet":%q,"dataDir":%q}}`,
		subnet, dir), filepath.Join(dir, "exec-test")
}

func TestCallAddDelWithHostLocal(t *testing.T) {
	t.Setenv("CNI_PATH", binDir)
	conf, leases := hostLocalConf(t, "10.77.0.0/24")
	c := Call{Type: "host-local", Config: conf, ContainerID: "c1", NetNS: "/var/run/netns/none", IfName: "net1"}
	res, err := c.Add(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.77.0.2/24" || res.CNIVersion != "1.1.0" {
		t.Fatalf("result %+v", res)
	}
	// A second container gets the next address: the lease of the first is held.
	c2 := c
	c2.ContainerID = "c2"
	res2, err := c2.Add(context.Background())
	if err != nil || res2.IPs[0].Address.String() != "10.77.0.3/24" {
		t.Fatalf("second ADD: %v %+v", err, res2)
	}
	if err := c.Del(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(leases, "10.77.0.2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("c1's lease is still there after DEL: %v", err)
	}
	if _, err := os.Stat(filepath.Join(leases, "10.77.0.3")); err != nil {
		t.Errorf("c2's lease is gone: %v", err)
	}
}

func TestPluginErrorKeepsItsCode(t *testing.T) {
	t.Setenv("CNI_PATH", binDir)
	c := Call{Type: "host-local", Config: first(hostLocalConf(t, "10.77.0.0/99")), ContainerID: "c1", NetNS: "/x", IfName: "net1"}
	_, err := c.Add(context.Background())
	var te *types.Error
	if !errors.As(err, &te) || te.Code == 0 || !strings.Contains(err.Error(), "10.77.0.0/99") {
		t.Fatalf("want host-local's CNI error naming the subnet, got %#v (%v)", te, err)
	}
	if !strings.HasPrefix(err.Error(), "IPAM host-local ADD: ") {
		t.Errorf("error %q does not say which call failed", err)
	}
}

func first(conf []byte, _ string) []byte { return conf }

// script writes an executable shell script called name into a new CNI_PATH
// directory.
func script(t *testing.T, name, body string) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_PATH", dir)
	return dir
}

func TestPluginFailingWithoutCNIError(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"stdout", `echo not json; exit 3`, `printed no CNI error: "not json\n"`},
		{"stderr", `echo broken >&2; exit 3`, `plugin failed (exit status 3): "broken\n"`},
		{"silent", `exit 3`, `plugin failed with no message: exit status 3`},
		{"bad result", `echo '{"cniVersion":"1.0.0","ips":"nope"}'`, `IPAM odd ADD result: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script(t, "odd", tc.body)
			_, err := Call{Type: "odd", Config: []byte(`{"cniVersion":"1.0.0"}`)}.Add(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The plugin sees the attachment's CNI environment, not the caller's, and
// keeps the rest of the caller's environment.
func TestCallEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	script(t, "envdump", `env > `+out+`; echo '{"cniVersion":"1.0.0"}'`)
	t.Setenv("CNI_CONTAINERID", "the-callers")
	t.Setenv("FASTPATH_TEST_KEEP", "kept")
	c := Call{Type: "envdump", Config: []byte(`{"cniVersion":"1.0.0"}`), ContainerID: "other", NetNS: "/ns", IfName: "net9", Args: "A=b"}
	if _, err := c.Add(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, want := range []string{"CNI_COMMAND=ADD\n", "CNI_CONTAINERID=other\n", "CNI_NETNS=/ns\n", "CNI_IFNAME=net9\n", "CNI_ARGS=A=b\n", "FASTPATH_TEST_KEEP=kept\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("plugin environment lacks %q:\n%s", want, env)
		}
	}
	if strings.Contains(env, "the-callers") {
		t.Errorf("plugin saw the caller's container ID:\n%s", env)
	}
}

func TestGCAndStatusPassTheCallersEnvironment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "env")
	script(t, "envdump", `echo "$CNI_COMMAND $CNI_CONTAINERID" >> `+out)
	t.Setenv("CNI_CONTAINERID", "runtime-id")
	if err := GC(context.Background(), "envdump", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := Status(context.Background(), "envdump", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if string(b) != "GC runtime-id\nSTATUS runtime-id\n" {
		t.Fatalf("plugin saw %q", b)
	}
}

func TestFindPlugin(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	// A directory of the plugin's name is not the plugin.
	if err := os.Mkdir(filepath.Join(first, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "p"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_PATH", first+":"+second)
	if p, err := findPlugin("p"); err != nil || p != filepath.Join(second, "p") {
		t.Fatalf("findPlugin = %q, %v", p, err)
	}
	for _, name := range []string{"", "../p", "a/b", ".", ".."} {
		if _, err := findPlugin(name); err == nil || !strings.Contains(err.Error(), "invalid IPAM plugin name") {
			t.Errorf("findPlugin(%q) = %v", name, err)
		}
	}
	if _, err := findPlugin("missing"); err == nil || !strings.Contains(err.Error(), `"missing" not found in CNI_PATH "`+first) {
		t.Errorf("findPlugin(missing) = %v", err)
	}
}

// A plugin binary being written in place (ETXTBSY) is waited for, not
// reported as a failure.
func TestTextFileBusyIsRetried(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(binDir, "host-local"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(filepath.Join(dir, "host-local"), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_PATH", dir)
	var closed atomic.Bool
	go func() {
		time.Sleep(3 * busyPause)
		closed.Store(true)
		w.Close()
	}()
	c := Call{Type: "host-local", Config: first(hostLocalConf(t, "10.78.0.0/24")), ContainerID: "c1", NetNS: "/x", IfName: "net1"}
	res, err := c.Add(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !closed.Load() || res.IPs[0].Address.String() != "10.78.0.2/24" {
		t.Fatalf("ran before the writer closed (%v), or result %+v", closed.Load(), res)
	}
}

func TestParseResult(t *testing.T) {
	conf := []byte(`{"cniVersion":"1.0.0"}`)
	for _, tc := range []struct{ name, out, want string }{
		{"current", `{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.5/24"}]}`, "10.1.0.5/24"},
		{"0.3.1 converted", `{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.6/24"}]}`, "10.1.0.6/24"},
		{"no version: the config's", `{"ips":[{"address":"10.1.0.7/24"}]}`, "10.1.0.7/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseResult(conf, []byte(tc.out))
			if err != nil || len(res.IPs) != 1 || res.IPs[0].Address.String() != tc.want {
				t.Fatalf("parseResult = %+v, %v", res, err)
			}
		})
	}
	for _, out := range []string{``, `null`, `[1]`, `{"cniVersion":"9.9.9"}`} {
		if res, err := parseResult(conf, []byte(out)); err == nil {
			t.Errorf("parseResult(%q) = %+v, want an error", out, res)
		}
	}
}
