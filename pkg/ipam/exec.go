package ipam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
	"github.com/containernetworking/cni/pkg/version"
)

// The IPAM plugin runs as libcni's invoke package would run it, but without
// that package: it links OpenTelemetry and net/http, whose initialisation
// and pages cost every fastpath call, IPAM or not, about 2.6 ms of a 24 ms
// process start in the emulated test guest.

// Bounds on retrying a plugin binary that is being written (ETXTBSY): an
// installer that copies in place rather than renaming.
const (
	busyRetries = 50
	busyPause   = 100 * time.Millisecond
)

// findPlugin returns the first regular file called name in the CNI_PATH
// directories.
func findPlugin(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, os.PathSeparator) || name == "." || name == ".." {
		return "", fmt.Errorf("invalid IPAM plugin name %q", name)
	}
	dirs := filepath.SplitList(os.Getenv("CNI_PATH"))
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("IPAM plugin %q not found in CNI_PATH %q", name, os.Getenv("CNI_PATH"))
}

// run executes the plugin with config on stdin and the caller's environment
// plus env (later entries win), and returns its stdout. A plugin that fails
// with a CNI error on stdout returns that error, code included.
func run(ctx context.Context, name string, config []byte, env ...string) ([]byte, error) {
	path, err := findPlugin(name)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		var stdout, stderr bytes.Buffer
		c := exec.CommandContext(ctx, path)
		c.Env = append(os.Environ(), env...)
		c.Stdin, c.Stdout, c.Stderr = bytes.NewReader(config), &stdout, &stderr
		err := c.Run()
		if errors.Is(err, syscall.ETXTBSY) && i < busyRetries {
			select {
			case <-time.After(busyPause):
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for %s, being written: %w", path, ctx.Err())
			}
		}
		if err != nil {
			return nil, pluginError(err, stdout.Bytes(), stderr.Bytes())
		}
		return stdout.Bytes(), nil
	}
}

// pluginError is the CNI error the plugin printed, or one that says how it
// failed without printing one.
func pluginError(err error, stdout, stderr []byte) error {
	var e types.Error
	if len(stdout) > 0 {
		if jerr := json.Unmarshal(stdout, &e); jerr == nil && (e.Code != 0 || e.Msg != "") {
			return &e
		}
		return fmt.Errorf("plugin failed (%w) and printed no CNI error: %q", err, truncate(stdout))
	}
	if len(stderr) > 0 {
		return fmt.Errorf("plugin failed (%w): %q", err, truncate(stderr))
	}
	return fmt.Errorf("plugin failed with no message: %w", err)
}

func truncate(b []byte) string {
	const max = 512
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// parseResult reads an ADD result in the version the plugin wrote it, or,
// if it names none, in the config's version (as libcni does), and converts
// it to the current one.
func parseResult(config, out []byte) (*current.Result, error) {
	var probe struct {
		CNIVersion string `json:"cniVersion"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		return nil, fmt.Errorf("decoding result %q: %w", truncate(out), err)
	}
	ver := probe.CNIVersion
	if ver == "" {
		var err error
		if ver, out, err = withVersion(config, out); err != nil {
			return nil, err
		}
	}
	r, err := create.Create(ver, out)
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(r)
}

// withVersion writes the config's cniVersion into a result that has none.
func withVersion(config, out []byte) (string, []byte, error) {
	ver, err := (&version.ConfigDecoder{}).Decode(config)
	if err != nil {
		return "", nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil || raw == nil {
		return "", nil, fmt.Errorf("decoding result %q: not an object", truncate(out))
	}
	raw["cniVersion"] = ver
	out, err = json.Marshal(raw)
	return ver, out, err
}
