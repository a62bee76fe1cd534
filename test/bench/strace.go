package bench

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A syscall of a `strace -f -ttt -T` trace.
type sysCall struct {
	tid        int
	start, dur float64 // seconds
	name, line string
}

var (
	straceLine = regexp.MustCompile(`^(\d+)\s+(\d+\.\d+)\s+(.*)$`)
	straceDur  = regexp.MustCompile(`<(\d+\.\d+)>$`)
	straceName = regexp.MustCompile(`^([a-z_0-9]+)\(`)
	straceRes  = regexp.MustCompile(`^<\.\.\. ([a-z_0-9]+) resumed>`)
	straceRet  = regexp.MustCompile(`\) = (\d+)`)
	straceExec = regexp.MustCompile(`^execve\("([^"]*)"`)
	straceErr  = regexp.MustCompile(`= -1 (E[A-Z]+)`)
)

// AnalyseStrace summarises a `strace -f -ttt -T` trace of a CNI call: each
// program's span (fastpath, the IPAM plugin it runs), the top slowest
// syscalls, and the longest stretches in which no thread of a program was in
// a syscall but the idle waits (its own CPU time, waiting for the CPU, or
// waiting in epoll for a child).
func AnalyseStrace(trace string, top int) string {
	var calls []sysCall
	pending := map[int]sysCall{} // unfinished calls by tid
	parent := map[int]int{}
	execAt := map[int]string{}
	failedExec := map[int][]string{}
	first, last := map[int]float64{}, map[int]float64{}
	var order []int
	type child struct {
		pid, parent int
		at          float64
		pidfdProbe  bool
	}
	var children []child
	for _, l := range straceLines(trace) {
		tid, ts, rest := l.tid, l.ts, l.rest
		if _, ok := first[tid]; !ok {
			first[tid] = ts
			order = append(order, tid)
		}
		last[tid] = ts
		var c sysCall
		switch {
		case strings.HasSuffix(rest, "<unfinished ...>"):
			if n := straceName.FindStringSubmatch(rest); n != nil {
				pending[tid] = sysCall{tid: tid, start: ts, name: n[1], line: strings.TrimSuffix(rest, " <unfinished ...>")}
			}
			continue
		case straceRes.MatchString(rest):
			p, ok := pending[tid]
			if !ok {
				continue
			}
			delete(pending, tid)
			c = p
			c.line += " ..." + straceRes.ReplaceAllString(rest, "")
		default:
			n := straceName.FindStringSubmatch(rest)
			if n == nil {
				continue // signals, exits
			}
			c = sysCall{tid: tid, start: ts, name: n[1], line: rest}
		}
		if d := straceDur.FindStringSubmatch(rest); d != nil {
			c.dur, _ = strconv.ParseFloat(d[1], 64)
			last[tid] = max(last[tid], c.start+c.dur)
		}
		switch c.name {
		case "clone", "clone3", "fork", "vfork":
			if r := straceRet.FindStringSubmatch(rest); r != nil {
				pid, _ := strconv.Atoi(r[1])
				parent[pid] = tid
				if !strings.Contains(c.line, "CLONE_THREAD") {
					children = append(children, child{pid, tid, c.start, strings.Contains(c.line, "CLONE_PIDFD")})
				}
			}
		case "execve":
			if e := straceExec.FindStringSubmatch(c.line); e != nil {
				if strings.Contains(rest, ") = 0") {
					execAt[tid] = filepath.Base(e[1])
				} else if r := straceErr.FindStringSubmatch(rest); r != nil {
					failedExec[tid] = append(failedExec[tid], e[1]+" "+r[1])
				}
			}
		}
		calls = append(calls, c)
	}
	var prog func(tid, depth int) string
	prog = func(tid, depth int) string {
		if p, ok := execAt[tid]; ok {
			return p
		}
		if pt, ok := parent[tid]; ok && depth < 64 {
			return prog(pt, depth+1)
		}
		return "?"
	}

	var b strings.Builder
	// Each program's span and time in syscalls.
	type progStat struct {
		name       string
		start, end float64
		calls      int
		inCalls    float64
		threads    int
	}
	stats := map[string]*progStat{}
	var progs []string
	for _, tid := range order {
		p := prog(tid, 0)
		s, ok := stats[p]
		if !ok {
			s = &progStat{name: p, start: first[tid], end: last[tid]}
			stats[p] = s
			progs = append(progs, p)
		}
		s.start, s.end = min(s.start, first[tid]), max(s.end, last[tid])
		s.threads++
	}
	for _, c := range calls {
		s := stats[prog(c.tid, 0)]
		s.calls++
		s.inCalls += c.dur
	}
	if len(progs) == 0 {
		return "(empty trace)\n"
	}
	t0 := stats[progs[0]].start
	fmt.Fprintf(&b, "programs (times from the first exec):\n")
	for _, p := range progs {
		s := stats[p]
		fmt.Fprintf(&b, "  %-12s start %7.1f ms  span %7.1f ms  %2d tasks  %5d syscalls  %7.1f ms in syscalls (all threads)\n",
			p, (s.start-t0)*1000, (s.end-s.start)*1000, s.threads, s.calls, s.inCalls*1000)
	}

	if len(children) > 0 {
		slices.SortFunc(children, func(a, b child) int { return cmpFloat(a.at, b.at) })
		fmt.Fprintf(&b, "processes started:\n")
		for _, ch := range children {
			p, ok := execAt[ch.pid]
			switch {
			case ok:
			case ch.pidfdProbe && len(failedExec[ch.pid]) == 0:
				p = "(no exec: Go's os package tries clone(CLONE_PIDFD) once, before its first exec)"
			default:
				p = "(no exec)"
			}
			if f := failedExec[ch.pid]; len(f) > 0 {
				p += ", failed exec of " + strings.Join(f, ", ")
			}
			fmt.Fprintf(&b, "  at %7.1f ms  %-10s started pid %d: %s\n", (ch.at-t0)*1000, prog(ch.parent, 0), ch.pid, p)
		}
	}

	// The slowest calls, but the idle threads' waits.
	var sorted []sysCall
	for _, c := range calls {
		if !idleCall[c.name] {
			sorted = append(sorted, c)
		}
	}
	slices.SortFunc(sorted, func(a, b sysCall) int { return cmpFloat(b.dur, a.dur) })
	fmt.Fprintf(&b, "slowest syscalls (futex, nanosleep, epoll waits left out):\n")
	for _, c := range sorted[:min(top, len(sorted))] {
		fmt.Fprintf(&b, "  %7.2f ms  at %7.1f ms  %-10s %s\n", c.dur*1000, (c.start-t0)*1000, prog(c.tid, 0), trunc(c.line, 110))
	}

	// Stretches in which no thread of a program was in a syscall.
	type gap struct {
		prog          string
		start, d      float64
		before, after string
	}
	var gaps []gap
	for _, p := range progs {
		var pc []sysCall
		for _, c := range calls {
			if prog(c.tid, 0) == p && !idleCall[c.name] {
				pc = append(pc, c)
			}
		}
		slices.SortFunc(pc, func(a, b sysCall) int { return cmpFloat(a.start, b.start) })
		busyUntil, lastName := 0.0, ""
		for i, c := range pc {
			if i > 0 && c.start-busyUntil > 0 {
				gaps = append(gaps, gap{p, busyUntil, c.start - busyUntil, lastName, c.name})
			}
			if e := c.start + c.dur; e >= busyUntil {
				busyUntil, lastName = e, c.name
			}
		}
	}
	slices.SortFunc(gaps, func(a, b gap) int { return cmpFloat(b.d, a.d) })
	fmt.Fprintf(&b, "longest stretches with no thread in a syscall but futex/nanosleep/epoll waits\n(its own CPU time, waiting for the CPU, or idle waiting for a child's output):\n")
	for _, g := range gaps[:min(top/2, len(gaps))] {
		fmt.Fprintf(&b, "  %7.2f ms  at %7.1f ms  %-10s between %s and %s\n", g.d*1000, (g.start-t0)*1000, g.prog, g.before, g.after)
	}
	return b.String()
}

// idleCall are the syscalls in which Go's idle threads wait.
var idleCall = map[string]bool{"futex": true, "nanosleep": true, "epoll_pwait": true, "epoll_wait": true, "sched_yield": true}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// TrimStraceSummary keeps the header, the first n rows and the total of a
// `strace -c` table.
func TrimStraceSummary(table string, n int) string {
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	var out []string
	rows, dropped := 0, 0
	sep := 0
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "------"):
			sep++
			out = append(out, l)
		case sep == 1 && !strings.HasPrefix(l, "%"):
			if rows < n {
				out = append(out, l)
			} else {
				dropped++
			}
			rows++
		default:
			out = append(out, l)
		}
	}
	if dropped > 0 {
		for i, l := range out {
			if strings.HasPrefix(l, "------") && i > 2 {
				out = append(out[:i], append([]string{fmt.Sprintf("  ... %d more syscalls", dropped)}, out[i:]...)...)
				break
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

var (
	nlType = regexp.MustCompile(`nlmsg_type=([A-Z][A-Z_0-9]*|0x[0-9a-f]+)`)
	// rtnetlink's message types, for the requests strace cannot decode: it
	// learns a socket's protocol through sock_diag in its own namespace, so
	// a socket opened in the pod's namespace shows numbers and bytes.
	rtmNames = map[string]string{"0x10": "RTM_NEWLINK", "0x11": "RTM_DELLINK", "0x12": "RTM_GETLINK", "0x13": "RTM_SETLINK",
		"0x14": "RTM_NEWADDR", "0x16": "RTM_GETADDR", "0x18": "RTM_NEWROUTE", "0x1a": "RTM_GETROUTE"}
	nlAttr  = regexp.MustCompile(`nla_type=([A-Z_0-9]+)`)
	nlFlags = regexp.MustCompile(`ifi_flags=([A-Z_|0-9x]+), ifi_change=(0x[0-9a-f]+|[0-9]+)`)
)

// NetlinkTimeline is the kernel requests of one CNI call, from a `strace -f
// -ttt -T -e trace=sendto,sendmsg,execve` trace: for each netlink request
// (each one is carried out inside its send, where the driver does its
// work), when it started after the call's first exec, how long the kernel
// took, which process sent it, and what it asked (message type, IFF_UP
// changes, attributes). The rest of the call's span is the programs' own
// work and their starts. The last line adds it up.
func NetlinkTimeline(trace string) string {
	type entry struct {
		at, dur float64
		tid     int
		what    string
		exec    bool
	}
	var entries []entry
	var t0, end, inKernel float64
	pending := map[int]sysCall{}
	n := 0
	for _, l := range straceLines(trace) {
		tid, ts, rest := l.tid, l.ts, l.rest
		if t0 == 0 {
			t0 = ts
		}
		end = max(end, ts)
		var c sysCall
		switch {
		case strings.HasSuffix(rest, "<unfinished ...>"):
			pending[tid] = sysCall{tid: tid, start: ts, line: rest}
			continue
		case straceRes.MatchString(rest):
			p, ok := pending[tid]
			if !ok {
				continue
			}
			delete(pending, tid)
			c, c.line = p, p.line+" "+rest
		default:
			c = sysCall{tid: tid, start: ts, line: rest}
		}
		d := 0.0
		if dm := straceDur.FindStringSubmatch(c.line); dm != nil {
			d, _ = strconv.ParseFloat(dm[1], 64)
		}
		end = max(end, c.start+d)
		if e := straceExec.FindStringSubmatch(c.line); e != nil && !strings.Contains(c.line, "= -1") {
			entries = append(entries, entry{at: c.start, tid: c.tid, what: "exec " + filepath.Base(e[1]), exec: true})
			continue
		}
		tm := nlType.FindStringSubmatch(c.line)
		if tm == nil {
			continue
		}
		what := []string{tm[1]}
		if name, ok := rtmNames[tm[1]]; ok {
			what = []string{name, "(a socket in the pod's namespace: not decoded)"}
		}
		if f := nlFlags.FindStringSubmatch(c.line); f != nil && f[2] != "0" {
			if strings.Contains(f[1], "IFF_UP") {
				what = append(what, "up")
			} else {
				what = append(what, "down")
			}
		}
		seen := map[string]bool{"IFLA_EXT_MASK": true}
		for _, a := range nlAttr.FindAllStringSubmatch(c.line, -1) {
			if !seen[a[1]] {
				seen[a[1]] = true
				what = append(what, a[1])
			}
		}
		n++
		inKernel += d
		entries = append(entries, entry{at: c.start, dur: d, tid: c.tid, what: strings.Join(what, " ")})
	}
	if n == 0 {
		return "(no decoded netlink request in the trace)\n"
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmpFloat(a.at, b.at) })
	var b strings.Builder
	fmt.Fprintf(&b, "%8s  %9s  %-6s %s\n", "at ms", "kernel ms", "pid", "request")
	for _, e := range entries {
		d := ""
		if !e.exec {
			d = strconv.FormatFloat(e.dur*1000, 'f', 1, 64)
		}
		fmt.Fprintf(&b, "%8.1f  %9s  %-6d %s\n", (e.at-t0)*1000, d, e.tid, e.what)
	}
	fmt.Fprintf(&b, "%d netlink requests: %.1f ms in the kernel, of %.1f ms from the first exec to the last call's end\n", n, inKernel*1000, (end-t0)*1000)
	return b.String()
}

// straceEntry is one line of an `strace -f -tt`-style trace: its thread,
// its time and the rest.
type straceEntry struct {
	tid  int
	ts   float64
	rest string
}

// straceLines are the lines of trace that straceLine matches.
func straceLines(trace string) []straceEntry {
	var out []straceEntry
	for _, raw := range strings.Split(trace, "\n") {
		m := straceLine.FindStringSubmatch(raw)
		if m == nil {
			continue
		}
		tid, _ := strconv.Atoi(m[1])
		ts, _ := strconv.ParseFloat(m[2], 64)
		out = append(out, straceEntry{tid, ts, m[3]})
	}
	return out
}
