package main

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
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/spf13/cobra"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/dpdk"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// Kinds of orphan gc finds.
const (
	kindStaleNetns     = "stale-netns"           // a record whose pod's netns is gone
	kindDanglingClaim  = "dangling-claim"        // a claim without a record
	kindCorruptRecord  = "corrupt-record"        // a record that cannot be read, or one set aside
	kindNoDevice       = "record-without-device" // a live pod's record whose VF is not on the node
	kindOrphanPort     = "orphan-port"           // an OVS port of fastpath's without a record
	kindUnrecordedConf = "unrecorded-vf-config"  // VF settings on the host that no record explains
)

// Results of a finding.
const (
	resultDryRun   = "dry-run"  // would have acted
	resultDone     = "done"     // acted
	resultFailed   = "failed"   // tried and failed
	resultReported = "reported" // gc never acts on this kind
	resultSkipped  = "skipped"  // changed since gc looked: left alone
)

// errSkip marks an orphan that changed between gc's look and its action.
var errSkip = errors.New("changed since gc looked: left alone")

// Finding is one orphan and what gc did about it.
type Finding struct {
	Kind   string `json:"kind"`
	Key    string `json:"key"`    // attachment key, when there is one
	Device string `json:"device"` // VF PCI address, OVS port or claim name
	Detail string `json:"detail"`
	Action string `json:"action"`
	Result string `json:"result"`
	Error  string `json:"error"`
}

// GCResult is `gc -o json`.
type GCResult struct {
	DryRun   bool      `json:"dryRun"`
	Findings []Finding `json:"findings"`
	// Notes are what gc could not look at (an OVSDB that does not answer).
	Notes []string `json:"notes"`
}

// delTimeout bounds one DEL of the plugin: it waits up to 10 s for a lock
// and up to 10 s for the kernel to return a VF from a dead namespace.
const delTimeout = 2 * time.Minute

// lockWait bounds the wait for the plugin's lock on a device.
const lockWait = 10 * time.Second

func newGC(g *globals) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Find orphans and, unless --dry-run, release them",
		Long: `gc finds what fastpath left behind and releases it:

  stale-netns            a record whose pod's netns is gone: released by running the
                         plugin's own DEL (<cni-bin-dir>/fastpath, the record's network
                         config on stdin), which restores the VF and frees the lease
  dangling-claim         a device claim without a record: removed
  corrupt-record         a record that cannot be read, or one the plugin set aside
                         (.corrupt): reported only
  record-without-device  a live pod's record whose VF is not on this node: reported only
  orphan-port            an OVS port with external_ids fastpath.network and no record:
                         deleted from its bridge
  unrecorded-vf-config   a VF that no record holds but that carries an admin VLAN, or a
                         VF netdev named fp<PCI> (returned by a DEL without record):
                         reported only, never touched

Each finding ends dry-run (--dry-run: what gc would do, and nothing changes), done,
failed, skipped (it changed since gc looked) or reported. Exit code 1 when an action
failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return found(runGC(cmd.Context(), g, dryRun)) },
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be done, change nothing")
	return cmd
}

type gc struct {
	g      *globals
	dryRun bool
	res    GCResult
}

func runGC(ctx context.Context, g *globals, dryRun bool) error {
	c := &gc{g: g, dryRun: dryRun, res: GCResult{DryRun: dryRun, Findings: []Finding{}, Notes: []string{}}}
	inv, err := load(g)
	if err != nil {
		return err
	}
	// (a) Pods gone: the plugin's DEL undoes them, one by one.
	if c.staleRecords(ctx, inv) && !dryRun {
		// Read again: DEL removed records, claims and ports, and restored
		// VFs whose settings the last check looks at.
		if inv, err = load(g); err != nil {
			return err
		}
	}
	// (b) State without device.
	c.danglingClaims(inv)
	c.corruptRecords(inv)
	// (c) Devices without state.
	c.orphanPorts(ctx, inv)
	c.unrecordedVFs(inv)

	if g.json() {
		err = writeJSON(g.stdout, c.res)
	} else {
		err = c.print()
	}
	if err != nil {
		return err
	}
	for _, f := range c.res.Findings {
		if f.Result == resultFailed {
			return errQuiet
		}
	}
	return nil
}

func (c *gc) add(f Finding) *Finding {
	c.res.Findings = append(c.res.Findings, f)
	return &c.res.Findings[len(c.res.Findings)-1]
}

// act runs do unless this is a dry run, and records the outcome in f.
func (c *gc) act(f Finding, do func() error) {
	p := c.add(f)
	if c.dryRun {
		p.Result = resultDryRun
		return
	}
	if err := do(); errors.Is(err, errSkip) {
		p.Result, p.Error = resultSkipped, err.Error()
		return
	} else if err != nil {
		p.Result, p.Error = resultFailed, err.Error()
		return
	}
	p.Result = resultDone
}

func (c *gc) report(f Finding) {
	f.Result = resultReported
	c.add(f)
}

// staleRecords releases the records whose pod's netns is gone. It tells
// whether it found any.
func (c *gc) staleRecords(ctx context.Context, inv *inventory) bool {
	stale := false
	for _, rec := range inv.records {
		a := inv.attachment(rec)
		device := rec.Device
		onNode := rec.Mode == attach.ModeVhostUser || inv.onNode(rec.PCI)
		if a.NetNSAlive {
			if !onNode {
				c.report(Finding{Kind: kindNoDevice, Key: rec.Key(), Device: device,
					Detail: fmt.Sprintf("%s VF %d of %s (%s) is not on this node, but %s (netns %s) is alive",
						rec.PCI, rec.VFIndex, rec.PF, rec.PFPCI, podName(a), rec.NetNS),
					Action: "none: delete the pod (its DEL releases the lease and the record), or check the PF's sriov_numvfs"})
			}
			continue
		}
		stale = true
		detail := fmt.Sprintf("netns %s of %s is gone; %s attachment on %s", rec.NetNS, podName(a), rec.Mode, device)
		if !onNode {
			detail += " (not on this node)"
		}
		c.act(Finding{Kind: kindStaleNetns, Key: rec.Key(), Device: device, Detail: detail,
			Action: "DEL through " + filepath.Join(c.g.cniBinDir, "fastpath")},
			func() error {
				// The runtime's own DEL may have come meanwhile, or a new
				// ADD of the same container and interface.
				cur, err := inv.store.Load(rec.Key())
				switch {
				case errors.Is(err, state.ErrCorrupt): // the plugin's DEL sets it aside
				case err != nil:
					return err
				case cur == nil:
					return fmt.Errorf("released meanwhile: %w", errSkip)
				case cur.NetNS != rec.NetNS || attach.NetNSAlive(cur.NetNS):
					return fmt.Errorf("re-attached in netns %s: %w", cur.NetNS, errSkip)
				}
				return c.pluginDel(ctx, inv, rec)
			})
	}
	return stale
}

func podName(a Attachment) string {
	if a.Pod != "" {
		return "pod " + a.Pod
	}
	return "container " + a.ContainerID
}

// pluginDel undoes an attachment with the plugin's own DEL: the record's
// network config on stdin, its container, interface, netns (dead by now)
// and CNI_ARGS in the environment, as the runtime would have called it.
func (c *gc) pluginDel(ctx context.Context, inv *inventory, rec *state.Record) error {
	if len(rec.Config) == 0 {
		return errors.New("the record holds no network config to call DEL with")
	}
	ctx, cancel := context.WithTimeout(ctx, delTimeout)
	defer cancel()
	plugin := filepath.Join(c.g.cniBinDir, "fastpath")
	cmd := exec.CommandContext(ctx, plugin)
	cmd.Stdin = bytes.NewReader(rec.Config)
	cmd.Env = append(envWithoutCNI(),
		"CNI_COMMAND=DEL", "CNI_CONTAINERID="+rec.ContainerID, "CNI_NETNS="+rec.NetNS,
		"CNI_IFNAME="+rec.IfName, "CNI_ARGS="+rec.Args, "CNI_PATH="+c.g.cniBinDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var te types.Error
		if json.Unmarshal(stdout.Bytes(), &te) == nil && te.Msg != "" {
			msg := fmt.Sprintf("%s DEL: %s (CNI error %d)", plugin, te.Msg, te.Code)
			if te.Details != "" {
				msg += ": " + te.Details
			}
			return errors.New(msg)
		}
		return fmt.Errorf("%s DEL: %w: %s", plugin, err, strings.TrimSpace(stdout.String()+" "+stderr.String()))
	}
	// The plugin keeps its records in the node's stateDir: if --state-dir
	// names another directory, DEL worked there.
	if left, err := inv.store.Load(rec.Key()); err == nil && left != nil {
		return fmt.Errorf("%s DEL succeeded but the record %s remains (is %s the node file's stateDir?)",
			plugin, inv.store.RecordPath(rec.Key()), c.g.stateDir)
	}
	return nil
}

// envWithoutCNI is this process's environment without CNI_ variables, which
// must come from the record alone.
func envWithoutCNI() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CNI_") {
			env = append(env, kv)
		}
	}
	return env
}

// danglingClaims removes claims whose record is gone (and not corrupt: a
// corrupt record's claim is the plugin's to drop when it sets it aside).
func (c *gc) danglingClaims(inv *inventory) {
	for _, device := range sortedKeys(inv.claims) {
		key := inv.claims[device]
		if inv.byKey[key] != nil || inv.isCorrupt(key) {
			continue
		}
		path := inv.store.ClaimPath(device)
		c.act(Finding{Kind: kindDanglingClaim, Key: key, Device: device,
			Detail: fmt.Sprintf("%s claims %s for %s, which has no record", path, device, key),
			Action: "remove the claim"},
			func() error { return c.removeClaim(inv, device, key) })
	}
}

// removeClaim drops a dangling claim under the device's lock, the way the
// plugin's ADD drops one, after checking again that no record appeared.
func (c *gc) removeClaim(inv *inventory, device, key string) error {
	held, err := inv.store.Lock(device, lockWait)
	if err != nil {
		return err
	}
	defer held.Unlock()
	rec, err := inv.store.Load(key)
	if err != nil && !errors.Is(err, state.ErrCorrupt) {
		return err
	}
	if rec != nil || err != nil {
		return fmt.Errorf("%s has a record now: %w", key, errSkip)
	}
	return held.Release(key)
}

func (c *gc) corruptRecords(inv *inventory) {
	for _, cr := range inv.corrupt {
		c.report(Finding{Kind: kindCorruptRecord, Key: cr.Key, Device: inv.claimOf(cr.Key),
			Detail: fmt.Sprintf("%s: %v", cr.Path, cr.Err),
			Action: "none: the plugin's next DEL or GC of this attachment sets it aside and releases its lease"})
	}
	for _, key := range inv.quarantined {
		path := strings.TrimSuffix(inv.store.RecordPath(key), ".json") + ".corrupt"
		c.report(Finding{Kind: kindCorruptRecord, Key: key,
			Detail: path + ": set aside by the plugin",
			Action: "none: read it, restore by hand the VF or port it names if needed, then remove it"})
	}
}

// claimOf is the device that key claims, "" if none.
func (inv *inventory) claimOf(key string) string {
	for _, device := range sortedKeys(inv.claims) {
		if inv.claims[device] == key {
			return device
		}
	}
	return ""
}

// orphanPorts deletes the OVS ports that carry fastpath's external_ids but
// that no record accounts for.
func (c *gc) orphanPorts(ctx context.Context, inv *inventory) {
	var conns ovsConns
	defer conns.close()
	recorded := map[string]bool{}
	for _, rec := range inv.vhostRecords() {
		if rec.Vhost != nil {
			recorded[rec.Vhost.Port] = true
		}
	}
	seen := map[string]bool{}
	for _, ep := range inv.endpoints() {
		o, err := conns.get(ctx, ep)
		if err != nil && len(recorded) == 0 && !c.g.ovsdbSet {
			continue // no vhost-user on this node, and none asked for
		}
		if err != nil {
			c.res.Notes = append(c.res.Notes, fmt.Sprintf("OVSDB %s did not answer, its ports were not checked: %v", ep, err))
			continue
		}
		ports, err := o.ListPortsWithKey(ctx, attach.ExtNetwork)
		if err != nil {
			c.res.Notes = append(c.res.Notes, fmt.Sprintf("listing the ports of OVSDB %s: %v", ep, err))
			continue
		}
		for _, p := range ports {
			if seen[p.PortUUID] {
				continue
			}
			seen[p.PortUUID] = true
			key := state.Key(p.ExternalIDs[attach.ExtNetwork], p.ExternalIDs[attach.ExtContainer], p.ExternalIDs[attach.ExtIfName])
			if inv.byKey[key] != nil || inv.isCorrupt(key) || recorded[p.Name] {
				continue
			}
			c.act(Finding{Kind: kindOrphanPort, Key: key, Device: p.Name,
				Detail: fmt.Sprintf("OVS port %s on bridge %q (OVSDB %s) belongs to %s, which has no record", p.Name, p.Bridge, ep, key),
				Action: fmt.Sprintf("delete port %s from bridge %q", p.Name, p.Bridge)},
				func() error { return c.deletePort(ctx, inv, o, p, key) })
		}
	}
}

func (c *gc) deletePort(ctx context.Context, inv *inventory, o *dpdk.OVS, p dpdk.PortInfo, key string) error {
	// Under the plugin's lock on the port, if the plugin ever made its
	// state directory here: an ADD in flight records before it adds.
	if _, err := os.Stat(inv.store.Dir); err == nil {
		held, err := inv.store.Lock(p.Name, lockWait)
		if err != nil {
			return err
		}
		defer held.Unlock()
		if rec, err := inv.store.Load(key); err != nil || rec != nil {
			return fmt.Errorf("%s has a record now: %w", key, errSkip)
		}
	}
	return o.DeletePort(ctx, p.Bridge, p.Name)
}

// unrecordedVFs reports, never touches, VF settings that no record
// explains: an admin VLAN on a VF that no record holds, and a VF netdev
// under the name the plugin's DEL gives a VF it returns without a record.
func (c *gc) unrecordedVFs(inv *inventory) {
	for i := range inv.pfs {
		pf := &inv.pfs[i]
		for _, vf := range pf.VFs {
			if rec, claim := inv.owner(vf.PCI); rec != nil || claim != "" {
				continue
			}
			if s := pf.Table[vf.Index]; s != nil && s.Vlan != 0 {
				c.report(Finding{Kind: kindUnrecordedConf, Device: vf.PCI,
					Detail: fmt.Sprintf("VF %d of %s (%s) carries vlan %d qos %d but no fastpath record holds it", vf.Index, pf.Netdev, vf.PCI, s.Vlan, s.QoS),
					Action: fmt.Sprintf("none: if nobody set it on purpose, `ip link set %s vf %d vlan 0`", pf.Netdev, vf.Index)})
			}
			if vf.Netdev != "" && vf.Netdev == attach.ReturnedName(vf.PCI) {
				c.report(Finding{Kind: kindUnrecordedConf, Device: vf.PCI,
					Detail: fmt.Sprintf("VF %d of %s (%s) is netdev %s: the name fastpath's DEL gives a VF it returned without a record", vf.Index, pf.Netdev, vf.PCI, vf.Netdev),
					Action: fmt.Sprintf("none: rename it to its usual name (`ip link set %s name NAME`)", vf.Netdev)})
			}
		}
	}
}

func (c *gc) print() error {
	w := c.g.stdout
	if len(c.res.Findings) == 0 {
		fmt.Fprintln(w, "No orphans found.")
	} else {
		t := newTable(w, "RESULT", "KIND", "KEY", "DEVICE", "DETAIL")
		for _, f := range c.res.Findings {
			t.row(f.Result, f.Kind, f.Key, f.Device, f.Detail)
			t.raw("", "", "", "", "action: "+f.Action)
			if f.Error != "" {
				t.raw("", "", "", "", "error: "+f.Error)
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for _, n := range c.res.Notes {
		c.g.warnf("%s", n)
	}
	return nil
}
