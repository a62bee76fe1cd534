// Command fastpathctl shows an operator of an NFV node which VF or
// vhost-user socket belongs to which pod, releases what fastpath left behind,
// and checks that the node has what fastpath needs.
//
//	fastpathctl list                       every PF, VF and vhost-user attachment
//	fastpathctl show PCI|CONTAINER-ID      one VF, or one container's attachments
//	fastpathctl gc [--dry-run]             find and release orphans
//	fastpathctl doctor                     check the node, with a fix for each failure
//
// It reads what the plugin reads: the node file (package node), sysfs, the
// PF's VF table (netlink), the plugin's state directory and OVSDB. It changes the host only in gc, and
// there it undoes attachments by running the plugin's own DEL.
//
// Exit codes: 0 fine, 1 problems found (a doctor failure, a gc error, an
// error reading the node), 2 usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

// Version is set at build time.
var Version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitProblems = 1
	exitUsage    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// globals are the flags every command takes.
type globals struct {
	stateDir  string
	sysfsRoot string
	cniBinDir string
	ovsdb     string
	podsDir   string
	output    string
	// ovsdbSet: --ovsdb was given, so OVSDB is expected to answer.
	ovsdbSet bool

	stdout, stderr io.Writer
}

func (g *globals) json() bool { return g.output == "json" }

// warnf tells the operator about something that did not stop the command.
func (g *globals) warnf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "fastpathctl: warning: "+format+"\n", args...)
}

// problems is the error of a command that ran and found something wrong:
// exit code 1. Any other error out of cobra is a usage error: exit code 2.
type problems struct{ err error }

func (p *problems) Error() string { return p.err.Error() }

// found turns a command's own error into exit code 1.
func found(err error) error {
	if err == nil {
		return nil
	}
	return &problems{err}
}

// errQuiet is a command's exit code 1 whose reason it has printed already.
var errQuiet = errors.New("")

func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(context.Background())
	var p *problems
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &p):
		if !errors.Is(p.err, errQuiet) {
			fmt.Fprintln(stderr, "fastpathctl:", p.err)
		}
		return exitProblems
	default:
		fmt.Fprintln(stderr, "fastpathctl:", err)
		fmt.Fprintln(stderr, "Run 'fastpathctl --help' for usage.")
		return exitUsage
	}
}

func newRoot(g *globals) *cobra.Command {
	// The node's settings are the flags' defaults: fastpathctl reads what
	// the plugin reads (package node).
	n, nodeErr := node.Load()
	if nodeErr != nil {
		n, _ = node.Parse(nil, "")
	}
	root := &cobra.Command{
		Use:   "fastpathctl",
		Short: "Inspect and repair fastpath's SR-IOV and vhost-user attachments on this node",
		Long: `fastpathctl shows which VF or vhost-user socket belongs to which pod, releases
what pods left behind, and checks what fastpath needs on the node.

Exit codes: 0 fine, 1 problems found (doctor failures, gc errors), 2 usage.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if nodeErr != nil {
				return found(nodeErr)
			}
			g.ovsdbSet = cmd.Flags().Changed("ovsdb")
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output %q: want table or json", g.output)
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.stateDir, "state-dir", n.StateDir, "fastpath's state directory (records, claims, locks); the node file's stateDir")
	f.StringVar(&g.sysfsRoot, "sysfs-root", n.SysfsRoot, "where sysfs is mounted; the node file's sysfsRoot")
	f.StringVar(&g.cniBinDir, "cni-bin-dir", "/opt/cni/bin", "the CNI plugin directory (fastpath and its IPAM plugins)")
	f.StringVar(&g.ovsdb, "ovsdb", n.VhostUser.OVSDB, "the OVSDB endpoint of Open vSwitch (vhost-user); the node file's vhostuser.ovsdb")
	f.StringVar(&g.podsDir, "pods-dir", n.VhostUser.PodsDir, "base of the vhost-user pods' directories; the node file's vhostuser.podsDir")
	f.StringVarP(&g.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(newList(g), newShow(g), newGC(g), newDoctor(g))
	return root
}
