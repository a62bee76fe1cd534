package handover_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/handover"
)

// A pod may plant anything in its own directory: links named as the app's
// file or as the temporary file of earlier releases change nothing outside
// it, and the app's file ends a regular file with the mode asked for.
func TestWriteInfoPlantedLinks(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("node file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "net1.json")
	for _, name := range []string{path, path + ".tmp"} {
		if err := os.Symlink(victim, name); err != nil {
			t.Fatal(err)
		}
	}
	d := handover.Dir{Path: dir, DirMode: 0o750, FileMode: 0o640, GID: -1}
	if err := d.WriteInfo(path, &handover.AppInfo{Socket: "net1.sock", Role: "server", MAC: "02:00:00:00:00:01", Queues: 1}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "node file\n" {
		t.Errorf("victim now %q (%v)", b, err)
	}
	if st, err := os.Stat(victim); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("victim mode %v (%v), want 0600", st.Mode(), err)
	}
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o640 {
		t.Fatalf("%s: %v %v, want a regular file of mode 0640", path, st.Mode(), err)
	}
	var info handover.AppInfo
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &info); err != nil || info.Socket != "net1.sock" {
		t.Errorf("app file %s: %+v %v", b, info, err)
	}
}
