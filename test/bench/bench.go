// Package bench is the measuring harness behind `make bench`: what a CNI ADD
// and DEL of fastpath cost, through libcni as a runtime calls them, against
// the floor of each path (the process starts it cannot avoid plus a bare
// program doing only the kernel calls the path needs).
//
// The pieces:
//
//   - guest/: static program run in the emulated SR-IOV guest (test/vm): the
//     kernel VF paths (host-local IPAM and none), the vfio-pci VF, the 7 VFs
//     in parallel, the VERSION floors, the floor program, strace of one call.
//   - minimal/: a VERSION answer with the standard library only, the start
//     of the smallest Go plugin.
//   - floor/: the bare program: the netlink calls (or the OVSDB transaction)
//     of one path, timed step by step inside the process.
//   - host/: the entry point of `make bench`: builds the binaries, boots the
//     guest and parses what it prints, measures vhost-user on OVS-DPDK and
//     the VERSION floors on this machine, runs the scale curve, and writes
//     docs/benchmarks.md and docs/benchmarks.svg.
//
// Everything measured travels as Records, one per line, prefixed with
// Prefix: the guest has only its console to report on.
package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Prefix starts every line that carries a Record.
const Prefix = "BENCH-JSON "

// Kinds of Record.
const (
	KindSeries = "series" // MS holds one sample per cycle
	KindInfo   = "info"   // Info describes the environment
	KindText   = "text"   // Text is a block of output (strace)
	KindWarn   = "warn"   // Text is something that went wrong but did not stop the run
)

// Environments.
const (
	EnvGuest = "guest" // the emulated SR-IOV guest: 1 vCPU, TCG
	EnvHost  = "host"  // the machine itself
)

// Record is one measured series, or a piece of context.
type Record struct {
	Kind string            `json:"kind"`
	Env  string            `json:"env"`
	Name string            `json:"name"`
	MS   []float64         `json:"ms,omitempty"`
	Info map[string]string `json:"info,omitempty"`
	Text string            `json:"text,omitempty"`
}

// Emitter writes Records as Prefix lines. It is safe for concurrent use.
type Emitter struct {
	mu  sync.Mutex
	w   io.Writer
	env string
	// Sink, when set, also receives every record (the host keeps its own).
	Sink func(Record)
}

// NewEmitter writes env's records to w (nil: only to Sink).
func NewEmitter(w io.Writer, env string) *Emitter { return &Emitter{w: w, env: env} }

// Emit writes r, with the emitter's env (an emitter of env "" keeps the
// record's).
func (e *Emitter) Emit(r Record) {
	if e.env != "" {
		r.Env = e.env
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Sink != nil {
		e.Sink(r)
	}
	if e.w == nil {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // only plain types inside
	}
	fmt.Fprintf(e.w, "\n%s%s\n", Prefix, b)
}

// Series emits samples under name.
func (e *Emitter) Series(name string, d []time.Duration) {
	e.Emit(Record{Kind: KindSeries, Name: name, MS: Millis(d)})
}

// Text emits a block of text under name.
func (e *Emitter) Text(name, text string) { e.Emit(Record{Kind: KindText, Name: name, Text: text}) }

// Warn emits a warning.
func (e *Emitter) Warn(name, format string, args ...any) {
	e.Emit(Record{Kind: KindWarn, Name: name, Text: fmt.Sprintf(format, args...)})
}

// Info emits a description of the environment.
func (e *Emitter) Info(name string, info map[string]string) {
	e.Emit(Record{Kind: KindInfo, Name: name, Info: info})
}

// Millis converts durations to milliseconds.
func Millis(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v) / float64(time.Millisecond)
	}
	return out
}

// ParseLine returns the Record a line carries, if it carries one. Anything
// before Prefix on the line (a console may prepend) is ignored.
func ParseLine(line string) (Record, bool, error) {
	i := strings.Index(line, Prefix)
	if i < 0 {
		return Record{}, false, nil
	}
	var r Record
	if err := json.Unmarshal([]byte(strings.TrimSpace(line[i+len(Prefix):])), &r); err != nil {
		return Record{}, true, fmt.Errorf("bad %sline: %w: %.120q", Prefix, err, line)
	}
	return r, true, nil
}

// Scan reads records from r, passing every other line to other (may be nil).
// A line that starts a record but does not decode is an error that does not
// stop the scan: all of them are returned at the end.
func Scan(r io.Reader, other func(string)) ([]Record, []error) {
	var recs []Record
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 8*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rec, ok, err := ParseLine(line)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok:
			recs = append(recs, rec)
		case other != nil:
			other(line)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return recs, errs
}

// Stats summarise a series.
type Stats struct {
	N                        int
	Min, P50, P90, Max, Mean float64
}

// Summarise computes Stats of ms. Percentiles are nearest-rank: p50 and p90
// are samples that were measured, not interpolations.
func Summarise(ms []float64) Stats {
	if len(ms) == 0 {
		return Stats{Min: math.NaN(), P50: math.NaN(), P90: math.NaN(), Max: math.NaN(), Mean: math.NaN()}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Stats{N: len(s), Min: s[0], P50: Percentile(s, 50), P90: Percentile(s, 90), Max: s[len(s)-1], Mean: sum / float64(len(s))}
}

// Percentile is the nearest-rank p-th percentile of sorted.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// Results is every record of one run, by env and name.
type Results struct {
	recs map[string]Record
	// Order keeps the names as they came, for text and warnings.
	Order []string
}

// NewResults collects recs. Samples of a series that comes more than once
// are appended; warnings accumulate; any other record replaces an earlier
// one of the same env and name.
func NewResults(recs ...Record) *Results {
	r := &Results{recs: map[string]Record{}}
	for _, rec := range recs {
		r.Add(rec)
	}
	return r
}

func key(env, name string) string { return env + "|" + name }

// Add adds one record.
func (r *Results) Add(rec Record) {
	k := key(rec.Env, rec.Name)
	old, seen := r.recs[k]
	if !seen {
		r.Order = append(r.Order, k)
	}
	switch {
	case seen && old.Kind == KindWarn && rec.Kind == KindWarn:
		rec.Text = old.Text + "\n" + rec.Text
	case seen && old.Kind == KindSeries && rec.Kind == KindSeries:
		rec.MS = append(slices.Clone(old.MS), rec.MS...)
	}
	r.recs[k] = rec
}

// All returns every record, in arrival order.
func (r *Results) All() []Record {
	out := make([]Record, 0, len(r.Order))
	for _, k := range r.Order {
		out = append(out, r.recs[k])
	}
	return out
}

// Get returns the record of env and name.
func (r *Results) Get(env, name string) (Record, bool) {
	rec, ok := r.recs[key(env, name)]
	return rec, ok
}

// Stats returns the stats of a series; ok is false if there is none.
func (r *Results) Stats(env, name string) (Stats, bool) {
	rec, ok := r.Get(env, name)
	if !ok || rec.Kind != KindSeries || len(rec.MS) == 0 {
		return Stats{}, false
	}
	return Summarise(rec.MS), true
}

// Kind lists the records of one kind, in arrival order.
func (r *Results) Kind(kind string) []Record {
	var out []Record
	seen := map[string]bool{}
	for _, k := range r.Order {
		if seen[k] {
			continue
		}
		seen[k] = true
		if rec := r.recs[k]; rec.Kind == kind {
			out = append(out, rec)
		}
	}
	return out
}
