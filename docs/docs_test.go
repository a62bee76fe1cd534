package docs

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/node"
)

// documents are the Markdown files a user reads.
func documents(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, "../README.md")
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	if len(out) < 3 {
		t.Fatalf("documents: only %v", names)
	}
	return out
}

// TestNoSourceLines: a committed document cites functions and files, never
// file:line, which the next commit to that file moves.
func TestNoSourceLines(t *testing.T) {
	re := regexp.MustCompile(`[\w./-]+\.go:\d+`)
	for name, b := range documents(t) {
		for i, line := range strings.Split(string(b), "\n") {
			if m := re.FindString(line); m != "" {
				t.Errorf("%s:%d cites a source line, %s: name the function instead", name, i+1, m)
			}
		}
	}
}

// section is the text of a Markdown section: its heading and the lines up to
// the next heading of any level.
type section struct {
	heading string
	lines   []string
}

func sections(b []byte) []section {
	var out []section
	cur := section{}
	fence := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(line, "#") {
			out = append(out, cur)
			cur = section{heading: strings.TrimSpace(strings.TrimLeft(line, "#"))}
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	return append(out, cur)
}

// tables returns the Markdown tables of a section: the header cells, then
// the rows' cells.
func tables(s section) [][][]string {
	var out [][][]string
	var cur [][]string
	for _, line := range append(s.lines, "") {
		if !strings.HasPrefix(line, "|") {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		if strings.HasPrefix(line, "| ---") {
			continue
		}
		cur = append(cur, cells(line))
	}
	return out
}

// cells splits a table row; `\|` is a pipe inside a cell.
func cells(line string) []string {
	line = strings.ReplaceAll(strings.Trim(strings.TrimSpace(line), "|"), `\|`, "\x01")
	var out []string
	for _, c := range strings.Split(line, "|") {
		out = append(out, strings.ReplaceAll(strings.TrimSpace(c), "\x01", "|"))
	}
	return out
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

func spans(s string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// literals are the string literals of the Go files (tests excluded) of dirs.
func literals(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						out = append(out, s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// moduleDirs are the source directories of library packages whose
// messages fastpath passes on (the CNI skeleton's).
func moduleDirs(t *testing.T, pkgs ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-f", "{{.Dir}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", pkgs, err)
	}
	return strings.Fields(string(out))
}

const hole = "\x00" // a value formatted into a message

var (
	verb        = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)
	placeholder = regexp.MustCompile(`<[^<>]+>|\.\.\.|…`)
)

// templates are the code's messages as parts: every literal with its
// formatting verbs as holes, split where errors are wrapped (": "). A part
// with less than three letters of its own (" ", "%s: %w") says nothing.
func templates(lits []string) []string {
	var out []string
	for _, l := range lits {
		l = strings.ReplaceAll(l, "%%", "%")
		l = strings.ReplaceAll(l, "%q", `"`+hole+`"`)
		l = verb.ReplaceAllString(l, hole)
		for _, part := range strings.Split(l, ": ") {
			if letters.MatchString(part) {
				out = append(out, part)
			}
		}
	}
	return out
}

var letters = regexp.MustCompile(`[a-zA-Z]{3}`)

// produces tells whether the code can produce the documented message: each
// part of it between ": " is one template of the code, with the document's
// placeholders (<pci>, ...) standing for any text and the template's holes
// for a value ("10s", "/sys", "[a]", "provisioned socket").
func produces(tmpls []string, msg string) (bool, string) {
	msg = placeholder.ReplaceAllString(msg, hole)
	for _, part := range strings.Split(msg, ": ") {
		if !letters.MatchString(part) {
			continue
		}
		if !slices.ContainsFunc(tmpls, func(tm string) bool { return fits(tm, part) }) {
			return false, strings.ReplaceAll(part, hole, "<...>")
		}
	}
	return true, ""
}

// fits matches template t against the documented part d, both with holes.
func fits(t, d string) bool {
	memo := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		if i == len(t) && j == len(d) {
			return true
		}
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		r := false
		switch {
		case j < len(d) && d[j] == hole[0]:
			r = m(i, j+1) || (i < len(t) && m(i+1, j))
		case i < len(t) && t[i] == hole[0]:
			// A value is documented text of up to three words
			// ("provisioned socket", "[<dirs>]").
			for k, spaces := j, 0; !r && k <= len(d) && spaces < 3; k++ {
				r = m(i+1, k)
				if k < len(d) && d[k] == ' ' {
					spaces++
				}
			}
		default:
			r = i < len(t) && j < len(d) && t[i] == d[j] && m(i+1, j+1)
		}
		if !r && i < len(t) && t[i] == hole[0] && j < len(d) && d[j] == hole[0] {
			r = m(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return m(0, 0)
}

// TestTroubleshootingMessages: every message that troubleshooting.md lists
// (in a "message" column, or opening a section's paragraph) is one the
// plugin, its libraries or the CNI skeleton can produce.
func TestTroubleshootingMessages(t *testing.T) {
	b, err := os.ReadFile("troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	dirs := append([]string{"../cmd/fastpath", "../pkg"},
		moduleDirs(t, "github.com/containernetworking/cni/pkg/skel", "github.com/containernetworking/cni/pkg/version")...)
	tmpls := templates(literals(t, dirs...))
	checked := 0
	check := func(where, msg string) {
		checked++
		if ok, part := produces(tmpls, msg); !ok {
			t.Errorf("troubleshooting.md, %s: the code produces no message %q (no string in it has %q)", where, msg, part)
		}
	}
	for _, s := range sections(b) {
		if !strings.HasPrefix(s.heading, "Code ") && s.heading != "IPAM errors" {
			continue
		}
		for _, tb := range tables(s) {
			if tb[0][0] != "message" {
				continue
			}
			for _, row := range tb[1:] {
				for _, msg := range spans(row[0]) {
					check(s.heading, msg)
				}
			}
		}
		for _, line := range s.lines {
			if strings.HasPrefix(line, "`") {
				check(s.heading, spans(line)[0])
			}
		}
	}
	if checked < 40 {
		t.Errorf("checked only %d messages: has troubleshooting.md changed its layout?", checked)
	}
}

// invalidCall is one call invalid(field, value, why) of pkg/config: the
// field and why, as templates.
type invalidCall struct{ field, why string }

// invalidCalls finds every code-7 error of pkg/config with its field and its
// reason (a literal, or the format of the fmt.Sprintf that makes it), both
// with verbs as holes. A field that is a variable is "".
func invalidCalls(t *testing.T) []invalidCall {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("../pkg/config/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	str := func(e ast.Expr) string {
		if c, ok := e.(*ast.CallExpr); ok && len(c.Args) > 0 {
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" {
				e = c.Args[0]
			}
		}
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			return s
		}
		return ""
	}
	var out []invalidCall
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if id, isID := ok && len(c.Args) == 3, false; id {
				if fn, ok := c.Fun.(*ast.Ident); ok && fn.Name == "invalid" {
					isID = true
				}
				if isID {
					out = append(out, invalidCall{str(c.Args[0]), str(c.Args[2])})
				}
			}
			return true
		})
	}
	if len(out) < 30 {
		t.Fatalf("found only %d calls of invalid in pkg/config: has it changed its shape?", len(out))
	}
	return out
}

// TestTroubleshootingCode7 holds the code-7 table to pkg/config both ways:
// every field and reason in the table is an error the code makes, and every
// error the code makes is in the table.
func TestTroubleshootingCode7(t *testing.T) {
	b, err := os.ReadFile("troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, s := range sections(b) {
		if strings.HasPrefix(s.heading, "Code 7:") {
			for _, tb := range tables(s) {
				if tb[0][0] == "field" && tb[0][1] == "why" {
					rows = append(rows, tb[1:]...)
				}
			}
		}
	}
	if len(rows) == 0 {
		t.Fatal("troubleshooting.md: no code-7 table with columns field and why")
	}
	calls := invalidCalls(t)
	matches := func(c invalidCall, field, why string) bool {
		if c.field != "" && c.field != field {
			return false
		}
		ok, _ := produces(templates([]string{c.why}), why)
		return ok
	}
	documented := make([]bool, len(calls))
	for _, row := range rows {
		fields, whys := spans(row[0]), spans(row[1])
		if len(fields) == 0 || len(whys) == 0 {
			t.Errorf("code-7 row %v: want `field` and `why` spans", row)
			continue
		}
		for _, f := range fields {
			for _, w := range whys {
				found := false
				for i, c := range calls {
					if matches(c, f, w) {
						found, documented[i] = true, true
					}
				}
				if !found {
					t.Errorf("troubleshooting.md code 7: pkg/config makes no error %q for field %q", w, f)
				}
			}
		}
	}
	for i, c := range calls {
		if !documented[i] {
			t.Errorf("pkg/config's error for field %q, %q, is not in troubleshooting.md's code-7 table",
				c.field, c.why)
		}
	}
}

// jsonKeys lists the JSON keys that encoding/json decodes into a value of
// type t, as dotted paths under prefix. Structs of this module, and
// anonymous ones, are descended into; others (the CNI library's IPAM and DNS
// objects, the result) are one key.
func jsonKeys(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && tag == "" {
			jsonKeys(ft, prefix, out)
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		key := prefix + tag
		out[key] = true
		if ft.Kind() == reflect.Struct && (ft.Name() == "" || strings.HasPrefix(ft.PkgPath(), "github.com/fastpath-cni/")) {
			jsonKeys(ft, key+".", out)
		}
	}
}

// docKeys are the backticked keys in the first column of the tables of the
// sections of configuration.md named in prefixes, each under its prefix.
func docKeys(t *testing.T, prefixes map[string]string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	seen := map[string]bool{}
	for _, s := range sections(b) {
		prefix, ok := prefixes[s.heading]
		if !ok {
			continue
		}
		seen[s.heading] = true
		for _, tb := range tables(s) {
			for _, row := range tb[1:] {
				for _, k := range spans(row[0]) {
					out[prefix+k] = true
				}
			}
		}
	}
	for h := range prefixes {
		if !seen[h] {
			t.Errorf("configuration.md has no section %q", h)
		}
	}
	return out
}

// compareKeys: every documented key is decoded, and every decoded key that
// is not an object of documented keys is documented.
func compareKeys(t *testing.T, what string, doc, decoded map[string]bool) {
	t.Helper()
	for k := range doc {
		if !decoded[k] {
			t.Errorf("configuration.md documents %s key %q, which fastpath does not decode", what, k)
		}
	}
	for k := range decoded {
		if doc[k] {
			continue
		}
		parent := false
		for d := range doc {
			parent = parent || strings.HasPrefix(d, k+".")
		}
		if !parent {
			t.Errorf("fastpath decodes %s key %q, which configuration.md does not document", what, k)
		}
	}
}

// TestConfigurationKeys: configuration.md documents exactly the keys that
// the network config's decoder (config.NetConf) and the node file's
// (node.Settings) read.
func TestConfigurationKeys(t *testing.T) {
	decoded := map[string]bool{}
	jsonKeys(reflect.TypeFor[config.NetConf](), "", decoded)
	compareKeys(t, "network config", docKeys(t, map[string]string{
		"Standard CNI fields":              "",
		"fastpath fields":                  "",
		"`runtimeConfig` and capabilities": "",
		"The `vhostuser` object":           "vhostuser.",
	}), decoded)

	decoded = map[string]bool{}
	jsonKeys(reflect.TypeFor[node.Settings](), "", decoded)
	compareKeys(t, "node file", docKeys(t, map[string]string{"Node settings": ""}), decoded)
}

// TestDecoderKeysCase: the keys the tests compare are the decoders' own
// spelling; encoding/json matches them case-insensitively, which
// configuration.md says, so a key that differs only in case is no second key.
func TestDecoderKeysCase(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[config.NetConf](), reflect.TypeFor[node.Settings]()} {
		keys := map[string]bool{}
		jsonKeys(typ, "", keys)
		lower := map[string]string{}
		for k := range keys {
			if o, dup := lower[strings.ToLower(k)]; dup {
				t.Errorf("%v: keys %q and %q differ only in case", typ, k, o)
			}
			lower[strings.ToLower(k)] = k
		}
	}
}

// TestSpeedClaims: while benchmarks.md marks a target not met, the README's
// Speed section says so, rather than only what makes fastpath fast.
func TestSpeedClaims(t *testing.T) {
	docs := documents(t)
	if !bytes.Contains(docs["benchmarks.md"], []byte("**not met**")) {
		return
	}
	for _, s := range sections(docs["../README.md"]) {
		if s.heading == "Speed" {
			if !strings.Contains(strings.Join(s.lines, "\n"), "**not met**") {
				t.Error(`benchmarks.md marks targets **not met**; README.md's Speed section does not say so`)
			}
			return
		}
	}
	t.Error("README.md has no Speed section")
}

// TestTablesWellFormed: every Markdown table has its header, its separator
// and rows of the header's width; a row cut off from its table by a
// paragraph renders as text (as README's Modes table once did).
func TestTablesWellFormed(t *testing.T) {
	for name, b := range documents(t) {
		fence := false
		var block []string
		start := 0
		lines := append(strings.Split(string(b), "\n"), "")
		for i, line := range lines {
			if strings.HasPrefix(line, "```") {
				fence = !fence
			}
			if !fence && strings.HasPrefix(line, "|") {
				if block == nil {
					start = i + 1
				}
				block = append(block, line)
				continue
			}
			if block == nil {
				continue
			}
			if len(block) < 2 || !strings.HasPrefix(block[1], "| ---") {
				t.Errorf("%s:%d: a table row without a header and separator above it (renders as text)", name, start)
			} else {
				width := len(cells(block[0]))
				for j, row := range block[1:] {
					if n := len(cells(row)); n != width {
						t.Errorf("%s:%d: %d cells, the header has %d", name, start+1+j, n, width)
					}
				}
			}
			block = nil
		}
	}
}

// TestReliabilityCrashPoints: where reliability.md says a fault-injection
// step is (crash.Point in `function` file), it is there in the code now, and
// nowhere else: a commit that moves a step regenerates the report.
func TestReliabilityCrashPoints(t *testing.T) {
	b, err := os.ReadFile("reliability.md")
	if err != nil {
		t.Fatal(err)
	}
	points := map[string][]string{} // step -> "`fn` file"
	fset := token.NewFileSet()
	for _, dir := range []string{"../cmd", "../pkg"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					c, ok := n.(*ast.CallExpr)
					if !ok || len(c.Args) != 1 {
						return true
					}
					sel, ok := c.Fun.(*ast.SelectorExpr)
					if x, isID := ok && sel.Sel.Name == "Point", false; x {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "crash" {
							isID = true
						}
						if step := crashStep(c.Args[0]); isID && step != "" {
							loc := fmt.Sprintf("`%s` %s", fd.Name.Name, strings.TrimPrefix(filepath.ToSlash(path), "../"))
							if !slices.Contains(points[step], loc) {
								points[step] = append(points[step], loc)
							}
						}
					}
					return true
				})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	row := regexp.MustCompile("right after step `([^`]+)` \\(crash\\.Point in ([^)]*)\\)")
	rows := row.FindAllStringSubmatch(string(b), -1)
	if len(rows) == 0 {
		t.Fatal("reliability.md names no crash.Point: has the report changed its layout?")
	}
	for _, m := range rows {
		step := m[1]
		want, ok := points[step]
		if _, rest, found := strings.Cut(step, "/"); !ok && found {
			want = points["*/"+rest]
		}
		got := strings.Split(m[2], ", ")
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("reliability.md: step %s at %v; the code has it at %v: run make reliability", step, got, want)
		}
	}
}

// crashStep is the step a crash.Point argument names: a string literal, or
// "*/suffix" for an expression ending in + "/suffix".
func crashStep(e ast.Expr) string {
	if be, ok := e.(*ast.BinaryExpr); ok && be.Op == token.ADD {
		if s := crashStep(be.Y); strings.HasPrefix(s, "/") {
			return "*" + s
		}
		return ""
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return ""
	}
	s, _ := strconv.Unquote(lit.Value)
	return s
}
