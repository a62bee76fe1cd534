package bench

import (
	"bytes"
	"crypto/sha256"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spinHashing hashes until the process has used d of CPU time: on a loaded
// machine d of wall time gave the profiler a handful of samples, and under
// -race the detector's own functions then filled the flat top.
//
//go:noinline
func spinHashing(d time.Duration) (sum byte) {
	for start := cpuTime(); cpuTime()-start < d; {
		for range 1000 {
			h := sha256.Sum256([]byte("fastpath"))
			sum ^= h[0]
		}
	}
	return sum
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestPprofTop(t *testing.T) {
	var profiles [][]byte
	for range 2 {
		var buf bytes.Buffer
		if err := pprof.StartCPUProfile(&buf); err != nil {
			t.Skip("CPU profiling unavailable:", err)
		}
		spinHashing(300 * time.Millisecond)
		pprof.StopCPUProfile()
		profiles = append(profiles, buf.Bytes())
	}
	out, err := PprofTop(profiles, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "2 calls, ") {
		t.Errorf("header: %q", out)
	}
	cum, flat, ok := strings.Cut(out, "\nflat:\n")
	if !ok || !strings.Contains(cum, "bench.spinHashing") {
		t.Fatalf("the busy function is not among the cumulative top:\n%s", out)
	}
	// Most of the time is in SHA-256's own code, which spinHashing calls.
	if !strings.Contains(flat, "sha256") {
		t.Errorf("no SHA-256 function in the flat top:\n%s", out)
	}
	if _, err := PprofTop(nil, 10); err == nil {
		t.Error("no profiles: no error")
	}
	if _, err := PprofTop([][]byte{[]byte("not a profile")}, 10); err == nil {
		t.Error("garbage: no error")
	}
}

const testTrace = `100 1000.000000 execve("/opt/cni/bin/fastpath", ["fastpath"], 0x0 /* 3 vars */) = 0 <0.001000>
100 1000.010000 sendto(3, [{nlmsg_len=32, nlmsg_type=RTM_NEWLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK, nlmsg_seq=1, nlmsg_pid=0}, {ifi_family=AF_UNSPEC, ifi_type=ARPHRD_NETROM, ifi_index=7, ifi_flags=0, ifi_change=0}, [[{nla_len=8, nla_type=IFLA_NET_NS_FD}, 9], [{nla_len=9, nla_type=IFLA_IFNAME}, "net1"]]], 52, 0, NULL, 0) = 52 <0.060000>
101 1000.020000 execve("/opt/cni/bin/host-local", ["host-local"], 0x0 /* 3 vars */ <unfinished ...>
101 1000.021000 <... execve resumed>) = 0 <0.001000>
100 1000.080000 sendto(3, [{nlmsg_len=32, nlmsg_type=RTM_NEWLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_ACK, nlmsg_seq=2, nlmsg_pid=0}, {ifi_family=AF_UNSPEC, ifi_type=ARPHRD_NETROM, ifi_index=7, ifi_flags=IFF_UP, ifi_change=0x1}], 32, 0, NULL, 0) = 32 <0.020000>
100 1000.090000 sendto(7, [{nlmsg_len=32, nlmsg_type=0x12 /* NLMSG_??? */, nlmsg_flags=NLM_F_REQUEST, nlmsg_seq=3, nlmsg_pid=0}, "\x00\x00"...], 40, 0, NULL, 0) = 40 <0.001000>
100 1000.101000 +++ exited with 0 +++
`

func TestNetlinkTimeline(t *testing.T) {
	got := NetlinkTimeline(testTrace)
	for _, want := range []string{
		"    10.0       60.0  100    RTM_NEWLINK IFLA_NET_NS_FD IFLA_IFNAME\n",
		"    20.0             101    exec host-local\n",
		"    80.0       20.0  100    RTM_NEWLINK up\n",
		"    90.0        1.0  100    RTM_GETLINK (a socket in the pod's namespace: not decoded)\n",
		"3 netlink requests: 81.0 ms in the kernel, of 101.0 ms",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %q:\n%s", want, got)
		}
	}
}

// A target not met is held by the longest piece of its cell's timeline: a
// kernel request, or a gap in which no request was in the kernel (a
// request's time overlapping another program's counts once).
func TestHeldBy(t *testing.T) {
	p := Paths[0]
	for _, tc := range []struct{ trace, want string }{
		{testTrace, "RTM_NEWLINK IFLA_NET_NS_FD IFLA_IFNAME, 60.0 ms in the kernel (the longest piece of the traced call's 101 ms)"},
		{strings.Replace(testTrace, "100 1000.080000", "100 1000.200000", 1),
			"the programs' own work from RTM_GETLINK (a socket in the pod's namespace: not decoded) to RTM_NEWLINK up, 109 ms"},
		{strings.Join(strings.Split(strings.Replace(testTrace, "100 1000.010000", "100 1000.090000", 1), "\n")[:2], "\n"),
			"fastpath's start and its own work before its first kernel request (RTM_NEWLINK IFLA_NET_NS_FD IFLA_IFNAME): decoding, lock, record, 90.0 ms"},
	} {
		r := NewResults()
		r.Add(Record{Kind: KindText, Env: p.Env, Name: "timeline/" + p.Name + "/DEL", Text: NetlinkTimeline(tc.trace)})
		rep := &Report{R: r}
		if got := rep.heldBy(p, "DEL"); !strings.Contains(got, tc.want) {
			t.Errorf("heldBy = %q, want it to contain %q", got, tc.want)
		}
	}
	if got := (&Report{R: NewResults()}).heldBy(p, "ADD"); got != "" {
		t.Errorf("heldBy without a timeline or series = %q", got)
	}
}

// A cell without a timeline: its p50 over the floor is fastpath's process
// or libcni's work around it, whichever is larger.
func TestHeldByProcess(t *testing.T) {
	p := Paths[len(Paths)-1] // a vhost-user cell, on the host
	for _, tc := range []struct {
		exec float64
		want string
	}{
		{140, "fastpath's process, 140 ms, 80.0 ms over the floor's 60.0 ms"},
		{40, "libcni's own work around the plugin's exec, 110 ms of the call's 150 ms"},
	} {
		r := NewResults()
		for name, ms := range map[string]float64{
			p.Name + "/ADD": 150, p.Name + "/ADD/exec": tc.exec,
			"version/fastpath": 20, "version/host-local": 15, p.Floor + "/ADD": 25, // the floor: 60
		} {
			r.Add(Record{Kind: KindSeries, Env: p.Env, Name: name, MS: []float64{ms, ms, ms}})
		}
		if got := (&Report{R: r}).heldBy(p, "ADD"); !strings.Contains(got, tc.want) {
			t.Errorf("heldBy = %q, want it to contain %q", got, tc.want)
		}
	}
}
