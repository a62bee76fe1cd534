// Command reliability runs fastpath's fuzz targets and its fault-injection,
// race and orphan suites, and writes docs/reliability.md from what they
// report: nothing in the report is written by hand. test/reliability/run.sh
// (make reliability) runs it from the repository root.
//
// A suite that cannot run (a build error, a guest that does not boot) is a
// FAIL row, as is a test that started and never finished; the command exits
// non-zero when any row failed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Sections of the report, in order.
const (
	secFuzz   = "Input classes fuzzed"
	secFault  = "Faults injected"
	secRace   = "Races tried"
	secOrphan = "Orphans"
	secOther  = "Other cases the runs matched"
)

var sections = []string{secFuzz, secFault, secRace, secOrphan, secOther}

var intro = map[string]string{
	secFuzz:   "Each target ran for the fuzz time under `go test -fuzz` (coverage-guided, all cores), from its seed corpus; PASS means no input broke the properties it asserts.",
	secFault:  "The fault-injection build of fastpath (`-tags faultinject`) dies at one step of ADD or DEL, as under SIGKILL; the next DEL must leave the host as before ADD.",
	secRace:   "Concurrent calls on the same or on different devices.",
	secOrphan: "Attachments whose pod went away without a DEL, and what reclaims them.",
	secOther:  "Cases the suites' -run patterns matched that no section claims by name.",
}

// classify puts a test into a section by its name.
func classify(name string) string {
	top, _, _ := strings.Cut(name, "/")
	switch {
	case top == "TestRacingAdds" || top == "TestOwnership":
		return secRace
	case strings.HasPrefix(top, "TestCrash"):
		return secFault
	case strings.HasPrefix(top, "TestRace"), strings.HasPrefix(top, "TestParallel"), strings.HasPrefix(top, "TestLockWait"):
		return secRace
	case strings.HasPrefix(top, "TestOrphan"), strings.HasPrefix(top, "TestReclaim"):
		return secOrphan
	}
	return secOther
}

// row is one line of a section's table.
type row struct {
	Case    string
	Proves  string
	Result  string
	Measure string
	Reason  string // why it failed
}

// suite is one command of the run and where its rows go.
type suite struct {
	Name    string   // short name, and the log file's
	Cmd     []string // from the repository root
	Display string   // the command as the report shows it
	Source  string   // the test package's directory, for doc comments
	JSON    bool     // -json output; else -v text
	Feeds   []string // sections it is expected to fill
	Timeout time.Duration
	Stream  bool // copy its output to stdout as it runs
	// Exit is a line the command prints when its work is done, with the
	// exit code: the guest's "FASTPATH-GUEST-EXIT=N". A command still
	// running a minute after it (a guest that does not power off) is
	// killed, and the code is taken from the line.
	Exit *regexp.Regexp
}

type report struct {
	rows     map[string][]row
	commands map[string][]string
	ran      []string // suites, with their times
}

func (r *report) add(sec string, rw row) {
	r.rows[sec] = append(r.rows[sec], rw)
}

func main() {
	fuzzTime := flag.String("fuzztime", "60s", "go test -fuzztime for each fuzz target")
	minimize := flag.String("fuzzminimizetime", "5s", "go test -fuzzminimizetime (a new input's minimization stops the target's clock otherwise)")
	out := flag.String("out", "docs/reliability.md", "the report to write")
	logs := flag.String("logs", "bin/reliability", "directory for the raw output of each command")
	only := flag.String("only", "", "comma-separated suites to run (fuzz, vhostuser, integration, e2e); all when empty")
	flag.Parse()
	if err := os.MkdirAll(*logs, 0o755); err != nil {
		fatal(err)
	}
	want := func(name string) bool {
		return *only == "" || strings.Contains(","+*only+",", ","+name+",")
	}

	start := time.Now()
	src := newSources()
	src.loadPoints("cmd")
	src.loadPoints("pkg")
	rep := &report{rows: map[string][]row{}, commands: map[string][]string{}}

	if want("fuzz") {
		runFuzz(rep, src, *logs, *fuzzTime, *minimize)
	}
	testPattern := "TestCrash|TestRace|TestOrphan|TestParallel|TestReclaim|TestLockWait"
	for _, s := range []suite{
		{
			Name: "vhostuser", Source: "test/vhostuser", JSON: true, Feeds: []string{secFault}, Timeout: 30 * time.Minute,
			Cmd: []string{"go", "test", "-count=1", "-json", "-run", "TestCrashEveryStep", "./test/vhostuser"},
		},
		{
			Name: "integration", Source: "test/integration", JSON: true, Feeds: []string{secRace}, Timeout: 20 * time.Minute,
			Cmd: []string{"go", "test", "-count=1", "-json", "-run", "^(TestRacingAdds|TestOwnership|" + testPattern + ")", "./test/integration"},
		},
		{
			Name: "e2e", Source: "test/e2e", Feeds: []string{secFault, secRace, secOrphan}, Timeout: 45 * time.Minute, Stream: true,
			Cmd:     []string{"test/e2e/run.sh", "-test.run", testPattern, "-test.v"},
			Exit:    regexp.MustCompile(`FASTPATH-GUEST-EXIT=(\d+)`),
			Display: "test/e2e/run.sh -test.run '" + testPattern + "' -test.v   (in the emulated SR-IOV guest)",
		},
	} {
		if want(s.Name) {
			runSuite(rep, src, *logs, s)
		}
	}
	total := time.Since(start)

	// A section no case filled proves nothing: that is a failure too.
	for _, sec := range sections[:4] {
		if len(rep.rows[sec]) == 0 {
			rep.add(sec, row{Case: "(no case ran)", Proves: "Nothing in this run covered this section.", Result: fail,
				Reason: "see the runs above and their logs in " + *logs})
		}
	}
	md := render(rep, *fuzzTime, *only, total)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fatal(err)
	}
	if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
		fatal(err)
	}
	passed, failed := 0, 0
	for _, sec := range sections {
		for _, rw := range rep.rows[sec] {
			switch rw.Result {
			case pass:
				passed++
			case fail:
				failed++
			}
		}
	}
	fmt.Printf("reliability: wrote %s in %s: %d passed, %d failed (logs in %s)\n", *out, total.Round(time.Second), passed, failed, *logs)
	if failed > 0 {
		os.Exit(1)
	}
}

// runFuzz runs every fuzz target of pkg/ in turn.
func runFuzz(rep *report, src *sources, logs, fuzzTime, minimize string) {
	targets := src.fuzzTargets("pkg")
	if len(targets) == 0 {
		rep.add(secFuzz, row{Case: "(fuzz targets)", Proves: "Fuzz targets exist under pkg/.", Result: fail, Reason: "no Fuzz function found in pkg/*/*_test.go"})
		return
	}
	for _, t := range targets {
		dir, name := t[0], t[1]
		pkg := "./" + filepath.ToSlash(dir)
		cmd := []string{"go", "test", "-run", "^$", "-fuzz", "^" + name + "$", "-fuzztime", fuzzTime, "-fuzzminimizetime", minimize, pkg}
		rep.commands[secFuzz] = appendOnce(rep.commands[secFuzz], fmt.Sprintf("go test -run '^$' -fuzz '^%s$' -fuzztime %s -fuzzminimizetime %s %s", name, fuzzTime, minimize, pkg))
		d, _ := time.ParseDuration(fuzzTime)
		res := execute(filepath.Join(logs, "fuzz-"+name+".log"), cmd, d+10*time.Minute, false, nil)
		fr := parseFuzz(res.out)
		rw := row{Case: name + " (" + pkg + ")", Proves: src.proves(dir, name), Result: pass}
		if fr.Found {
			rw.Measure = fmt.Sprintf("%s execs in %ds", thousands(fr.Execs), fr.Elapsed)
		} else {
			rw.Measure = "no exec count reported"
		}
		if res.code != 0 {
			rw.Result, rw.Reason = fail, fr.Reason
			if res.err != nil {
				rw.Reason = res.err.Error()
			}
		} else if !fr.Found {
			rw.Result, rw.Reason = fail, "go test did not fuzz (no exec count): "+lastLine(res.out)
		}
		fmt.Printf("reliability: %s %s: %s\n", name, rw.Result, rw.Measure)
		rep.add(secFuzz, rw)
	}
	rep.ran = append(rep.ran, fmt.Sprintf("fuzz: %d targets × %s", len(targets), fuzzTime))
}

// runSuite runs one test command and files its tests by section.
func runSuite(rep *report, src *sources, logs string, s suite) {
	display := s.Display
	if display == "" {
		display = shellJoin(s.Cmd)
	}
	for _, sec := range s.Feeds {
		rep.commands[sec] = appendOnce(rep.commands[sec], display)
	}
	fmt.Printf("reliability: running %s\n", display)
	res := execute(filepath.Join(logs, s.Name+".log"), s.Cmd, s.Timeout, s.Stream, s.Exit)
	var results []testResult
	if s.JSON {
		results = parseJSON(res.out)
	} else {
		results = parseVerbose(res.out)
	}
	failedRows := 0
	for _, t := range results {
		sec := classify(t.Name)
		if sec == secOther {
			rep.commands[sec] = appendOnce(rep.commands[sec], display)
		}
		rw := row{Case: t.Name, Proves: src.proves(s.Source, t.Name), Result: t.Result,
			Measure: fmt.Sprintf("%.2f s", t.Elapsed)}
		if t.Result == fail {
			rw.Reason = t.Reason
			failedRows++
		}
		rep.add(sec, rw)
	}
	// The run itself failing with no test to show for it, or running no
	// test at all, is a row of its own.
	var why string
	switch {
	case res.code != 0 && failedRows == 0:
		why = fmt.Sprintf("exit %d: %s", res.code, lastLine(res.out))
		if res.err != nil {
			why = res.err.Error()
		}
	case len(results) == 0:
		why = "no test matched or ran: " + lastLine(res.out)
	}
	if why != "" {
		rep.add(s.Feeds[0], row{Case: "(" + s.Name + " run)", Proves: "The suite built and ran to its end.", Result: fail,
			Measure: fmt.Sprintf("%.0f s", res.dur.Seconds()), Reason: why})
	}
	ran := fmt.Sprintf("%s: %d cases in %s", s.Name, len(results), res.dur.Round(time.Second))
	if res.note != "" {
		ran += ", " + res.note
	}
	rep.ran = append(rep.ran, ran)
	fmt.Printf("reliability: %s: %d cases, exit %d, %s\n", s.Name, len(results), res.code, res.dur.Round(time.Second))
}

type result struct {
	out  []byte
	code int
	err  error // the command did not run, or was killed at its timeout
	dur  time.Duration
	note string
}

// exitGrace is how long a command may run on after printing its exit line.
var exitGrace = time.Minute

// watcher is the output of a command, watched for its exit line.
type watcher struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	exit   *regexp.Regexp
	seen   chan struct{}
	closed bool
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.exit != nil && !w.closed && w.exit.Match(w.buf.Bytes()) {
		w.closed = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watcher) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// execute runs cmd with its output (stdout and stderr) into logPath, and
// kills its whole process group at timeout, or exitGrace after the exit
// line when exit is set.
func execute(logPath string, argv []string, timeout time.Duration, stream bool, exit *regexp.Regexp) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	f, err := os.Create(logPath)
	if err != nil {
		return result{code: -1, err: err}
	}
	defer f.Close()
	wa := &watcher{exit: exit, seen: make(chan struct{})}
	w := io.MultiWriter(f, wa)
	if stream {
		w = io.MultiWriter(f, wa, os.Stdout)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = w, w
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.WaitDelay = 30 * time.Second
	if err := c.Start(); err != nil {
		return result{code: -1, err: err}
	}
	var killed atomic.Value // why it was killed
	kill := func(why string) {
		if killed.CompareAndSwap(nil, why) {
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			kill(fmt.Sprintf("killed after the %s timeout", timeout))
		case <-wa.seen:
			select {
			case <-time.After(exitGrace):
				kill(fmt.Sprintf("still running %s after its exit line: killed", exitGrace))
			case <-ctx.Done():
				kill(fmt.Sprintf("killed after the %s timeout", timeout))
			case <-done:
			}
		case <-done:
		}
	}()
	err = c.Wait()
	close(done)
	res := result{out: wa.bytes(), dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case killed.Load() != nil && exit != nil && exit.Match(res.out):
		// Done, but it would not end: the exit line has the code.
		m := exit.FindAllSubmatch(res.out, -1)
		res.code, _ = strconv.Atoi(string(m[len(m)-1][1]))
		res.note = killed.Load().(string)
		fmt.Fprintf(f, "\nreliability: %s (exit %d from the exit line)\n", res.note, res.code)
	case killed.Load() != nil:
		res.code, res.err = -1, errors.New(killed.Load().(string))
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		res.code, res.err = -1, err
	}
	return res
}

// render writes the report.
func render(rep *report, fuzzTime, only string, total time.Duration) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Reliability\n\n")
	p("Generated by `make reliability` (`test/reliability/run.sh`) on %s; do not edit by hand: run it again.\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("Every row is a case that ran in that run, with the result and the time (or the fuzz executions) it reported.\n")
	p("\"What it proves\" is the first sentence of the case's doc comment (for a test without one, of the helper that does its work;\n")
	p("for a fault-injection step, the `crash.Point` of that step in `cmd/` or `pkg/`), read from the source with go/parser.\n\n")
	p("| machine | |\n| --- | --- |\n")
	p("| commit | `%s` |\n", command("git", "describe", "--always", "--dirty"))
	p("| CPUs (nproc) | %d |\n", runtime.NumCPU())
	p("| kernel | %s |\n", kernel())
	p("| go | %s |\n", command("go", "env", "GOVERSION"))
	p("| e2e guest | %s, guest kernel %s |\n", firstLine(command("qemu-system-x86_64", "--version")), readTrim("/var/cache/fastpath-vm/kernel-version"))
	p("| fuzz time per target | %s |\n", fuzzTime)
	p("| whole run | %s (%s) |\n", total.Round(time.Second), strings.Join(rep.ran, "; "))
	if only != "" {
		p("| suites run | only %s |\n", only)
	}
	p("\n## Summary\n\n")
	for _, sec := range sections {
		if rows := rep.rows[sec]; len(rows) > 0 {
			p("- %s: %s\n", sec, tally(rows))
		}
	}
	for _, sec := range sections {
		rows := rep.rows[sec]
		if len(rows) == 0 {
			continue
		}
		p("\n## %s\n\n%s\n\n", sec, intro[sec])
		for _, c := range rep.commands[sec] {
			p("    %s\n", c)
		}
		measure := "time"
		if sec == secFuzz {
			measure = "executions"
		}
		p("\n| case | what it proves | result | %s |\n| --- | --- | --- | --- |\n", measure)
		for _, rw := range rows {
			res := rw.Result
			if rw.Reason != "" {
				res += ": " + rw.Reason
			}
			p("| `%s` | %s | %s | %s |\n", cell(rw.Case), cell(rw.Proves), cell(res), cell(rw.Measure))
		}
		p("\n%s\n", tally(rows))
	}
	return b.String()
}

func tally(rows []row) string {
	n := map[string]int{}
	for _, rw := range rows {
		n[rw.Result]++
	}
	s := fmt.Sprintf("%d passed, %d failed", n[pass], n[fail])
	if n[skip] > 0 {
		s += fmt.Sprintf(", %d skipped", n[skip])
	}
	return s
}

// cell makes text safe in a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func kernel() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "unknown"
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func shellJoin(argv []string) string {
	var parts []string
	for _, a := range argv {
		if strings.ContainsAny(a, " |^$*()'\"") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "reliability:", err)
	os.Exit(2)
}
