package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
)

// TB lets the bench programs use the test helpers (test/cnitest,
// test/ovsenv), which take a testing.TB, outside `go test`. Fatal ends the
// function Do runs; Cleanup functions run when it returns, last first.
// Methods of testing.TB that the helpers do not call are not implemented and
// panic.
type TB struct {
	testing.TB // nil: only the methods below exist

	name     string
	log      io.Writer
	cleanups []func()
	failed   bool
	ctx      context.Context
	cancel   context.CancelFunc
}

type fatal struct{}

// Do runs f with a fresh TB named name that logs to log. It returns an error
// if f failed (Error, Fatal or a panic), after the cleanups ran.
func Do(name string, log io.Writer, f func(t *TB)) (err error) {
	t := &TB{name: name, log: log}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	defer func() {
		p := recover()
		t.runCleanups()
		if _, ok := p.(fatal); !ok && p != nil {
			t.failed = true
			fmt.Fprintf(log, "%s: panic: %v\n", name, p)
		}
		if t.failed {
			err = fmt.Errorf("%s failed", name)
		}
	}()
	f(t)
	return nil
}

func (t *TB) runCleanups() {
	t.cancel()
	for len(t.cleanups) > 0 {
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(fatal); !ok {
						fmt.Fprintf(t.log, "%s: panic in cleanup: %v\n", t.name, p)
					}
					t.failed = true
				}
			}()
			f()
		}()
	}
}

func (t *TB) Helper()                           {}
func (t *TB) Name() string                      { return t.name }
func (t *TB) Context() context.Context          { return t.ctx }
func (t *TB) Log(args ...any)                   { fmt.Fprintln(t.log, append([]any{t.name + ":"}, args...)...) }
func (t *TB) Logf(format string, args ...any)   { fmt.Fprintf(t.log, t.name+": "+format+"\n", args...) }
func (t *TB) Error(args ...any)                 { t.Log(args...); t.Fail() }
func (t *TB) Errorf(format string, args ...any) { t.Logf(format, args...); t.Fail() }
func (t *TB) Fatal(args ...any)                 { t.Log(args...); t.FailNow() }
func (t *TB) Fatalf(format string, args ...any) { t.Logf(format, args...); t.FailNow() }
func (t *TB) Fail()                             { t.failed = true }
func (t *TB) Failed() bool                      { return t.failed }
func (t *TB) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }

// FailNow ends the function Do runs. Like testing's, it must be called from
// that function's goroutine.
func (t *TB) FailNow() {
	t.failed = true
	panic(fatal{})
}

// TempDir is a fresh directory removed at cleanup.
func (t *TB) TempDir() string {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Setenv sets an environment variable until cleanup.
func (t *TB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}
