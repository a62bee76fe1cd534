package ovsenv

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Counters are a testpmd port's counters.
type Counters struct {
	// From testpmd's periodic "NIC statistics for port 0" (the ethdev counters).
	RXPackets, RXBytes, RXMissed, RXErrors, RXNoMbuf uint64
	TXPackets, TXBytes, TXErrors                     uint64
	// Rates since the previous report.
	RXPPS, TXPPS uint64
	// Only in Stop's result, from "Forward statistics for port 0": packets the forwarding
	// engine could not hand to the port (TXDropped: the vhost ring was full).
	RXDropped, TXDropped uint64
	// Reports is how many periodic reports were parsed.
	Reports int
}

type testpmdConfig struct {
	mode     string // rxonly, txonly, io, macswap, ...
	peer     string
	mac      string
	lcores   string
	noHuge   bool
	mbufs    int
	txPktLen string
	extraEAL []string
	extraApp []string
	// interactive: -i; forwarding starts on Command("start").
	interactive bool
}

// TestpmdOption changes how StartTestpmd runs dpdk-testpmd.
type TestpmdOption func(*testpmdConfig)

// TxOnly makes testpmd send 64-byte IPv4/UDP frames without a VLAN tag, as fast as it can,
// to destination MAC dstMAC (--forward-mode=txonly --eth-peer=0,dstMAC).
func TxOnly(dstMAC string) TestpmdOption {
	return func(c *testpmdConfig) { c.mode, c.peer = "txonly", dstMAC }
}

// RxOnly makes testpmd count and drop what it receives (the default).
func RxOnly() TestpmdOption { return func(c *testpmdConfig) { c.mode = "rxonly" } }

// ForwardMode sets any testpmd --forward-mode (io, macswap, ...).
func ForwardMode(mode string) TestpmdOption { return func(c *testpmdConfig) { c.mode = mode } }

// TxPacketLen sets txonly's frame length(s) (--txpkts, e.g. "1500"); default 64.
func TxPacketLen(spec string) TestpmdOption { return func(c *testpmdConfig) { c.txPktLen = spec } }

// MAC sets the virtio-user port's own MAC (txonly's source MAC); default random.
func MAC(mac string) TestpmdOption { return func(c *testpmdConfig) { c.mac = mac } }

// Lcores sets EAL --lcores; default "0@0,1@0" (main and forwarding lcore both on CPU 0,
// leaving CPU 1 to OVS's PMD thread).
func Lcores(spec string) TestpmdOption { return func(c *testpmdConfig) { c.lcores = spec } }

// NoHuge runs testpmd on ordinary memory (--no-huge -m 256) instead of hugepages.
func NoHuge() TestpmdOption { return func(c *testpmdConfig) { c.noHuge = true } }

// Mbufs sets --total-num-mbufs (default 8192: about 20 hugepages per testpmd; testpmd's own
// default, 155456, takes 185).
func Mbufs(n int) TestpmdOption { return func(c *testpmdConfig) { c.mbufs = n } }

// Interactive runs testpmd at its prompt (-i) instead of with periodic statistics: nothing
// is forwarded until Command("start"), and Command drives it (e.g. "set eth-peer 0 MAC",
// "mac_addr set 0 MAC", "show port info 0"). WaitFor and its kin poll "show port stats 0".
func Interactive() TestpmdOption { return func(c *testpmdConfig) { c.interactive = true } }

// ExtraArgs adds EAL arguments (before "--") and testpmd arguments (after it).
func ExtraArgs(eal, app []string) TestpmdOption {
	return func(c *testpmdConfig) {
		c.extraEAL = append(c.extraEAL, eal...)
		c.extraApp = append(c.extraApp, app...)
	}
}

// Testpmd is a running dpdk-testpmd on one port (port 0): the "pod's app" on a vhost-user
// socket (a virtio-user port) or on a VF (a PCI device).
type Testpmd struct {
	// Prefix is its DPDK --file-prefix.
	Prefix string
	// Args is its command line.
	Args []string

	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser // interactive only
	done  chan struct{}
	err   error

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every parsed report
	last     Counters
	final    *Counters       // the latest forward statistics printed
	out      strings.Builder // the first outHead bytes of output
	outLines int             // lines in out
	lines    int             // lines read
	tail     []string        // the last tailLines lines
	stopOnce sync.Once
	stopped  Counters
	stopErr  error
	cmdMu    sync.Mutex // one Command at a time
	// Interactive: prompts seen, the output since the last prompt, and the output between
	// the last two prompts (the reply to the last command).
	prompts     int
	sincePrompt strings.Builder
	reply       string
}

const (
	outHead   = 16 << 10
	tailLines = 60
)

// StartTestpmd runs dpdk-testpmd with one virtio-user port on the vhost-user socket
// socketPath. server=true: testpmd creates the socket and waits for OVS to connect (a port
// of type dpdkvhostuserclient with options:vhost-server-path=socketPath); server=false:
// testpmd connects to a socket OVS made (a port of type dpdkvhostuser).
//
// It does not wait for the link (in server mode testpmd blocks until OVS connects): use
// WaitReady, WaitRX, WaitTX. Forwarding starts by itself; counters are read from the
// periodic statistics (every 2 s). Cleanup stops it; Stop returns the final counters.
func StartTestpmd(t testing.TB, socketPath string, server bool, opts ...TestpmdOption) *Testpmd {
	t.Helper()
	if err := CheckPackages(); err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	c := newTestpmdConfig(opts)
	vdev := "net_virtio_user0,path=" + socketPath + ",queues=1"
	if server {
		vdev += ",server=1"
	}
	if c.mac != "" {
		vdev += ",mac=" + c.mac
	}
	dev := []string{"--no-pci", "--vdev=" + vdev}
	if !c.noHuge {
		// --single-file-segments: virtio-user shares its memory with the vhost backend by
		// fd, one per segment list; without it the vhost link never comes up.
		dev = append(dev, "--single-file-segments")
	}
	return startTestpmd(t, c, socketPath, dev)
}

// StartTestpmdPCI runs dpdk-testpmd on the PCI device pci as its port 0: a VF bound to
// vfio-pci, as a pod's DPDK app uses the VF its CNI plugin prepared. pmds are PMD files for
// EAL to load (-d), for a testpmd whose PMDs are not in EAL's built-in directory (the
// SR-IOV guest's). Needs only dpdk-testpmd and hugepages, no OVS. Otherwise as
// StartTestpmd; with Interactive, Command drives it.
func StartTestpmdPCI(t testing.TB, pci string, pmds []string, opts ...TestpmdOption) *Testpmd {
	t.Helper()
	dev := []string{"-a", pci}
	for _, f := range pmds {
		dev = append(dev, "-d", f)
	}
	return startTestpmd(t, newTestpmdConfig(opts), pci, dev)
}

func newTestpmdConfig(opts []TestpmdOption) *testpmdConfig {
	c := &testpmdConfig{mode: "rxonly", lcores: "0@0,1@0", mbufs: 8192}
	for _, o := range opts {
		o(c)
	}
	return c
}

// startTestpmd runs dpdk-testpmd on the port that the EAL arguments dev make (port 0);
// port names it in logs.
func startTestpmd(t testing.TB, c *testpmdConfig, port string, dev []string) *Testpmd {
	t.Helper()
	if !c.noHuge {
		// Its own ~20 pages plus room for OVS to grow to its socket limit.
		if err := EnsureHugepages(64); err != nil {
			t.Fatalf("ovsenv: testpmd: %v", err)
		}
	}
	bin, err := lookPath("dpdk-testpmd")
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	p := &Testpmd{Prefix: "testpmd-" + randHex(4), t: t, done: make(chan struct{}), changed: make(chan struct{})}

	args := append([]string{"--lcores", c.lcores, "--file-prefix=" + p.Prefix}, dev...)
	if c.noHuge {
		args = append(args, "--no-huge", "-m", "256")
	} else {
		// --in-memory: no hugepage files, no shared config.
		args = append(args, "--in-memory")
	}
	args = append(args, c.extraEAL...)
	args = append(args, "--")
	if c.interactive {
		args = append(args, "-i")
	} else {
		args = append(args, "--stats-period=1")
	}
	args = append(args,
		"--forward-mode="+c.mode,
		"--nb-cores=1",
		"--rxq=1", "--txq=1",
		"--total-num-mbufs="+strconv.Itoa(c.mbufs))
	if c.peer != "" {
		args = append(args, "--eth-peer=0,"+c.peer)
	}
	if c.txPktLen != "" {
		args = append(args, "--txpkts="+c.txPktLen)
	}
	args = append(args, c.extraApp...)
	p.Args = append([]string{bin}, args...)

	// testpmd writes to a pipe through stdio, block-buffered: without stdbuf its reports arrive
	// in bursts, several seconds late (and a command's reply after its prompt).
	cmd := exec.Command(bin, args...)
	if sb, err := lookPath("stdbuf"); err == nil {
		cmd = exec.Command(sb, append([]string{"-oL", "-eL", bin}, args...)...)
	}
	if c.interactive {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatalf("ovsenv: %v", err)
		}
	} // else /dev/null: with --stats-period testpmd does not read it
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("ovsenv: %v", err)
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startChild(cmd); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("ovsenv: start dpdk-testpmd: %v", err)
	}
	pw.Close()
	p.cmd = cmd
	readDone := make(chan struct{})
	go func() {
		p.parse(pr)
		pr.Close()
		close(readDone)
	}()
	go func() {
		err := cmd.Wait()
		<-readDone
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
		p.notify()
	}()
	t.Cleanup(func() {
		_, err := p.Stop()
		if t.Failed() || err != nil {
			t.Logf("ovsenv: testpmd %s (%s): stop: %v; output:\n%s", p.Prefix, port, err, p.Output())
		}
		removeDPDKFiles(p.Prefix)
	})
	return p
}

var (
	reKV     = regexp.MustCompile(`([A-Za-z][A-Za-z-]*):\s+(\d+)`)
	reHashes = regexp.MustCompile(`^\s*#{20,}\s*$`)
)

// parse reads testpmd's output, keeping the counters of the latest report.
func (p *Testpmd) parse(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sc.Split(scanLineOrPrompt)
	const (
		none = iota
		nic
		fwd
	)
	section := none
	var cur, fin Counters
	for sc.Scan() {
		// The periodic report starts with a clear-screen escape: drop escapes.
		line := stripANSI(sc.Text())
		p.mu.Lock()
		p.lines++
		if p.out.Len() < outHead {
			p.out.WriteString(line)
			p.out.WriteByte('\n')
			p.outLines++
		}
		p.tail = append(p.tail, line)
		if len(p.tail) > tailLines {
			p.tail = p.tail[1:]
		}
		if p.stdin != nil {
			if before, ok := strings.CutSuffix(line, prompt); ok {
				p.sincePrompt.WriteString(before)
				p.reply = p.sincePrompt.String()
				p.sincePrompt.Reset()
				p.prompts++
				p.mu.Unlock()
				p.notify()
				continue
			}
			p.sincePrompt.WriteString(line)
			p.sincePrompt.WriteByte('\n')
		}
		p.mu.Unlock()

		// Only port 0's blocks count (a second port, added with ExtraArgs, is not tracked).
		switch {
		case strings.Contains(line, "NIC statistics for port 0 "):
			section, cur = nic, Counters{}
			continue
		case strings.Contains(line, "Forward statistics for port 0 "):
			section, fin = fwd, Counters{}
			continue
		case strings.Contains(line, "statistics for port"), strings.Contains(line, "Accumulated forward statistics"):
			section = none
			continue
		}
		if section == none {
			continue
		}
		if (section == nic && reHashes.MatchString(line)) || (section == fwd && strings.Contains(line, "-------")) {
			p.mu.Lock()
			if section == nic {
				cur.Reports = p.last.Reports + 1
				p.last = cur
			} else {
				f := fin
				p.final = &f
			}
			p.mu.Unlock()
			p.notify()
			section = none
			continue
		}
		for _, m := range reKV.FindAllStringSubmatch(line, -1) {
			n, _ := strconv.ParseUint(m[2], 10, 64)
			c := &cur
			if section == fwd {
				c = &fin
			}
			switch m[1] {
			case "RX-packets":
				c.RXPackets = n
			case "RX-bytes":
				c.RXBytes = n
			case "RX-missed":
				c.RXMissed = n
			case "RX-errors":
				c.RXErrors = n
			case "RX-nombuf":
				c.RXNoMbuf = n
			case "RX-dropped":
				c.RXDropped = n
			case "TX-packets":
				c.TXPackets = n
			case "TX-bytes":
				c.TXBytes = n
			case "TX-errors":
				c.TXErrors = n
			case "TX-dropped":
				c.TXDropped = n
			case "Rx-pps":
				c.RXPPS = n
			case "Tx-pps":
				c.TXPPS = n
			}
		}
	}
}

// prompt is what testpmd -i prints, without a newline, when it waits for a command.
const prompt = "testpmd> "

// scanLineOrPrompt is bufio.ScanLines that also ends a token after a prompt, which no
// newline follows until the next command.
func scanLineOrPrompt(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, []byte(prompt)); i >= 0 {
		if nl := bytes.IndexByte(data[:i], '\n'); nl < 0 {
			return i + len(prompt), data[:i+len(prompt)], nil
		}
	}
	return bufio.ScanLines(data, atEOF)
}

var reANSI = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return reANSI.ReplaceAllString(s, "")
}

func (p *Testpmd) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Stats returns the counters of the latest periodic report. testpmd 22.11 reports every
// 2 s with --stats-period=1 (its 1 s sleep ends just short of the period), so they may be
// up to ~2 s old.
func (p *Testpmd) Stats() Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Exited reports whether the process has ended.
func (p *Testpmd) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Output returns the start of testpmd's output and its last lines.
func (p *Testpmd) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	rest := p.lines - p.outLines // lines not in out
	if rest <= 0 {
		return p.out.String()
	}
	tail := p.tail
	if rest < len(tail) {
		tail = tail[len(tail)-rest:]
	}
	sep := ""
	if skipped := rest - len(tail); skipped > 0 {
		sep = fmt.Sprintf("[... %d lines ...]\n", skipped)
	}
	return p.out.String() + sep + strings.Join(tail, "\n")
}

// WaitFor waits until cond holds for a periodic report's counters (Interactive: for those
// of "show port stats 0", asked every 200 ms), and returns them. It fails early when
// testpmd exits.
func (p *Testpmd) WaitFor(cond func(Counters) bool, timeout time.Duration) (Counters, error) {
	return p.wait("show port stats 0", func() (Counters, bool) { return p.last, p.last.Reports > 0 }, cond, timeout)
}

// WaitForwarded waits until cond holds for the forward statistics of an Interactive
// testpmd ("show fwd stats all", asked every 200 ms): what its forwarding core has handled
// since "start". (The port's counters of WaitFor also count frames still in its RX ring.)
func (p *Testpmd) WaitForwarded(cond func(Counters) bool, timeout time.Duration) (Counters, error) {
	if p.stdin == nil {
		return Counters{}, fmt.Errorf("dpdk-testpmd %s: WaitForwarded needs an Interactive testpmd", p.Prefix)
	}
	return p.wait("show fwd stats all", func() (Counters, bool) {
		if p.final == nil {
			return Counters{}, false
		}
		return *p.final, true
	}, cond, timeout)
}

// wait waits until get (called with p.mu held) has counters and cond holds for them. In
// Interactive mode it runs poll every 200 ms for new counters; else they come by themselves.
func (p *Testpmd) wait(poll string, get func() (Counters, bool), cond func(Counters) bool, timeout time.Duration) (Counters, error) {
	start := time.Now()
	deadline := time.After(timeout)
	for {
		var wake <-chan time.Time
		if p.stdin != nil {
			if _, err := p.Command(poll, timeout-time.Since(start)); err != nil {
				return p.Stats(), err
			}
			wake = time.After(200 * time.Millisecond)
		}
		p.mu.Lock()
		c, ok := get()
		ch := p.changed
		p.mu.Unlock()
		if ok && cond(c) {
			return c, nil
		}
		if p.Exited() {
			p.mu.Lock()
			err := p.err
			p.mu.Unlock()
			return c, fmt.Errorf("dpdk-testpmd exited (%v); counters %+v; output:\n%s", err, c, p.Output())
		}
		if p.stdin != nil {
			ch = nil // every prompt closes it: wait for the next poll instead
		}
		select {
		case <-ch:
		case <-wake:
		case <-deadline:
			return c, fmt.Errorf("after %v: counters %+v", timeout, c)
		}
	}
}

// Command sends one command line to an Interactive testpmd and returns its reply: what
// testpmd printed up to its next prompt (the echoed command first). The first call also
// waits for testpmd's first prompt (EAL and the port are up). One command at a time.
func (p *Testpmd) Command(cmd string, timeout time.Duration) (string, error) {
	if p.stdin == nil {
		return "", fmt.Errorf("dpdk-testpmd %s: Command needs an Interactive testpmd", p.Prefix)
	}
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	deadline := time.After(timeout)
	waitPrompt := func(seen int) (string, error) {
		for {
			p.mu.Lock()
			n, reply, ch, err := p.prompts, p.reply, p.changed, p.err
			p.mu.Unlock()
			if n > seen {
				return reply, nil
			}
			if p.Exited() {
				return "", fmt.Errorf("dpdk-testpmd exited (%v) waiting to run %q; output:\n%s", err, cmd, p.Output())
			}
			select {
			case <-ch:
			case <-deadline:
				return "", fmt.Errorf("dpdk-testpmd: no prompt within %v for %q; output:\n%s", timeout, cmd, p.Output())
			}
		}
	}
	if _, err := waitPrompt(0); err != nil {
		return "", err
	}
	p.mu.Lock()
	seen := p.prompts
	p.mu.Unlock()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("dpdk-testpmd: writing %q: %w", cmd, err)
	}
	return waitPrompt(seen)
}

// StopForwarding runs "stop" on an Interactive testpmd and returns the forward statistics
// it prints: the packets received and sent since the last "start".
func (p *Testpmd) StopForwarding(timeout time.Duration) (Counters, error) {
	p.mu.Lock()
	p.final = nil
	p.mu.Unlock()
	reply, err := p.Command("stop", timeout)
	if err != nil {
		return Counters{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final == nil {
		return Counters{}, fmt.Errorf("dpdk-testpmd printed no forward statistics on stop:\n%s", reply)
	}
	return *p.final, nil
}

// WaitReady waits for the first periodic report: the port is configured and forwarding
// (in server mode: OVS has connected).
func (p *Testpmd) WaitReady(timeout time.Duration) error {
	_, err := p.WaitFor(func(Counters) bool { return true }, timeout)
	return err
}

// WaitRX waits until the port received at least n packets.
func (p *Testpmd) WaitRX(n uint64, timeout time.Duration) (Counters, error) {
	return p.WaitFor(func(c Counters) bool { return c.RXPackets >= n }, timeout)
}

// WaitTX waits until the port sent at least n packets.
func (p *Testpmd) WaitTX(n uint64, timeout time.Duration) (Counters, error) {
	return p.WaitFor(func(c Counters) bool { return c.TXPackets >= n }, timeout)
}

// Stop ends testpmd (SIGINT, or "quit" when Interactive: it stops forwarding and prints its
// final statistics; SIGKILL after 10 s) and returns the final counters: RX/TX packets and
// drops from its forward statistics when it printed them, else the last periodic report
// (Interactive: the last "show port stats 0"). Safe to call again.
func (p *Testpmd) Stop() (Counters, error) {
	p.stopOnce.Do(func() {
		if !p.Exited() {
			how := "SIGINT"
			if p.stdin != nil {
				how = `"quit"`
				_, _ = io.WriteString(p.stdin, "quit\n")
				_ = p.stdin.Close()
			} else {
				_ = p.cmd.Process.Signal(syscall.SIGINT)
			}
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				p.stopErr = fmt.Errorf("dpdk-testpmd did not end within 10 s of %s: killed", how)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		c := p.last
		if p.final != nil {
			c.RXPackets, c.TXPackets = p.final.RXPackets, p.final.TXPackets
			c.RXDropped, c.TXDropped = p.final.RXDropped, p.final.TXDropped
		} else if p.stopErr == nil && p.stdin == nil {
			p.stopErr = fmt.Errorf("dpdk-testpmd printed no final statistics (exit: %v)", p.err)
		}
		p.stopped = c
	})
	return p.stopped, p.stopErr
}
