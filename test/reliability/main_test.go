package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The e2e guest's console: go test -v with nested subtests whose names hold
// '/', a log line, console noise, and a test the run ended under.
func TestParseVerbose(t *testing.T) {
	out := `[    3.1] igb 0000:01:00.0: 7 VFs allocated
=== RUN   TestCrashKernelVF
    crash_test.go:29: ADD steps [add/locked add/recorded], DEL steps [del/device]
=== RUN   TestCrashKernelVF/add/locked
=== RUN   TestCrashKernelVF/add/recorded
    crash_test.go:40: after a crash at add/recorded and DEL: vf 1 vlan 100
=== RUN   TestCrashKernelVF/del/device
--- FAIL: TestCrashKernelVF (3.21s)
    --- PASS: TestCrashKernelVF/add/locked (0.33s)
    --- FAIL: TestCrashKernelVF/add/recorded (1.50s)
    --- SKIP: TestCrashKernelVF/del/device (0.00s)
=== RUN   TestParallelSeven
--- PASS: TestParallelSeven (12.00s)
=== RUN   TestReclaimFromDeadPod
run.sh: FAIL: guest timed out after 1200s without reporting an exit code
`
	got := parseVerbose([]byte(out))
	want := []testResult{
		{"TestCrashKernelVF", fail, 3.21, "ADD steps [add/locked add/recorded], DEL steps [del/device]"},
		{"TestCrashKernelVF/add/locked", pass, 0.33, ""},
		{"TestCrashKernelVF/add/recorded", fail, 1.5, "after a crash at add/recorded and DEL: vf 1 vlan 100"},
		{"TestCrashKernelVF/del/device", skip, 0, ""},
		{"TestParallelSeven", pass, 12, ""},
		{"TestReclaimFromDeadPod", fail, 0, "started but never finished: the run ended first (see the log)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseJSON(t *testing.T) {
	out := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestRacingAdds"}
{"Action":"output","Package":"p","Test":"TestRacingAdds","Output":"    hardening_test.go:77: losing ADD = boom (code 103), want 101 or 11\n"}
{"Action":"fail","Package":"p","Test":"TestRacingAdds","Elapsed":0.5}
{"Action":"run","Package":"p","Test":"TestOwnership"}
{"Action":"pass","Package":"p","Test":"TestOwnership","Elapsed":0.25}
# a line that is not an event
{"Action":"fail","Package":"p","Elapsed":0.8}
`
	got := parseJSON([]byte(out))
	want := []testResult{
		{"TestRacingAdds", fail, 0.5, "losing ADD = boom (code 103), want 101 or 11"},
		{"TestOwnership", pass, 0.25, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseFuzz(t *testing.T) {
	ok := parseFuzz([]byte(`fuzz: elapsed: 0s, gathering baseline coverage: 0/31 completed
fuzz: elapsed: 3s, execs: 6878 (2292/sec), new interesting: 3 (total: 34)
fuzz: elapsed: 10s, execs: 22097 (2220/sec), new interesting: 5 (total: 36)
PASS
ok  	github.com/fastpath-cni/fastpath/pkg/state	10.02s
`))
	if !ok.Found || ok.Execs != 22097 || ok.Elapsed != 10 {
		t.Errorf("passing run = %+v", ok)
	}
	bad := parseFuzz([]byte(`fuzz: elapsed: 3s, execs: 100 (33/sec), new interesting: 0 (total: 31)
--- FAIL: FuzzStateLoad (3.46s)
    --- FAIL: FuzzStateLoad (0.00s)
        fuzz_test.go:120: Load of "{}": boom, want ErrCorrupt

    Failing input written to testdata/fuzz/FuzzStateLoad/765d3441a89801ac
    To re-run:
    go test -run=FuzzStateLoad/765d3441a89801ac
FAIL
exit status 1
`))
	if bad.Execs != 100 || bad.Reason != "failing input written to testdata/fuzz/FuzzStateLoad/765d3441a89801ac" {
		t.Errorf("failing run = %+v", bad)
	}
	if none := parseFuzz([]byte("# pkg\n./x.go:1:1: syntax error\nFAIL\n")); none.Found || none.Reason != "./x.go:1:1: syntax error" {
		t.Errorf("build failure = %+v", none)
	}
}

// What a case proves comes from doc comments: the test's own, else the
// documented helper that does its work; crash steps from crash.Point calls.
func TestProves(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a_test.go", `//go:build e2e

package e2e

// crashCases kills the plugin after every step. More detail here.
func crashCases(t *testing.T) {
	a := 1
	_ = a
}

// findNIC finds the NIC.
func findNIC(t *testing.T) int { return 0 }

func TestCrashKernelVF(t *testing.T) {
	nc := findNIC(t)
	bind(nc)
	crashCases(t)
}

// TestOwnership shows that a second pod cannot take a live pod's VF.
func TestOwnership(t *testing.T) {}

func TestDelWithoutState(t *testing.T) {}

// FuzzX feeds things. It checks more.
func FuzzX(f *testing.F) {}
`)
	write("broken.go", "package e2e\n\nfunc {")
	write("add.go", `package main

func (c *call) add() {
	crash.Point("add/locked")
}

func addVhost() {
	crash.Point("add/locked")
	crash.Point(strings.ToLower(cmd) + "/ipam")
	crash.Point(fmt.Sprint(1))
}
`)
	s := newSources()
	s.loadPoints(dir)
	for name, want := range map[string]string{
		"TestCrashKernelVF":            "Kills the plugin after every step.",
		"TestOwnership":                "Shows that a second pod cannot take a live pod's VF.",
		"TestDelWithoutState":          "Del without state (no doc comment)",
		"TestGone":                     "Gone (source not found)",
		"FuzzX":                        "Feeds things.",
		"TestCrashKernelVF/add/locked": "As TestCrashKernelVF, with the plugin killed right after step `add/locked` (crash.Point in `add` add.go, `addVhost` add.go).",
		"TestParallelSeven/pod1":       "Case `pod1` of TestParallelSeven.",
		"TestCrashVfioVF/del/ipam":     "As TestCrashVfioVF, with the plugin killed right after step `del/ipam` (crash.Point in `addVhost` add.go).",
	} {
		if got := s.proves(dir, name); got != want {
			t.Errorf("proves(%s) = %q, want %q", name, got, want)
		}
	}
	if got := s.fuzzTargets(dir); !reflect.DeepEqual(got, [][2]string{{dir, "FuzzX"}}) {
		t.Errorf("fuzz targets = %v", got)
	}
}

func TestClassify(t *testing.T) {
	for name, want := range map[string]string{
		"TestCrashKernelVF/add/locked": secFault, "TestCrashEveryStep": secFault,
		"TestRacingAdds": secRace, "TestOwnership": secRace, "TestRaceDelGC": secRace,
		"TestParallelSeven": secRace, "TestLockWaitBounded": secRace,
		"TestOrphanPort": secOrphan, "TestReclaimFromDeadPod/x": secOrphan,
		"TestVLANIsolation": secOther,
	} {
		if got := classify(name); got != want {
			t.Errorf("classify(%s) = %s, want %s", name, got, want)
		}
	}
	for name, want := range map[string]string{"TestVLANIsolation": "VLAN isolation", "TestDelAfterNetnsGone": "Del after netns gone", "TestCheck": "Check"} {
		if got := humanize(name); got != want {
			t.Errorf("humanize(%s) = %q, want %q", name, got, want)
		}
	}
}

// A report whose guest never ran still says so, in a table.
func TestRenderFailedRun(t *testing.T) {
	rep := &report{rows: map[string][]row{}, commands: map[string][]string{}}
	rep.add(secFault, row{Case: "(e2e run)", Proves: "The suite built and ran to its end.", Result: fail, Measure: "12 s", Reason: "exit 1: run.sh: FAIL: a|b"})
	rep.add(secRace, row{Case: "TestRacingAdds", Proves: "Two ADDs race.", Result: pass, Measure: "0.50 s"})
	md := render(rep, "10s", "", 0)
	for _, want := range []string{
		"| `(e2e run)` | The suite built and ran to its end. | FAIL: exit 1: run.sh: FAIL: a\\|b | 12 s |",
		"- Faults injected: 0 passed, 1 failed",
		"- Races tried: 1 passed, 0 failed",
		"| fuzz time per target | 10s |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// A command is timed out, or killed soon after its exit line when it does
// not end (a guest that does not power off), with that line's code.
func TestExecute(t *testing.T) {
	exitGrace = 500 * time.Millisecond
	dir := t.TempDir()
	exit := regexp.MustCompile(`FASTPATH-GUEST-EXIT=(\d+)`)
	start := time.Now()
	res := execute(filepath.Join(dir, "hang.log"), []string{"sh", "-c", "echo '--- PASS: TestA (0.1s)'; echo FASTPATH-GUEST-EXIT=3; exec sleep 60"}, time.Minute, false, exit)
	if res.code != 3 || res.err != nil || !strings.Contains(res.note, "killed") || time.Since(start) > 20*time.Second {
		t.Errorf("hanging after the exit line: %+v after %s", res, time.Since(start))
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "hang.log")); !strings.Contains(string(log), "--- PASS: TestA") {
		t.Errorf("log = %q", log)
	}
	res = execute(filepath.Join(dir, "slow.log"), []string{"sleep", "60"}, 500*time.Millisecond, false, nil)
	if res.code != -1 || res.err == nil || !strings.Contains(res.err.Error(), "timeout") {
		t.Errorf("timed out: %+v", res)
	}
	res = execute(filepath.Join(dir, "exit.log"), []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, time.Minute, false, exit)
	if res.code != 4 || res.err != nil || string(res.out) != "out\nerr\n" {
		t.Errorf("exit 4: %+v", res)
	}
	res = execute(filepath.Join(dir, "none.log"), []string{"/nonexistent/cmd"}, time.Minute, false, nil)
	if res.code != -1 || res.err == nil {
		t.Errorf("missing command: %+v", res)
	}
}
