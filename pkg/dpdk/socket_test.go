package dpdk

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWaitSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vhu.sock")
	// A regular file of that name first, as a crashed run may leave: not
	// the socket, so the wait goes on until the socket replaces it.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// replacing closes as the file gives way to the socket: a wait that
	// ends before it ended on the regular file. (Signalling after Listen
	// raced with the wait, which rightly ends as soon as bind makes it.)
	replacing := make(chan struct{})
	listening := make(chan net.Listener, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		close(replacing)
		os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Error(err)
		}
		listening <- l
	}()
	if err := WaitSocket(path, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-replacing:
	default:
		t.Fatal("WaitSocket returned before the socket was made")
	}
	if l := <-listening; l != nil {
		defer l.Close()
	}
	// Present already: at once.
	if err := WaitSocket(path, 0); err != nil {
		t.Errorf("existing socket: %v", err)
	}
}

func TestWaitSocketTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "never.sock")
	err := WaitSocket(path, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no socket "+path+" within 100ms") {
		t.Fatalf("got %v", err)
	}
	if err := WaitSocket(filepath.Join(t.TempDir(), "gone", "x.sock"), time.Second); err == nil || !strings.Contains(err.Error(), "watching its directory") {
		t.Errorf("missing directory: %v", err)
	}
}
