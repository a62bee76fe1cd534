// Command fastpath is a CNI plugin that gives containers SR-IOV virtual
// functions and vhost-user sockets. add.go reads top to bottom as one ADD of
// any mode, whose own steps, undo and CHECK are in kernelvf.go, uservf.go
// and vhost.go (vf.go: the PF side of both VF modes); del.go holds the
// release that DEL, GC and a failed ADD share; check.go holds CHECK and
// STATUS.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/node"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// Version is set at build time.
var Version = "dev"

// Bounds on waits: for another call on the same device, and for the kernel
// to hand a VF back from a dying namespace.
const (
	lockWait   = 10 * time.Second
	returnWait = 10 * time.Second
)

// CNI error codes of fastpath's own (100 and up).
const (
	ErrDevice    = 100 // the device is missing, not a VF, or SR-IOV is off
	ErrInUse     = 101 // the device belongs to another attachment
	ErrRefused   = 102 // the PF driver refused a VF setting
	ErrHostOp    = 103 // a host operation (netlink, namespaces, files) failed
	ErrNoRecord  = 104 // CHECK found no attachment record
	ErrCheckFail = 105 // CHECK found the attachment differs from what ADD made
)

func main() {
	// skel checks after ADD and DEL, opening both, that CNI_NETNS is not
	// the plugin's own namespace, and fails the call with the work done.
	// ADD refuses the host's namespace before it changes anything (see
	// checkPodNetNS), and DEL must work whatever the namespace, so skel's
	// late check is only cost (6% of an ADD's CPU in the emulated guest).
	// skel reads the variable once, before it calls a command; begin puts
	// the runtime's value back, so that no IPAM plugin inherits ours.
	netnsOverride, hadOverride = os.LookupEnv("CNI_NETNS_OVERRIDE")
	os.Setenv("CNI_NETNS_OVERRIDE", "1")
	defer startProfile()()
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: cmdAdd, Del: cmdDel, Check: cmdCheck, GC: cmdGC, Status: cmdStatus,
	}, version.PluginSupports("0.3.1", "0.4.0", "1.0.0", "1.1.0"), "CNI plugin fastpath "+Version)
}

// call is what every command works with.
type call struct {
	ctx   context.Context
	args  *skel.CmdArgs
	conf  *config.NetConf
	cargs *config.Args
	log   *slog.Logger
	sysfs sriov.Sysfs
	store state.Store
}

// The runtime's CNI_NETNS_OVERRIDE, which main replaces for skel alone.
var (
	netnsOverride string
	hadOverride   bool
)

func begin(args *skel.CmdArgs) (*call, error) {
	if hadOverride {
		os.Setenv("CNI_NETNS_OVERRIDE", netnsOverride)
	} else {
		os.Unsetenv("CNI_NETNS_OVERRIDE")
	}
	n, err := node.Load()
	if err != nil {
		return nil, types.NewError(ErrHostOp, err.Error(), "")
	}
	conf, err := config.Parse(args.StdinData)
	if err != nil {
		return nil, err
	}
	// A DEL goes on past a node setting the config may not make, with the
	// node's values: the config can never have been ADDed on this node as
	// it is, and refusing would keep its pod from ever being deleted.
	nodeErr := conf.BindNode(n)
	if nodeErr != nil && os.Getenv("CNI_COMMAND") != "DEL" {
		return nil, nodeErr
	}
	cargs, err := config.ParseArgs(args.Args)
	if err != nil {
		return nil, err
	}
	if len(args.ContainerID) > 128 {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables,
			fmt.Sprintf("invalid CNI_CONTAINERID %.20q...: longer than 128 characters", args.ContainerID), "")
	}
	log := newLogger(conf).With("container", args.ContainerID, "ifname", args.IfName, "deviceID", conf.Device())
	if conf.LogPath != "" && conf.LogFile != conf.LogPath && conf.LogFile != filepath.Base(conf.LogPath) {
		log.Warn("logFile names a path outside the node's log directory: logging to the file of its name there", "logFile", conf.LogFile, "path", conf.LogPath)
	}
	if nodeErr != nil {
		log.Warn("ignoring a node setting of the network config", "error", nodeErr)
	}
	return &call{
		ctx: context.Background(), args: args, conf: conf, cargs: cargs, log: log,
		sysfs: sriov.Sysfs{Root: conf.SysfsRoot}, store: state.Store{Dir: conf.StateDir},
	}, nil
}

// newLogger logs to logFile in the node's log directory, else stderr; never
// to stdout, which carries the result. A logFile that cannot be opened falls
// back to stderr rather than failing the pod.
func newLogger(conf *config.NetConf) *slog.Logger {
	level, _ := config.ParseLogLevel(conf.LogLevel) // Parse validated it
	var w io.Writer = os.Stderr
	if conf.LogPath != "" {
		if f, err := openLog(conf.LogPath); err == nil {
			w = f // closed by process exit
		} else {
			fmt.Fprintf(os.Stderr, "fastpath: logging to stderr: %v\n", err)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime})).With("cmd", os.Getenv("CNI_COMMAND"))
}

// openLog opens a regular file for appending, never through a link (the
// name is a network config's), making its directory if missing. Plain
// system calls: os.OpenFile tries the runtime's poller, four fcntl calls and
// an epoll_ctl more; os.NewFile on the descriptor costs one fcntl.
func openLog(path string) (*os.File, error) {
	flags := unix.O_CREAT | unix.O_APPEND | unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	fd, err := unix.Open(path, flags, 0o600)
	if errors.Is(err, unix.ENOENT) {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err == nil {
			fd, err = unix.Open(path, flags, 0o600)
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("log file %s is not a regular file", path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// utcTime writes log times in UTC: a local time made the first line of
// every call load the time zone (0.37 ms in the emulated guest, where
// there is no zone file to read), and UTC compares across nodes as it is.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}

// cniError gives err the CNI code its cause deserves.
func cniError(err error) error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		if te == err {
			return te
		}
		// A delegated plugin's error keeps its code, with our context.
		return types.NewError(te.Code, err.Error(), "")
	}
	code := uint(ErrHostOp)
	switch {
	case errors.Is(err, state.ErrBusy):
		code = types.ErrTryAgainLater
	case errors.Is(err, sriov.ErrRefused):
		code = ErrRefused
	case errors.Is(err, state.ErrClaimed), errors.Is(err, errAttached):
		code = ErrInUse
	case errors.Is(err, sriov.ErrNoDevice), errors.Is(err, sriov.ErrNotVF),
		errors.Is(err, sriov.ErrSRIOVDisabled), errors.Is(err, sriov.ErrNoPFNetdev),
		errors.Is(err, sriov.ErrNoVFInfo), errors.Is(err, sriov.ErrUnsafeNetdev), errors.Is(err, attach.ErrNoMode):
		code = ErrDevice
	}
	return types.NewError(code, err.Error(), "")
}

var errAttached = errors.New("VF is attached to a live pod")

// openNamespaces opens a netlink handle for the host and, if path names a
// live namespace, that namespace; withPod also opens a netlink handle in it,
// which only a kernel VF needs (it costs two setns calls). A gone pod
// namespace is not an error: DEL must work after the runtime deleted it.
func openNamespaces(podPath string, withPod bool) (*sriov.Namespaces, error) {
	host, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("opening the host namespace: %w", err)
	}
	hostH, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		host.Close()
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	ns := &sriov.Namespaces{Host: host, HostH: hostH, Pod: attach.OpenNetNS(podPath)}
	if ns.Pod < 0 || !withPod {
		return ns, nil
	}
	if err := openPodHandle(ns, podPath); err != nil {
		closeNamespaces(ns)
		return nil, err
	}
	return ns, nil
}

// openPodHandle opens the netlink handle in the pod's (open) namespace.
func openPodHandle(ns *sriov.Namespaces, podPath string) (err error) {
	if ns.PodH, err = netlink.NewHandleAt(ns.Pod, unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("opening netlink in %s: %w", podPath, err)
	}
	return nil
}

func closeNamespaces(ns *sriov.Namespaces) {
	if ns.PodH != nil {
		ns.PodH.Close()
	}
	if ns.Pod >= 0 {
		ns.Pod.Close()
	}
	ns.HostH.Close()
	ns.Host.Close()
}

func invalidNetNS(path string) error {
	return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("CNI_NETNS %q is not a network namespace", path), "")
}

// checkPodNetNS makes sure, before ADD changes anything, that CNI_NETNS is
// a live network namespace and not the plugin's own, the check that skel
// would make only after the work (see main).
func checkPodNetNS(ns *sriov.Namespaces, path string) error {
	if ns.Pod < 0 {
		return invalidNetNS(path)
	}
	if ns.Pod.Equal(ns.Host) {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("CNI_NETNS %q is the host's own namespace", path), "")
	}
	return nil
}

// ownDeviceInfo is the device-info file that this ADD is to write and DEL to
// remove: the runtime's, unless a file is there already, which then is the
// NPWG implementation's copy of the device plugin's, theirs to keep.
func ownDeviceInfo(path string) string {
	if path == "" {
		return ""
	}
	if _, err := os.Lstat(path); err == nil {
		return ""
	}
	return path
}
