package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// Options are what every measured series shares.
type Options struct {
	Cycles int           // measured cycles
	Warmup int           // cycles before, not counted
	Settle time.Duration // untimed pause after each ADD and each DEL
}

// VersionStdin is what a VERSION call reads.
var VersionStdin = []byte(`{"cniVersion":"1.1.0"}`)

// Start is a program whose start is timed: a plugin answering VERSION, or a
// baseline (Args given, any output).
type Start struct {
	Name string // series name
	Path string
	Args []string
}

// TimeStarts times n runs of each program, interleaved so that drift touches
// all alike, each exec'd as libcni execs a plugin (stdin from a buffer,
// stdout to one, CNI_COMMAND=VERSION in the environment). A plugin (no
// Args) must answer with its supported versions. The samples are returned by
// name.
func TimeStarts(o Options, progs ...Start) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	env := append(os.Environ(), "CNI_COMMAND=VERSION")
	for i := -o.Warmup; i < o.Cycles; i++ {
		for _, p := range progs {
			var stdout bytes.Buffer
			cmd := exec.Command(p.Path, p.Args...)
			cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, bytes.NewReader(VersionStdin), &stdout, io.Discard
			start := time.Now()
			err := cmd.Run()
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Path, err)
			}
			if p.Args == nil && !bytes.Contains(stdout.Bytes(), []byte("supportedVersions")) {
				return nil, fmt.Errorf("%s VERSION answered %q", p.Path, stdout.Bytes())
			}
			if i >= 0 {
				out[p.Name] = append(out[p.Name], d)
			}
		}
	}
	return out, nil
}

// Starts are the programs whose starts `make bench` times in binDir:
// fastpath and host-local (the floors), the minimal Go plugin, and the
// baseline, a program doing nothing (busybox true in the guest).
func Starts(binDir, baseline string) []Start {
	return []Start{
		{Name: "version/fastpath", Path: filepath.Join(binDir, "fastpath")},
		{Name: "version/host-local", Path: filepath.Join(binDir, "host-local")},
		{Name: "version/minimal", Path: filepath.Join(binDir, "minimal")},
		{Name: "version/true", Path: baseline, Args: []string{}},
	}
}

// Attachment is one ADD's input: the network and the runtime's side.
type Attachment struct {
	Conf *libcni.NetworkConfigList
	RT   func(pod ns.NetNS, id string) *libcni.RuntimeConf
}

// NewPod makes a pod network namespace (a runtime does that before ADD).
func NewPod() (ns.NetNS, error) {
	path, err := NewPodNS(fmt.Sprintf("fpbench-%d-%d", os.Getpid(), podSeq.Add(1)))
	if err != nil {
		return nil, err
	}
	return ns.GetNS(path)
}

var podSeq atomic.Uint64

// NewPodNS makes the named network namespace /var/run/netns/NAME. Unlike
// testutils.NewNS, whose thread ends in the new namespace and dies, the
// thread goes back to this process's namespace and to the Go runtime's
// pool: after a thread died, the runtime started another at the next exec,
// and the plugin exec'd right after a pod was made started 5-6 ms later in
// the guest (its VERSION, exec'd there, took 24.7 ms to reach main, against
// 16.5-19.3 ms elsewhere in the cycle).
func NewPodNS(name string) (string, error) {
	type made struct {
		path string
		err  error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		host, err := netns.Get()
		if err != nil {
			ch <- made{err: err}
			runtime.UnlockOSThread()
			return
		}
		defer host.Close()
		pod, err := netns.NewNamed(name)
		if err == nil {
			pod.Close()
		}
		ch <- made{filepath.Join("/var/run/netns", name), err}
		if netns.Set(host) == nil {
			runtime.UnlockOSThread() // else the thread dies in the pod's namespace
		}
	}()
	m := <-ch
	if m.err != nil {
		return "", fmt.Errorf("creating pod namespace %s: %w", name, m.err)
	}
	return m.path, nil
}

// ClosePod removes a pod namespace made by NewPod.
func ClosePod(p ns.NetNS) {
	p.Close()
	testutils.UnmountNS(p)
}

// Cycles runs warm-up and measured cycles of ADD then DEL through libcni,
// each on a fresh pod namespace and container ID, and returns the measured
// durations of each.
func Cycles(n *cnitest.Net, a Attachment, o Options, idPrefix string) (add, del []time.Duration, err error) {
	for i := -o.Warmup; i < o.Cycles; i++ {
		p, err := NewPod()
		if err != nil {
			return nil, nil, err
		}
		r := a.RT(p, fmt.Sprintf("%s-%d", idPrefix, i+o.Warmup))
		start := time.Now()
		_, err = n.Add(a.Conf, r)
		dAdd := time.Since(start)
		if err != nil {
			ClosePod(p)
			return nil, nil, fmt.Errorf("ADD cycle %d: %w", i, err)
		}
		time.Sleep(o.Settle)
		start = time.Now()
		err = n.Del(a.Conf, r)
		dDel := time.Since(start)
		ClosePod(p)
		if err != nil {
			return nil, nil, fmt.Errorf("DEL cycle %d: %w", i, err)
		}
		time.Sleep(o.Settle)
		if i >= 0 {
			add = append(add, dAdd)
			del = append(del, dDel)
		}
	}
	return add, del, nil
}

// Parallel is one round of len(as) ADDs started at once, then as many DELs.
type Parallel struct {
	AddTotal, DelTotal time.Duration   // wall time from the first start to the last end
	Add, Del           []time.Duration // each pod's own call
}

// RunParallel runs rounds of parallel ADDs, then DELs, of every attachment.
func RunParallel(n *cnitest.Net, as []Attachment, o Options, rounds int) ([]Parallel, error) {
	var out []Parallel
	for round := -min(o.Warmup, 1); round < rounds; round++ {
		res, err := parallelRound(n, as, o, round)
		if err != nil {
			return nil, err
		}
		if round >= 0 {
			out = append(out, res)
		}
	}
	return out, nil
}

func parallelRound(n *cnitest.Net, as []Attachment, o Options, round int) (res Parallel, err error) {
	rts := make([]*libcni.RuntimeConf, len(as))
	for i := range as {
		p, err := NewPod()
		if err != nil {
			return res, err
		}
		defer ClosePod(p)
		rts[i] = as[i].RT(p, fmt.Sprintf("par%d-%d", round+1, i))
	}
	res.AddTotal, res.Add, err = parallel(len(as), func(i int) error {
		_, err := n.Add(as[i].Conf, rts[i])
		return err
	})
	if err != nil {
		return res, fmt.Errorf("parallel ADD: %w", err)
	}
	time.Sleep(o.Settle)
	res.DelTotal, res.Del, err = parallel(len(as), func(i int) error { return n.Del(as[i].Conf, rts[i]) })
	if err != nil {
		return res, fmt.Errorf("parallel DEL: %w", err)
	}
	time.Sleep(o.Settle)
	return res, nil
}

func parallel(n int, f func(i int) error) (time.Duration, []time.Duration, error) {
	durs := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			s := time.Now()
			errs[i] = f(i)
			durs[i] = time.Since(s)
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	total := time.Since(start)
	for i, err := range errs {
		if err != nil {
			return 0, nil, fmt.Errorf("pod %d: %w", i, err)
		}
	}
	return total, durs, nil
}

// Acc gathers series sample by sample, and the other records as they come.
type Acc struct {
	names []string
	ms    map[string][]float64
	other []Record
	info  map[string]int // index in other of the latest info record of a name
}

// NewAcc makes an empty Acc.
func NewAcc() *Acc { return &Acc{ms: map[string][]float64{}, info: map[string]int{}} }

// Add appends samples to the series name.
func (a *Acc) Add(name string, d ...time.Duration) { a.addMS(name, Millis(d)...) }

func (a *Acc) addMS(name string, ms ...float64) {
	if _, ok := a.ms[name]; !ok {
		a.names = append(a.names, name)
	}
	a.ms[name] = append(a.ms[name], ms...)
}

// AddRecord appends a series record's samples to its series; an info record
// replaces the one of the same name, warnings and texts are kept.
func (a *Acc) AddRecord(r Record) {
	switch r.Kind {
	case KindSeries:
		a.addMS(r.Name, r.MS...)
	case KindInfo:
		if i, ok := a.info[r.Name]; ok { // merged: the floor's ADD and DEL each say their part
			for k, v := range r.Info {
				a.other[i].Info[k] = v
			}
			return
		}
		a.info[r.Name] = len(a.other)
		a.other = append(a.other, r)
	default:
		a.other = append(a.other, r)
	}
}

// Emit writes everything gathered.
func (a *Acc) Emit(e *Emitter) {
	for _, n := range a.names {
		e.Emit(Record{Kind: KindSeries, Name: n, MS: a.ms[n]})
	}
	for _, r := range a.other {
		e.Emit(r)
	}
}

// RunFloor runs the bare program and returns the records it prints.
func RunFloor(path string, args ...string) ([]Record, error) {
	cmd := exec.Command(path, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", filepath.Base(path), strings.Join(args, " "), err)
	}
	recs, errs := Scan(bytes.NewReader(out), nil)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), errors.Join(errs...))
	}
	return recs, nil
}

// Interleaved measures a path cycle by cycle against its floor, so that a
// change of the machine's load touches both alike: each cycle times one
// start of every program of starts, the bare program's ADD and DEL (floorCmd
// with -phase add, then -phase del: a fresh process for each, as each plugin
// call is), then one ADD and one DEL through libcni. The starts go to the
// pooled series ("version/fastpath") and to the path's own
// (name+"/start/fastpath"), which its floor uses. A peer, when not nil (a
// reference plugin on the same device), runs one ADD and one DEL last in
// each cycle: name+"/peer/ADD" and "/DEL".
func Interleaved(o Options, name string, starts []Start, floorCmd []string, n *cnitest.Net, a Attachment, peer *Attachment, acc *Acc) error {
	state := filepath.Join(n.Dir, "floor-state.json")
	floorAdd := append(slices.Clone(floorCmd[1:]), "-phase", "add", "-state", state)
	floorDel := append(slices.Clone(floorCmd[1:]), "-phase", "del", "-state", state)
	et := TimeExec(n)
	for i := -o.Warmup; i < o.Cycles; i++ {
		st, err := TimeStarts(Options{Cycles: 1}, starts...)
		if err != nil {
			return err
		}
		recs, err := RunFloor(floorCmd[0], floorAdd...)
		if err != nil {
			return err
		}
		time.Sleep(o.Settle)
		delRecs, err := RunFloor(floorCmd[0], floorDel...)
		if err != nil {
			return err
		}
		recs = append(recs, delRecs...)
		time.Sleep(o.Settle)
		add, del, err := Cycles(n, a, Options{Cycles: 1, Settle: o.Settle}, fmt.Sprintf("%s-%d", name, i+o.Warmup))
		if err != nil {
			return err
		}
		addExec, delExec := et.Last("ADD"), et.Last("DEL")
		var peerAdd, peerDel []time.Duration
		if peer != nil {
			if peerAdd, peerDel, err = Cycles(n, *peer, Options{Cycles: 1, Settle: o.Settle}, fmt.Sprintf("%s-peer-%d", name, i+o.Warmup)); err != nil {
				return fmt.Errorf("peer: %w", err)
			}
		}
		if i < 0 {
			continue
		}
		if peer != nil {
			acc.Add(name+"/peer/ADD", peerAdd...)
			acc.Add(name+"/peer/DEL", peerDel...)
		}
		for _, s := range starts {
			acc.Add(s.Name, st[s.Name]...)
			acc.Add(name+"/start/"+strings.TrimPrefix(s.Name, "version/"), st[s.Name]...)
		}
		for _, r := range recs {
			acc.AddRecord(r)
		}
		acc.Add(name+"/ADD", add...)
		acc.Add(name+"/DEL", del...)
		acc.Add(name+"/ADD/exec", addExec)
		acc.Add(name+"/DEL/exec", delExec)
	}
	return nil
}

// ExecTimer is the exec libcni runs plugins with, timing each run of a
// plugin process by its CNI_COMMAND: the plugin's part of a call through
// libcni, without libcni's own work around it (the config it builds, the
// result it reads, its cache).
type ExecTimer struct {
	invoke.DefaultExec
	env  string // the network's node file, as cnitest's own exec passes it
	mu   sync.Mutex
	last map[string]time.Duration
}

// TimeExec makes n's libcni client run its plugins through an ExecTimer.
func TimeExec(n *cnitest.Net) *ExecTimer {
	et := &ExecTimer{DefaultExec: invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}}, env: n.Env(), last: map[string]time.Duration{}}
	n.CNI = libcni.NewCNIConfigWithCacheDir(n.CNI.Path, filepath.Join(n.Dir, "cache"), et)
	return et
}

func (e *ExecTimer) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	environ = append(environ, e.env)
	start := time.Now()
	out, err := e.DefaultExec.ExecPlugin(ctx, path, stdin, environ)
	d := time.Since(start)
	for _, kv := range slices.Backward(environ) { // the last one is the one the plugin sees
		if cmd, ok := strings.CutPrefix(kv, "CNI_COMMAND="); ok {
			e.mu.Lock()
			e.last[cmd] = d
			e.mu.Unlock()
			break
		}
	}
	return out, err
}

// Last is the duration of the latest plugin run of cmd.
func (e *ExecTimer) Last(cmd string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last[cmd]
}
