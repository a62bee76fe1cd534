package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Results of a case, as go test reports them.
const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
)

// testResult is one test or subtest of a go test run.
type testResult struct {
	Name    string // "TestCrashKernelVF/add/locked"
	Result  string // pass, fail, skip; "" while it has not finished
	Elapsed float64
	Reason  string // the first "file.go:N: ..." line it logged
}

// collector gathers a run's results in the order the tests started.
type collector struct {
	byName  map[string]*testResult
	order   []string
	current string
}

func newCollector() *collector { return &collector{byName: map[string]*testResult{}} }

func (c *collector) get(name string) *testResult {
	r, ok := c.byName[name]
	if !ok {
		r = &testResult{Name: name}
		c.byName[name] = r
		c.order = append(c.order, name)
	}
	return r
}

func (c *collector) done(name, result string, elapsed float64) {
	r := c.get(name)
	r.Result, r.Elapsed = result, elapsed
}

func (c *collector) logged(name, line string) {
	if name == "" {
		return
	}
	if m := logLineRe.FindStringSubmatch(line); m != nil {
		if r := c.get(name); r.Reason == "" {
			r.Reason = m[1]
		}
	}
}

// results lists the tests in start order; one that started and never
// finished failed (the run ended under it).
func (c *collector) results() []testResult {
	var out []testResult
	for _, name := range c.order {
		r := *c.byName[name]
		if r.Result == "" {
			r.Result = fail
			r.Reason = "started but never finished: the run ended first (see the log)"
		}
		out = append(out, r)
	}
	return out
}

var (
	// go test -v, as the e2e guest prints it on its console; not anchored
	// to the line start, as a console may put other output before it.
	runLineRe    = regexp.MustCompile(`^\s*=== (RUN|NAME|CONT|PAUSE)\s+(\S+)`)
	resultLineRe = regexp.MustCompile(`--- (PASS|FAIL|SKIP): (\S+) \((\d+(?:\.\d+)?)s\)`)
	// What t.Log and t.Error print: "    file_test.go:42: message".
	// The test's file:line is dropped: the report is committed, and a later
	// commit moves the line.
	logLineRe = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)`)
)

// parseVerbose reads `go test -v` output.
func parseVerbose(out []byte) []testResult {
	c := newCollector()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if m := runLineRe.FindStringSubmatch(line); m != nil {
			if m[1] == "RUN" {
				c.get(m[2])
			}
			c.current = m[2]
			continue
		}
		if m := resultLineRe.FindStringSubmatch(line); m != nil {
			el, _ := strconv.ParseFloat(m[3], 64)
			c.done(m[2], m[1], el)
			c.current = m[2] // without -v, a failure's log follows it
			continue
		}
		c.logged(c.current, line)
	}
	return c.results()
}

// parseJSON reads `go test -json` output (test2json events); lines that
// are not events (a build error on stderr) are skipped.
func parseJSON(out []byte) []testResult {
	c := newCollector()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Action  string
			Test    string
			Output  string
			Elapsed float64
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Test == "" {
			continue
		}
		switch ev.Action {
		case "run":
			c.get(ev.Test)
		case "pass", "fail", "skip":
			c.done(ev.Test, strings.ToUpper(ev.Action), ev.Elapsed)
		case "output":
			c.logged(ev.Test, strings.TrimRight(ev.Output, "\n"))
		}
	}
	return c.results()
}

// fuzzRun is what one `go test -fuzz` run reported.
type fuzzRun struct {
	Execs   int64
	Elapsed int // seconds
	Found   bool
	Reason  string
}

var (
	fuzzStatRe  = regexp.MustCompile(`fuzz: elapsed: (\d+)s, execs: (\d+) `)
	fuzzInputRe = regexp.MustCompile(`Failing input written to (\S+)`)
)

// parseFuzz reads the last "fuzz: elapsed: ..., execs: N" line, and what a
// failure left.
func parseFuzz(out []byte) fuzzRun {
	var r fuzzRun
	for _, m := range fuzzStatRe.FindAllSubmatch(out, -1) {
		r.Elapsed, _ = strconv.Atoi(string(m[1]))
		r.Execs, _ = strconv.ParseInt(string(m[2]), 10, 64)
		r.Found = true
	}
	if m := fuzzInputRe.FindSubmatch(out); m != nil {
		r.Reason = "failing input written to " + string(m[1])
	} else if fails := parseVerbose(out); len(fails) > 0 {
		for _, t := range fails {
			if t.Result == fail && t.Reason != "" {
				r.Reason = t.Reason
				break
			}
		}
	}
	if r.Reason == "" {
		r.Reason = lastLine(out)
	}
	return r
}

// lastLine is the last line of out that says something.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && l != "FAIL" && !strings.HasPrefix(l, "exit status") && !strings.HasPrefix(l, "FAIL\t") {
			return l
		}
	}
	return ""
}

// sources reads the Go source of the test packages to say what each case
// proves, from the doc comments, so the report stays true as tests change.
type sources struct {
	fset  *token.FileSet
	funcs map[string]map[string]*ast.FuncDecl // directory -> function name
	decls map[string][]*ast.FuncDecl          // directory -> functions and methods
	// points are the fault-injection steps of cmd/fastpath: where each
	// crash.Point("step") is.
	points map[string][]string
}

func newSources() *sources {
	return &sources{fset: token.NewFileSet(), funcs: map[string]map[string]*ast.FuncDecl{},
		decls: map[string][]*ast.FuncDecl{}, points: map[string][]string{}}
}

// dir parses every Go file of dir (all build tags), once. A file that does
// not parse (someone is editing it) gives what it can.
func (s *sources) dir(dir string) map[string]*ast.FuncDecl {
	if fns, ok := s.funcs[dir]; ok {
		return fns
	}
	fns := map[string]*ast.FuncDecl{}
	s.funcs[dir] = fns
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, _ := parser.ParseFile(s.fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments|parser.SkipObjectResolution)
		if f == nil {
			continue
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			s.decls[dir] = append(s.decls[dir], fd)
			if fd.Recv == nil {
				fns[fd.Name.Name] = fd
			}
		}
	}
	return fns
}

// fuzzTargets lists the Fuzz functions under root, by package directory.
func (s *sources) fuzzTargets(root string) [][2]string {
	var out [][2]string
	for _, dir := range subdirs(root) {
		var names []string
		for name, fd := range s.dir(dir) {
			if strings.HasPrefix(name, "Fuzz") && isFuzzFunc(fd) && strings.HasSuffix(s.fset.Position(fd.Pos()).Filename, "_test.go") {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			out = append(out, [2]string{dir, n})
		}
	}
	return out
}

func isFuzzFunc(fd *ast.FuncDecl) bool {
	ps := fd.Type.Params.List
	if len(ps) != 1 {
		return false
	}
	star, ok := ps[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F"
}

// loadPoints finds every crash.Point("step") in the packages under root.
// A step built at run time, crash.Point(cmd + "/ipam"), is filed as
// "*/ipam".
func (s *sources) loadPoints(root string) {
	for _, dir := range subdirs(root) {
		s.dir(dir)
		for _, fd := range s.decls[dir] {
			if fd.Body == nil {
				continue
			}
			name := fd.Name.Name
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Point" {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "crash" {
					return true
				}
				step := stepName(call.Args[0])
				if step == "" {
					return true
				}
				// Function and file, no line: the report is committed, and
				// a later commit moves the line.
				file := s.fset.Position(call.Pos()).Filename
				if filepath.IsAbs(file) {
					file = filepath.Base(file)
				}
				if loc := fmt.Sprintf("`%s` %s", name, file); !slices.Contains(s.points[step], loc) {
					s.points[step] = append(s.points[step], loc)
				}
				return true
			})
		}
	}
	// By file, in source order within one.
	for _, locs := range s.points {
		slices.SortStableFunc(locs, func(a, b string) int {
			return strings.Compare(locFile(a), locFile(b))
		})
	}
}

// stepName is the step a crash.Point argument names: a string literal, or
// "*/suffix" for an expression that ends in + "/suffix".
func stepName(e ast.Expr) string {
	if be, ok := e.(*ast.BinaryExpr); ok && be.Op == token.ADD {
		if suffix := stepName(be.Y); strings.HasPrefix(suffix, "/") {
			return "*" + suffix
		}
		return ""
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	step, err := strconv.Unquote(lit.Value)
	if err != nil {
		return ""
	}
	return step
}

// subdirs is root and every directory below it but testdata.
func subdirs(root string) []string {
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() != "testdata" {
			dirs = append(dirs, p)
		}
		return nil
	})
	return dirs
}

// locFile is the file of "`fn` file.go".
func locFile(loc string) string {
	_, file, _ := strings.Cut(loc, " ")
	return file
}

// proves says what the case name (a test, or test/subtest) of the package
// in dir proves.
func (s *sources) proves(dir, name string) string {
	top, sub, isSub := strings.Cut(name, "/")
	if !isSub {
		return s.funcDoc(dir, top)
	}
	locs, ok := s.points[sub]
	if _, rest, found := strings.Cut(sub, "/"); !ok && found {
		locs, ok = s.points["*/"+rest]
	}
	if ok {
		return fmt.Sprintf("As %s, with the plugin killed right after step `%s` (crash.Point in %s).", top, sub, strings.Join(locs, ", "))
	}
	return fmt.Sprintf("Case `%s` of %s.", sub, top)
}

// funcDoc is the first sentence of the doc comment of the function name,
// or, for a test without one, of the helper that does its work (the
// documented function of the package that it calls as a statement, the
// largest if several): crashCases for TestCrashKernelVF.
func (s *sources) funcDoc(dir, name string) string {
	fns := s.dir(dir)
	fd := fns[name]
	if fd == nil {
		return humanize(name) + " (source not found)"
	}
	if fd.Doc != nil {
		if t := sentence(fd.Doc.Text(), name); t != "" {
			return t
		}
	}
	var best *ast.FuncDecl
	if fd.Body != nil {
		for _, st := range fd.Body.List {
			es, ok := st.(*ast.ExprStmt)
			if !ok {
				continue
			}
			call, ok := es.X.(*ast.CallExpr)
			if !ok {
				continue
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok {
				continue
			}
			h := fns[id.Name]
			if h == nil || h.Doc == nil || h.Body == nil {
				continue
			}
			if best == nil || h.Body.End()-h.Body.Pos() > best.Body.End()-best.Body.Pos() {
				best = h
			}
		}
	}
	if best != nil {
		if t := sentence(best.Doc.Text(), best.Name.Name); t != "" {
			return t
		}
	}
	return humanize(name) + " (no doc comment)"
}

// sentence is the first sentence of a doc comment, without a leading
// "Name " (Go's doc convention), so that it reads on its own.
func sentence(text, name string) string {
	t := new(doc.Package).Synopsis(text)
	if rest, ok := strings.CutPrefix(t, name+" "); ok {
		t = upperFirst(rest)
	}
	return t
}

func upperFirst(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

// humanize turns TestDelWithoutState into "Del without state" and
// TestVLANIsolation into "VLAN isolation".
func humanize(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "Test"), "Fuzz")
	rs := []rune(name)
	var words []string
	start := 0
	for i := 1; i < len(rs); i++ {
		lowerBefore := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
		acronymEnd := unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && unicode.IsLower(rs[i+1])
		if unicode.IsUpper(rs[i]) && (lowerBefore || acronymEnd) {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	words = append(words, string(rs[start:]))
	for i := 1; i < len(words); i++ {
		if w := words[i]; len(w) > 1 && strings.ToLower(w[1:]) == w[1:] {
			words[i] = strings.ToLower(w)
		}
	}
	return strings.Join(words, " ")
}
