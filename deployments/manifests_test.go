package deployments

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/allocator"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	fpnode "github.com/fastpath-cni/fastpath/pkg/node"
)

// What the checks below assume of a pod and of Multus.
const (
	samplePodUID = "7f0c3c1e-6d1b-4c55-9b39-2f3c5a1d9e42" // the 36 characters of a real UID
	sampleVF     = "0000:3b:02.1"                         // what Multus puts in "deviceID"
	resourceKey  = "k8s.v1.cni.cncf.io/resourceName"
	networksKey  = "k8s.v1.cni.cncf.io/networks"
	cniBinDir    = "/opt/cni/bin"
	imageBinDir  = "/opt/fastpath/bin" // where the Containerfile puts the binaries

	// devicePluginConfigMap is the ConfigMap the SR-IOV network device
	// plugin's DaemonSet mounts as /etc/pcidp.
	devicePluginConfigMap = "sriovdp-config"
	// nodeConfigMap holds fastpath's node settings, which the DaemonSet
	// installs as node.DefaultPath.
	nodeConfigMap = "fastpath-node"
)

// cniVersions are the versions cmd/fastpath/main.go declares.
var cniVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// binaries are what the image carries and the DaemonSet installs.
var binaries = []string{"fastpath", "fastpathctl"}

// object is one YAML document of a file under deployments/, decoded.
type object struct {
	file  string
	index int    // 0-based document number in the file
	kind  string // apiVersion + "/" + kind
	obj   any    // a pointer to the Kubernetes type (or to nad)
}

func (o object) String() string { return fmt.Sprintf("%s#%d (%s)", o.file, o.index, o.kind) }

// nad mirrors the NetworkAttachmentDefinition CRD (k8s.cni.cncf.io/v1), which
// k8s.io/api does not have.
type nad struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              nadSpec `json:"spec"`
}

type nadSpec struct {
	Config string `json:"config"`
}

// kinds maps every kind the manifests may hold to its type. A kind that is not
// here fails the test: add it with the type that checks it.
var kinds = map[string]func() any{
	"v1/ServiceAccount": func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":      func() any { return &corev1.ConfigMap{} },
	"v1/Pod":            func() any { return &corev1.Pod{} },
	"apps/v1/DaemonSet": func() any { return &appsv1.DaemonSet{} },
	// Only in docs/security.md's example, not under deployments/.
	"rbac.authorization.k8s.io/v1/ClusterRole":       func() any { return &rbacv1.ClusterRole{} },
	"k8s.cni.cncf.io/v1/NetworkAttachmentDefinition": func() any { return &nad{} },
}

// decodeStrict decodes JSON into v the way the API server's strict field
// validation does: an unknown field, a duplicate field or a field in the
// wrong case is an error.
func decodeStrict(data []byte, v any) error {
	strict, err := kjson.UnmarshalStrict(data, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeFile decodes every YAML document of a manifest file strictly into the
// type its apiVersion and kind name.
func decodeFile(name string, data []byte) ([]object, error) {
	var out []object
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", name, i, err)
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", name, i, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
			continue // comments only
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(j, &tm); err != nil {
			return nil, fmt.Errorf("%s#%d: %w", name, i, err)
		}
		kind := tm.APIVersion + "/" + tm.Kind
		newObj, ok := kinds[kind]
		if !ok {
			return nil, fmt.Errorf("%s#%d: apiVersion %q kind %q is not a kind this test knows", name, i, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := decodeStrict(j, obj); err != nil {
			return nil, fmt.Errorf("%s#%d (%s): %w", name, i, kind, err)
		}
		out = append(out, object{file: name, index: i, kind: kind, obj: obj})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no YAML document", name)
	}
	return out, nil
}

// readManifests reads every manifest under dir. Besides YAML files only Go
// and Markdown files may be there.
func readManifests(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".go", ".md":
			return nil
		case ".yaml", ".yml":
		default:
			errs = append(errs, fmt.Errorf("%s: not a manifest (.yaml or .yml), Go or Markdown file", path))
			return nil
		}
		data, err := os.ReadFile(path)
		files[path] = data
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		errs = append(errs, fmt.Errorf("no manifests under %s", dir))
	}
	return files, errors.Join(errs...)
}

func meta(o object) *metav1.ObjectMeta {
	switch v := o.obj.(type) {
	case *corev1.ServiceAccount:
		return &v.ObjectMeta
	case *corev1.ConfigMap:
		return &v.ObjectMeta
	case *corev1.Pod:
		return &v.ObjectMeta
	case *appsv1.DaemonSet:
		return &v.ObjectMeta
	case *rbacv1.ClusterRole:
		return &v.ObjectMeta
	case *nad:
		return &v.ObjectMeta
	}
	panic(fmt.Sprintf("no metadata for %T", o.obj))
}

func namespaceOf(m *metav1.ObjectMeta) string {
	if m.Namespace == "" {
		return "default"
	}
	return m.Namespace
}

func objectsOf[T any](all []object) []T {
	var out []T
	for _, o := range all {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// network is a NetworkAttachmentDefinition with its config checked.
type network struct {
	nad  *nad
	conf *config.NetConf
}

func (n network) ref() string { return namespaceOf(&n.nad.ObjectMeta) + "/" + n.nad.Name }

func (n network) vhost() bool { return n.conf.Mode == attach.ModeVhostUser }

// podsDir is the node's vhost-user podsDir.
func (n network) podsDir() string { return n.conf.Node.VhostUser.PodsDir }

// checkNAD decodes a NetworkAttachmentDefinition's config strictly into
// fastpath's config and runs it through the plugin's own validation with the
// node's settings, as ADD would see it from Multus for a sample pod.
func checkNAD(n *nad, ns *fpnode.Settings) (*network, error) {
	if n.Name == "" {
		return nil, errors.New("no metadata.name")
	}
	raw := []byte(n.Spec.Config)
	// The "ipam" object belongs to the IPAM plugin: fastpath's NetConf keeps
	// its type only. Check the rest against NetConf, the ipam against the
	// IPAM plugin's own config.
	var fields map[string]json.RawMessage
	if err := decodeStrict(raw, &fields); err != nil {
		return nil, fmt.Errorf("spec.config is not a JSON object: %w", err)
	}
	ipamRaw, hasIPAM := fields["ipam"]
	delete(fields, "ipam")
	rest, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	var strict config.NetConf
	if err := decodeStrict(rest, &strict); err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	conf, err := config.Parse(raw)
	if err == nil {
		err = conf.BindNode(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	switch {
	case conf.Type != "fastpath":
		return nil, fmt.Errorf(`spec.config: type %q, want "fastpath"`, conf.Type)
	case conf.Name != n.Name:
		return nil, fmt.Errorf("spec.config: name %q differs from metadata.name %q", conf.Name, n.Name)
	case !slices.Contains(cniVersions, conf.CNIVersion):
		return nil, fmt.Errorf("spec.config: cniVersion %q is not one of fastpath's %v", conf.CNIVersion, cniVersions)
	}
	for c := range conf.Capabilities {
		if !slices.Contains([]string{"deviceID", "mac", "CNIDeviceInfoFile", "ips"}, c) {
			return nil, fmt.Errorf("spec.config: capability %q is not one fastpath reads", c)
		}
	}
	if hasIPAM {
		if err := checkIPAM(raw, ipamRaw); err != nil {
			return nil, fmt.Errorf("spec.config: ipam: %w", err)
		}
	}
	args := &config.Args{PodUID: samplePodUID, PodName: "sample", PodNamespace: namespaceOf(&n.ObjectMeta)}
	if _, err := conf.Resolve(args); err != nil {
		return nil, fmt.Errorf("spec.config: %w", err)
	}
	_, hasResource := n.Annotations[resourceKey]
	if conf.Mode == attach.ModeVhostUser {
		if _, err := conf.ResolveVhost(samplePodUID, "net1"); err != nil {
			return nil, fmt.Errorf("spec.config: %w", err)
		}
		return &network{nad: n, conf: conf}, nil
	}
	// A VF network: Multus fills in deviceID from the device plugin, which
	// it asks for the pool the resourceName annotation names.
	if !hasResource {
		return nil, fmt.Errorf("a VF network needs the %s annotation, or Multus passes no deviceID", resourceKey)
	}
	withDevice, err := injectDeviceID(raw, sampleVF)
	if err != nil {
		return nil, err
	}
	dconf, err := config.Parse(withDevice)
	if err == nil {
		err = dconf.BindNode(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("spec.config with deviceID: %w", err)
	}
	s, err := dconf.Resolve(args)
	if err != nil {
		return nil, fmt.Errorf("spec.config with deviceID: %w", err)
	}
	if s.DeviceID != sampleVF {
		return nil, fmt.Errorf("spec.config with deviceID %s resolves to device %q", sampleVF, s.DeviceID)
	}
	return &network{nad: n, conf: conf}, nil
}

// injectDeviceID does what Multus does with the device plugin's VF.
func injectDeviceID(raw []byte, pci string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["deviceID"] = pci
	return json.Marshal(m)
}

// checkIPAM decodes the ipam object strictly into its plugin's config and
// lets the plugin's loader validate it. An IPAM type without a checker here
// fails: add one.
func checkIPAM(netconf, ipam []byte) error {
	var typ struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(ipam, &typ); err != nil {
		return err
	}
	switch typ.Type {
	case "host-local":
		var c allocator.IPAMConfig
		if err := decodeStrict(ipam, &c); err != nil {
			return err
		}
		if c.Name != "" {
			return errors.New(`host-local has no "Name" field`)
		}
		if _, _, err := allocator.LoadIPAMConfig(netconf, ""); err != nil {
			return err
		}
		return nil
	}
	return fmt.Errorf("type %q: this test checks host-local only", typ.Type)
}

// The SR-IOV network device plugin's config.json, as its README documents
// it, narrowed to the network device pools these manifests use.
type dpConfig struct {
	ResourceList []dpResource `json:"resourceList"`
}

type dpResource struct {
	ResourceName    string          `json:"resourceName"`
	ResourcePrefix  string          `json:"resourcePrefix,omitempty"`
	DeviceType      string          `json:"deviceType,omitempty"`
	ExcludeTopology bool            `json:"excludeTopology,omitempty"`
	Selectors       json.RawMessage `json:"selectors,omitempty"`
}

type dpNetSelectors struct {
	Vendors      []string `json:"vendors,omitempty"`
	Devices      []string `json:"devices,omitempty"`
	Drivers      []string `json:"drivers,omitempty"`
	PCIAddresses []string `json:"pciAddresses,omitempty"`
	PFNames      []string `json:"pfNames,omitempty"`
	RootDevices  []string `json:"rootDevices,omitempty"`
	LinkTypes    []string `json:"linkTypes,omitempty"`
	DDPProfiles  []string `json:"ddpProfiles,omitempty"`
	IsRdma       bool     `json:"isRdma,omitempty"`
	NeedVhostNet bool     `json:"needVhostNet,omitempty"`
	VdpaType     string   `json:"vdpaType,omitempty"`
}

var (
	dpNameRe    = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)
	dpPrefixRe  = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	pciIDRe     = regexp.MustCompile(`^[0-9a-f]{4}$`)
	pciAddrRe   = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$`)
	driverRe    = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	pfNameRe    = regexp.MustCompile(`^([^#/\s]{1,15})(?:#(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*))?$`)
	netdevRange = regexp.MustCompile(`^(\d+)(?:-(\d+))?$`)
)

// checkDevicePlugin decodes the device plugin's config.json strictly and
// returns its pools as prefix/name, and those of them whose selectors name
// only userspace (DPDK) drivers. VF ranges of one PF in two pools are an
// error: the plugin would offer the same VF twice.
func checkDevicePlugin(cm *corev1.ConfigMap) (pools, userspace []string, err error) {
	if len(cm.Data) != 1 || cm.Data["config.json"] == "" {
		return nil, nil, fmt.Errorf("want data with config.json only, have keys %v", keysOf(cm.Data))
	}
	var c dpConfig
	if err := decodeStrict([]byte(cm.Data["config.json"]), &c); err != nil {
		return nil, nil, fmt.Errorf("config.json: %w", err)
	}
	if len(c.ResourceList) == 0 {
		return nil, nil, errors.New("config.json: empty resourceList")
	}
	claimed := map[string]map[int]string{} // PF -> VF index -> pool
	for i, r := range c.ResourceList {
		where := fmt.Sprintf("config.json resourceList[%d]", i)
		switch {
		case !dpNameRe.MatchString(r.ResourceName):
			return nil, nil, fmt.Errorf("%s: resourceName %q: want letters, digits and _", where, r.ResourceName)
		case !dpPrefixRe.MatchString(r.ResourcePrefix):
			return nil, nil, fmt.Errorf("%s: resourcePrefix %q: set it, as a DNS name", where, r.ResourcePrefix)
		case r.DeviceType != "" && r.DeviceType != "netDevice":
			return nil, nil, fmt.Errorf("%s: deviceType %q: this test checks netDevice pools only", where, r.DeviceType)
		}
		pool := r.ResourcePrefix + "/" + r.ResourceName
		if slices.Contains(pools, pool) {
			return nil, nil, fmt.Errorf("%s: pool %s twice", where, pool)
		}
		pools = append(pools, pool)
		sels, err := decodeSelectors(r.Selectors)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: selectors: %w", where, err)
		}
		user := true
		for _, s := range sels {
			if err := checkSelectors(s, pool, claimed); err != nil {
				return nil, nil, fmt.Errorf("%s: selectors: %w", where, err)
			}
			user = user && len(s.Drivers) > 0 && !slices.ContainsFunc(s.Drivers, func(d string) bool {
				m, _ := attach.VFMode("", d, "")
				return m != attach.ModeUserspace
			})
		}
		if user {
			userspace = append(userspace, pool)
		}
	}
	return pools, userspace, nil
}

// decodeSelectors takes the single map every release reads and the list of
// maps newer releases also take.
func decodeSelectors(raw json.RawMessage) ([]dpNetSelectors, error) {
	if len(raw) == 0 {
		return nil, errors.New("none: the pool would take every network device")
	}
	var list []dpNetSelectors
	if raw[0] == '[' {
		if err := decodeStrict(raw, &list); err != nil {
			return nil, err
		}
	} else {
		var one dpNetSelectors
		if err := decodeStrict(raw, &one); err != nil {
			return nil, err
		}
		list = append(list, one)
	}
	if len(list) == 0 {
		return nil, errors.New("empty list")
	}
	return list, nil
}

func checkSelectors(s dpNetSelectors, pool string, claimed map[string]map[int]string) error {
	for _, v := range append(slices.Clone(s.Vendors), s.Devices...) {
		if !pciIDRe.MatchString(v) {
			return fmt.Errorf("PCI ID %q: want 4 lower-case hex digits", v)
		}
	}
	for _, d := range s.Drivers {
		if !driverRe.MatchString(d) {
			return fmt.Errorf("driver %q", d)
		}
	}
	for _, a := range append(slices.Clone(s.PCIAddresses), s.RootDevices...) {
		if !pciAddrRe.MatchString(a) {
			return fmt.Errorf("PCI address %q", a)
		}
	}
	for _, lt := range s.LinkTypes {
		if lt != "ether" && lt != "infiniband" {
			return fmt.Errorf("linkType %q: want ether or infiniband", lt)
		}
	}
	if s.VdpaType != "" && s.VdpaType != "virtio" && s.VdpaType != "vhost" {
		return fmt.Errorf("vdpaType %q: want virtio or vhost", s.VdpaType)
	}
	for _, pf := range s.PFNames {
		m := pfNameRe.FindStringSubmatch(pf)
		if m == nil {
			return fmt.Errorf(`pfNames entry %q: want "PF" or "PF#0-3,5"`, pf)
		}
		if claimed[m[1]] == nil {
			claimed[m[1]] = map[int]string{}
		}
		if m[2] == "" {
			m[2] = "0-255" // every VF of the PF
		}
		for _, part := range strings.Split(m[2], ",") {
			r := netdevRange.FindStringSubmatch(part)
			lo, _ := strconv.Atoi(r[1])
			hi := lo
			if r[2] != "" {
				hi, _ = strconv.Atoi(r[2])
			}
			if hi < lo {
				return fmt.Errorf("pfNames entry %q: range %s goes down", pf, part)
			}
			for vf := lo; vf <= hi; vf++ {
				if other, ok := claimed[m[1]][vf]; ok && other != pool {
					return fmt.Errorf("VF %d of %s is in pools %s and %s", vf, m[1], other, pool)
				}
				claimed[m[1]][vf] = pool
			}
		}
	}
	if len(s.Vendors)+len(s.Devices)+len(s.Drivers)+len(s.PCIAddresses)+len(s.PFNames)+len(s.RootDevices)+len(s.LinkTypes) == 0 {
		return errors.New("no selector: the pool would take every network device")
	}
	return nil
}

func keysOf[K ~string, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// selection is one entry of a pod's k8s.v1.cni.cncf.io/networks annotation.
type selection struct {
	Name         string         `json:"name"`
	Namespace    string         `json:"namespace,omitempty"`
	Interface    string         `json:"interface,omitempty"`
	MAC          string         `json:"mac,omitempty"`
	IPs          []string       `json:"ips,omitempty"`
	DefaultRoute []string       `json:"default-route,omitempty"`
	CNIArgs      map[string]any `json:"cni-args,omitempty"`
}

// parseNetworks reads the annotation in either of its forms: a JSON list, or
// "[ns/]name[@ifname]" items separated by commas. Multus names unnamed
// interfaces net1, net2... in order.
func parseNetworks(s, podNamespace string) ([]selection, error) {
	var sels []selection
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		if err := decodeStrict([]byte(s), &sels); err != nil {
			return nil, err
		}
	} else {
		for _, item := range strings.Split(s, ",") {
			item = strings.TrimSpace(item)
			var sel selection
			item, sel.Interface, _ = strings.Cut(item, "@")
			if ns, name, ok := strings.Cut(item, "/"); ok {
				sel.Namespace, item = ns, name
			}
			sel.Name = item
			sels = append(sels, sel)
		}
	}
	for i := range sels {
		if sels[i].Name == "" {
			return nil, fmt.Errorf("entry %d names no network", i)
		}
		if sels[i].Namespace == "" {
			sels[i].Namespace = podNamespace
		}
		if sels[i].Interface == "" {
			sels[i].Interface = fmt.Sprintf("net%d", i+1)
		}
	}
	return sels, nil
}

// envRefRe finds the $(VAR) references of a subPathExpr.
var envRefRe = regexp.MustCompile(`\$\(([^)]*)\)`)

// checkPodSpec checks what the API server would refuse or a pod would trip
// over: mounts of undeclared volumes, unused volumes, subPathExpr variables
// the container does not define, extended resources and hugepages whose
// requests differ from their limits.
func checkPodSpec(spec *corev1.PodSpec) error {
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if _, ok := volumes[v.Name]; ok {
			return fmt.Errorf("volume %s twice", v.Name)
		}
		volumes[v.Name] = false
	}
	names := map[string]bool{}
	for _, c := range allContainers(spec) {
		if names[c.Name] {
			return fmt.Errorf("container %s twice", c.Name)
		}
		names[c.Name] = true
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
		}
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				return fmt.Errorf("container %s mounts undeclared volume %s", c.Name, m.Name)
			}
			volumes[m.Name] = true
			if m.SubPath != "" && m.SubPathExpr != "" {
				return fmt.Errorf("container %s: mount %s has both subPath and subPathExpr", c.Name, m.Name)
			}
			for _, ref := range envRefRe.FindAllStringSubmatch(m.SubPathExpr, -1) {
				if !env[ref[1]] {
					return fmt.Errorf("container %s: subPathExpr %q uses $(%s), which its env lacks", c.Name, m.SubPathExpr, ref[1])
				}
			}
		}
		for _, arg := range append(slices.Clone(c.Command), c.Args...) {
			if strings.Contains(arg, "$$") {
				return fmt.Errorf("container %s: command or args hold $$, which Kubernetes turns into $ before the shell sees it", c.Name)
			}
		}
		for name, lim := range c.Resources.Limits {
			if !isExtendedOrHugepages(name) {
				continue
			}
			req, ok := c.Resources.Requests[name]
			if ok && req.Cmp(lim) != 0 {
				return fmt.Errorf("container %s: %s requests %s, limits %s: they must be equal", c.Name, name, req.String(), lim.String())
			}
		}
		for name := range c.Resources.Requests {
			if _, ok := c.Resources.Limits[name]; isExtendedOrHugepages(name) && !ok {
				return fmt.Errorf("container %s: %s is requested without a limit", c.Name, name)
			}
		}
	}
	for v, used := range volumes {
		if !used {
			return fmt.Errorf("volume %s is never mounted", v)
		}
	}
	return nil
}

func allContainers(spec *corev1.PodSpec) []*corev1.Container {
	var out []*corev1.Container
	for i := range spec.InitContainers {
		out = append(out, &spec.InitContainers[i])
	}
	for i := range spec.Containers {
		out = append(out, &spec.Containers[i])
	}
	return out
}

func isExtendedOrHugepages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) ||
		(strings.Contains(string(name), "/") && !strings.HasPrefix(string(name), "kubernetes.io/"))
}

func checkMeta(o object) error {
	m := meta(o)
	if errs := validation.IsDNS1123Subdomain(m.Name); len(errs) > 0 {
		return fmt.Errorf("name %q: %s", m.Name, strings.Join(errs, "; "))
	}
	if m.Namespace != "" {
		if errs := validation.IsDNS1123Label(m.Namespace); len(errs) > 0 {
			return fmt.Errorf("namespace %q: %s", m.Namespace, strings.Join(errs, "; "))
		}
	}
	for k, v := range m.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("label %s value %q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// fixture is every manifest, decoded and checked one by one.
type fixture struct {
	all      []object
	node     *fpnode.Settings    // from the node ConfigMap
	networks map[string]*network // by namespace/name
	pools    []string            // device plugin pools, prefix/name
	userPool []string            // those of them on userspace drivers (vfio-pci)
}

// problems collects what the checks find.
type problems []error

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Errorf(format, a...)) }

// build decodes every file strictly and checks each object on its own.
func build(files map[string][]byte) (*fixture, problems) {
	f := &fixture{networks: map[string]*network{}}
	var p problems
	for _, name := range keysOf(files) {
		objs, err := decodeFile(name, files[name])
		if err != nil {
			p = append(p, err)
			continue
		}
		f.all = append(f.all, objs...)
	}
	f.node, p = findNode(f.all, p)
	seen := map[string]object{}
	for _, o := range f.all {
		m := meta(o)
		id := o.kind + " " + namespaceOf(m) + "/" + m.Name
		if prev, ok := seen[id]; ok {
			p.add("%s: %s is defined in %s too", o, id, prev)
		}
		seen[id] = o
		if err := checkMeta(o); err != nil {
			p.add("%s: %w", o, err)
		}
		var err error
		switch v := o.obj.(type) {
		case *nad:
			var n *network
			if n, err = checkNAD(v, f.node); err == nil {
				f.networks[n.ref()] = n
			}
		case *corev1.ConfigMap:
			if v.Name == devicePluginConfigMap {
				var pools, user []string
				pools, user, err = checkDevicePlugin(v)
				f.pools = append(f.pools, pools...)
				f.userPool = append(f.userPool, user...)
			}
		case *corev1.Pod:
			err = checkPodSpec(&v.Spec)
		case *appsv1.DaemonSet:
			err = checkPodSpec(&v.Spec.Template.Spec)
		}
		if err != nil {
			p.add("%s: %w", o, err)
		}
	}
	return f, p
}

// findNode decodes the node settings of the node ConfigMap (the defaults,
// with a problem, when it is missing or bad, so that the networks are still
// checked).
func findNode(all []object, p problems) (*fpnode.Settings, problems) {
	for _, cm := range objectsOf[*corev1.ConfigMap](all) {
		if cm.Name != nodeConfigMap {
			continue
		}
		ns, err := fpnode.Parse([]byte(cm.Data["node.json"]), fpnode.DefaultPath)
		if err == nil {
			return ns, p
		}
		p.add("ConfigMap %s: %w", nodeConfigMap, err)
	}
	if len(p) == 0 {
		p.add("no ConfigMap %s with node.json", nodeConfigMap)
	}
	ns, _ := fpnode.Parse(nil, "")
	return ns, p
}

// checkAll is every check of this file over a set of manifests.
func checkAll(files map[string][]byte) problems {
	f, p := build(files)
	p = append(p, f.checkNetworks()...)
	p = append(p, f.checkPods()...)
	p = append(p, f.checkDaemonSet()...)
	p = append(p, f.checkDaemonSetImage()...)
	return p
}

// loadRepo reads and builds the manifests of this directory, failing t on
// any problem.
func loadRepo(t *testing.T) (map[string][]byte, *fixture) {
	t.Helper()
	files, err := readManifests(".")
	if err != nil {
		t.Fatal(err)
	}
	f, p := build(files)
	report(t, p)
	return files, f
}

func report(t *testing.T, p problems) {
	t.Helper()
	for _, err := range p {
		t.Error(err)
	}
}

// TestManifestsDecodeStrictly: every YAML document under deployments/ decodes
// strictly into its Kubernetes type, and each object passes its own checks
// (a NetworkAttachmentDefinition's config through fastpath's validation, the
// device plugin's config.json, pod specs).
func TestManifestsDecodeStrictly(t *testing.T) {
	_, f := loadRepo(t)
	counts := map[string]int{}
	for _, o := range f.all {
		counts[o.kind]++
	}
	t.Logf("decoded %d objects: %v", len(f.all), counts)
}

// checkNetworks: there are networks for the three ways of attaching, every
// VF network declares the CNIDeviceInfoFile capability and names a pool that
// the device plugin's config defines, every pool serving one.
func (f *fixture) checkNetworks() problems {
	var p problems
	var kernel, vfio, vhost bool
	for _, ref := range keysOf(f.networks) {
		n := f.networks[ref]
		switch {
		case n.vhost():
			vhost = true
			continue
		case f.userspace(n):
			vfio = true
		default:
			kernel = true
		}
		// After a node reboot the device plugin's device-info file is gone
		// and the kubelet restarts the pod on its VF without the plugin:
		// only fastpath's own file keeps the VF in Multus's network-status.
		if !n.conf.Capabilities["CNIDeviceInfoFile"] {
			p.add("network %s: a VF network without the CNIDeviceInfoFile capability", ref)
		}
	}
	if !kernel || !vfio || !vhost {
		p.add("want networks for a kernel VF, a vfio VF and vhost-user; have kernel %v, vfio %v, vhost-user %v", kernel, vfio, vhost)
	}
	if len(f.pools) == 0 {
		p.add("no device plugin pools")
	}
	used := map[string]bool{}
	for _, ref := range keysOf(f.networks) {
		n := f.networks[ref]
		res, ok := n.nad.Annotations[resourceKey]
		if !ok {
			continue
		}
		if !slices.Contains(f.pools, res) {
			p.add("network %s: %s %q is none of the device plugin's pools %v", ref, resourceKey, res, f.pools)
		}
		used[res] = true
	}
	for _, pool := range f.pools {
		if !used[pool] {
			p.add("device plugin pool %s: no network uses it", pool)
		}
	}
	return p
}

// userspace tells whether n draws its VFs from a pool on userspace drivers.
func (f *fixture) userspace(n *network) bool {
	return slices.Contains(f.userPool, n.nad.Annotations[resourceKey])
}

func TestNetworksAndPools(t *testing.T) {
	_, f := loadRepo(t)
	report(t, f.checkNetworks())
}

// checkPods: each pod selects networks that exist and requests the pools
// they draw VFs from; a vhost-user pod mounts its own directory of podsDir
// by its UID; a DPDK pod has hugepages.
func (f *fixture) checkPods() problems {
	var p problems
	pods := objectsOf[*corev1.Pod](f.all)
	if len(pods) == 0 {
		p.add("no example pod")
	}
	var sawVhost bool
	for _, pod := range pods {
		ann, ok := pod.Annotations[networksKey]
		if !ok {
			p.add("pod %s: no %s annotation", pod.Name, networksKey)
			continue
		}
		sels, err := parseNetworks(ann, namespaceOf(&pod.ObjectMeta))
		if err != nil {
			p.add("pod %s: %s: %w", pod.Name, networksKey, err)
			continue
		}
		want := map[corev1.ResourceName]int64{}
		var dpdk bool
		for _, sel := range sels {
			n, ok := f.networks[sel.Namespace+"/"+sel.Name]
			if !ok {
				p.add("pod %s: network %s/%s is not defined in deployments/", pod.Name, sel.Namespace, sel.Name)
				continue
			}
			if res, ok := n.nad.Annotations[resourceKey]; ok {
				want[corev1.ResourceName(res)]++
			}
			if n.vhost() {
				dpdk, sawVhost = true, true
				p = append(p, checkVhostPod(pod, n, sel.Interface)...)
			} else if f.userspace(n) {
				dpdk = true
			}
		}
		for _, res := range keysOf(want) {
			if got := podLimit(pod, res); got < want[res] {
				p.add("pod %s: its networks draw %d VF(s) from %s, it requests %d", pod.Name, want[res], res, got)
			}
		}
		if dpdk {
			p = append(p, checkHugepages(pod)...)
		}
	}
	if !sawVhost {
		p.add("no example pod on a vhost-user network")
	}
	return p
}

func TestPods(t *testing.T) {
	_, f := loadRepo(t)
	report(t, f.checkPods())
}

func podLimit(pod *corev1.Pod, res corev1.ResourceName) int64 {
	var n int64
	for _, c := range pod.Spec.Containers {
		if q, ok := c.Resources.Limits[res]; ok {
			n += q.Value()
		}
	}
	return n
}

// checkVhostPod: some container mounts the hostPath podsDir with
// subPathExpr $(POD_UID), POD_UID being the downward API's metadata.uid, and
// the socket path of the pod's interface fits a unix socket.
func checkVhostPod(pod *corev1.Pod, n *network, ifname string) problems {
	var p problems
	if _, err := n.conf.ResolveVhost(samplePodUID, ifname); err != nil {
		p.add("pod %s: interface %s on %s: %w", pod.Name, ifname, n.ref(), err)
	}
	var vols []string
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil && filepath.Clean(v.HostPath.Path) == n.podsDir() {
			vols = append(vols, v.Name)
		}
	}
	if len(vols) == 0 {
		p.add("pod %s: no hostPath volume of %s's podsDir %s", pod.Name, n.ref(), n.podsDir())
		return p
	}
	for _, c := range pod.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if !slices.Contains(vols, m.Name) {
				continue
			}
			if m.SubPathExpr != "$(POD_UID)" {
				p.add("pod %s: container %s mounts %s with subPath %q subPathExpr %q: want subPathExpr $(POD_UID), or it sees every pod's sockets", pod.Name, c.Name, m.Name, m.SubPath, m.SubPathExpr)
				return p
			}
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_UID" })
			if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.uid" {
				p.add("pod %s: container %s: POD_UID must come from the downward API's metadata.uid", pod.Name, c.Name)
			}
			if m.ReadOnly {
				p.add("pod %s: container %s mounts %s read-only: a server-role app creates its socket there", pod.Name, c.Name, m.Name)
			}
			return p
		}
	}
	p.add("pod %s: no container mounts %v", pod.Name, vols)
	return p
}

// checkHugepages: a DPDK pod requests hugepages (requests equal to limits is
// checked by checkPodSpec) with memory or cpu, and mounts a HugePages emptyDir.
func checkHugepages(pod *corev1.Pod) problems {
	var p problems
	var pages resource.Quantity
	for _, c := range pod.Spec.Containers {
		for name, q := range c.Resources.Limits {
			if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
				pages.Add(q)
				if c.Resources.Limits.Memory().IsZero() && c.Resources.Limits.Cpu().IsZero() {
					p.add("pod %s: container %s requests hugepages without memory or cpu", pod.Name, c.Name)
				}
			}
		}
	}
	if pages.IsZero() {
		p.add("pod %s: a DPDK pod without hugepages", pod.Name)
	}
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.EmptyDir != nil && strings.HasPrefix(string(v.EmptyDir.Medium), string(corev1.StorageMediumHugePages))
	}) {
		p.add("pod %s: no emptyDir with medium HugePages", pod.Name)
	}
	return p
}

// installer is the fastpath DaemonSet's install container and the host
// paths its env names.
type installer struct {
	container   *corev1.Container
	env         map[string]string
	hostOf      map[string]string // mount path -> host path
	configMapOf map[string]string // mount path -> ConfigMap name
}

func (f *fixture) findInstaller() (*installer, problems) {
	var p problems
	var dss []*appsv1.DaemonSet
	for _, ds := range objectsOf[*appsv1.DaemonSet](f.all) {
		if ds.Name == "fastpath" {
			dss = append(dss, ds)
		}
	}
	if len(dss) != 1 {
		p.add("want one DaemonSet fastpath, have %d", len(dss))
		return nil, p
	}
	ds := dss[0]
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(k8slabels.Set(ds.Spec.Template.Labels)) {
		p.add("DaemonSet fastpath: selector %v (%v) does not select its template's labels %v", sel, err, ds.Spec.Template.Labels)
	}
	spec := &ds.Spec.Template.Spec
	i := slices.IndexFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == "install" })
	if i < 0 {
		p.add("DaemonSet fastpath: no init container install")
		return nil, p
	}
	in := &installer{container: &spec.InitContainers[i], env: map[string]string{}, hostOf: map[string]string{}, configMapOf: map[string]string{}}
	hostPaths, configMaps := map[string]string{}, map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = filepath.Clean(v.HostPath.Path)
		}
		if v.ConfigMap != nil {
			configMaps[v.Name] = v.ConfigMap.Name
		}
	}
	for _, m := range in.container.VolumeMounts {
		if cm, ok := configMaps[m.Name]; ok {
			in.configMapOf[filepath.Clean(m.MountPath)] = cm
		}
		if hp, ok := hostPaths[m.Name]; ok {
			if m.SubPath != "" || m.SubPathExpr != "" || m.ReadOnly {
				p.add("install container: mount %s must be the whole host directory, writable", m.Name)
			}
			in.hostOf[filepath.Clean(m.MountPath)] = hp
		}
	}
	for _, e := range in.container.Env {
		if e.ValueFrom != nil {
			p.add("install container: env %s: want a plain value", e.Name)
		}
		in.env[e.Name] = e.Value
	}
	if c := in.container.Command; len(c) != 3 || c[0] != "/bin/sh" || c[1] != "-c" {
		p.add("install container: command %q: want /bin/sh -c SCRIPT", c)
		return nil, p
	}
	return in, p
}

// checkDaemonSet: the installer writes into the host's /opt/cni/bin, puts
// the node ConfigMap's node.json where the plugin reads it, and creates the
// state directory and the podsDir that the node settings name, each through
// a hostPath mount named by its env, and copies from where the image has
// the binaries.
func (f *fixture) checkDaemonSet() problems {
	in, p := f.findInstaller()
	if in == nil {
		return p
	}
	want := map[string]string{
		"CNI_BIN_DIR":        cniBinDir,
		"FASTPATH_STATE_DIR": f.node.StateDir,
		"FASTPATH_PODS_DIR":  f.node.VhostUser.PodsDir,
		"FASTPATH_NODE_DIR":  filepath.Dir(fpnode.DefaultPath),
	}
	if src, ok := in.configMapOf[filepath.Dir(in.env["FASTPATH_NODE_SRC"])]; !ok || src != nodeConfigMap || filepath.Base(in.env["FASTPATH_NODE_SRC"]) != "node.json" {
		p.add("install container: FASTPATH_NODE_SRC=%q is not node.json of a mount of ConfigMap %s", in.env["FASTPATH_NODE_SRC"], nodeConfigMap)
	}
	if !strings.Contains(in.container.Command[2], `"$FASTPATH_NODE_DIR/node.json"`) {
		p.add("install script never writes $FASTPATH_NODE_DIR/node.json")
	}
	for _, env := range keysOf(want) {
		mount, ok := in.env[env]
		if !ok {
			p.add("install container: no env %s", env)
			continue
		}
		if got := in.hostOf[filepath.Clean(mount)]; got != want[env] {
			p.add("install container: %s=%s is a mount of host path %q, want %s", env, mount, got, want[env])
		}
	}
	if src := in.env["FASTPATH_BIN_SRC"]; src != imageBinDir {
		p.add("install container: FASTPATH_BIN_SRC=%q, want the image's %s", src, imageBinDir)
	}
	for _, b := range binaries {
		if !strings.Contains(in.container.Command[2], b) {
			p.add("install script never names %s", b)
		}
	}
	return p
}

// checkDaemonSetImage: every container of the DaemonSet runs one image, by
// a version tag or a digest, never :latest or no tag, which IfNotPresent
// never pulls again on a node that has it; the pod runs under the runtime's
// default seccomp profile.
func (f *fixture) checkDaemonSetImage() problems {
	var p problems
	for _, ds := range objectsOf[*appsv1.DaemonSet](f.all) {
		spec := &ds.Spec.Template.Spec
		images := map[string]bool{}
		for _, c := range allContainers(spec) {
			images[c.Image] = true
		}
		for img := range images {
			name, digest, pinned := strings.Cut(img, "@")
			_, tag, tagged := strings.Cut(name[strings.LastIndexByte(name, '/')+1:], ":")
			if !(pinned && strings.HasPrefix(digest, "sha256:")) && (!tagged || tag == "latest") {
				p.add("DaemonSet %s: image %q: want a version tag or a sha256 digest", ds.Name, img)
			}
		}
		if len(images) != 1 {
			p.add("DaemonSet %s: containers run %d images, want one", ds.Name, len(images))
		}
		if sc := spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			p.add("DaemonSet %s: want seccompProfile RuntimeDefault for the pod", ds.Name)
		}
	}
	return p
}

func TestDaemonSetImage(t *testing.T) {
	_, f := loadRepo(t)
	report(t, f.checkDaemonSetImage())
}

func TestDaemonSetHostPaths(t *testing.T) {
	_, f := loadRepo(t)
	report(t, f.checkDaemonSet())
}

// TestChecksCatchMistakes proves that the checks fail on the mistakes they
// are there for, by breaking the real manifests one at a time.
func TestChecksCatchMistakes(t *testing.T) {
	files, _ := loadRepo(t)
	if p := checkAll(files); len(p) > 0 {
		t.Fatalf("the manifests have problems already: %v", errors.Join(p...))
	}
	const (
		vhostPod = "examples/pod-dpdk-vhostuser.yaml"
		vfioPod  = "examples/pod-dpdk-vfio.yaml"
		kernNAD  = "networks/sriov-netdevice.yaml"
		node     = "fastpath/node-config.yaml"
		ds       = "fastpath/daemonset.yaml"
		dp       = "sriovdp/configmap.yaml"
	)
	cases := []struct {
		file, from, to, want string
	}{
		// Typos the strict decoding catches.
		{vhostPod, "subPathExpr:", "subpathExpr:", `unknown field "spec.containers[0].volumeMounts[0].subpathExpr"`},
		{vhostPod, "hostPath:", "hostpath:", "unknown field"},
		{vhostPod, "kind: Pod", "kind: Podd", "not a kind this test knows"},
		{vhostPod, "          mountPath: /dev/hugepages\n", "          mountPath: /dev/hugepages\n          mountPath: /mnt\n", "already set"},
		{vhostPod, "hugepages-1Gi: 2Gi", "hugepages-1Gi: 2Gb", "quantities must match"},
		{ds, "apiVersion: apps/v1", "apiVersion: apps/v1beta2", "not a kind this test knows"},
		{ds, "automountServiceAccountToken: false\n---", "automountServiceAccountToken: nope\n---", "cannot unmarshal"},
		{kernNAD, `"spoofchk": "on"`, `"spoofChk": "on"`, `unknown field "spoofChk"`},
		{kernNAD, `"mtu": 9000`, `"mtu": 9000, "vlan_trunk": "10-20"`, `unknown field "vlan_trunk"`},
		{kernNAD, `"trust": "off"`, `"trust": "off", "trust": "on"`, "duplicate field"},
		{kernNAD, `"vlan": 100`, `"vlan": "100"`, "cannot unmarshal"},
		{kernNAD, `"rangeEnd"`, `"rangeStop"`, `unknown field "rangeStop"`},
		{"networks/vhostuser.yaml", `"socketRole"`, `"socketrole"`, `unknown field "vhostuser.socketrole"`},
		{"networks/sriov-vfio.yaml", `"CNIDeviceInfoFile": true`, `"CNIDeviceInfo": true`, `capability "CNIDeviceInfo"`},
		{kernNAD, `      "capabilities": { "CNIDeviceInfoFile": true },
`, "", "network default/sriov-vlan100: a VF network without the CNIDeviceInfoFile capability"},
		{dp, `"drivers": ["vfio-pci"]`, `"drivers": ["vfio-pci", "igbvf"]`, "want networks for a kernel VF, a vfio VF and vhost-user; have kernel true, vfio false"},
		{dp, `"vendors"`, `"vendor"`, `unknown field "vendor"`},
		// Values fastpath's own validation refuses.
		{kernNAD, `"trust": "off"`, `"trust": "of"`, `invalid trust "of"`},
		{kernNAD, `"vlan": 100`, `"vlan": 5000`, `invalid vlan "5000"`},
		{kernNAD, `"trust": "off"`, `"trust": "off", "link_state": "up"`, `invalid link_state "up"`},
		{kernNAD, `"logLevel": "info"`, `"logLevel": "verbose"`, `invalid logLevel "verbose"`},
		{kernNAD, `"type": "fastpath"`, `"type": "sriov"`, `want "fastpath"`},
		{kernNAD, `"subnet": "10.100.0.0/24"`, `"subnet": "10.100.0.0/33"`, "invalid CIDR"},
		{"networks/vhostuser.yaml", `"queues": 2`, `"queues": 0`, `invalid vhostuser.queues "0"`},
		{"networks/vhostuser.yaml", `"bridge": "br-dpdk"`, `"bridge": "br dpdk"`, "invalid vhostuser.bridge"},
		{"networks/vhostuser.yaml", `"bridge": "br-dpdk",`, `"bridge": "br-dpdk", "podsDir": "/var/run/fastpath/other",`, `invalid vhostuser.podsDir "/var/run/fastpath/other"`},
		{"networks/vhostuser.yaml", `"bridge": "br-dpdk",`, `"bridge": "br-dpdk", "ovsdb": "tcp:192.0.2.1:6640",`, `invalid vhostuser.ovsdb "tcp:192.0.2.1:6640"`},
		{kernNAD, `"type": "fastpath",`, `"type": "fastpath", "sysfsRoot": "/tmp/sys",`, `invalid sysfsRoot "/tmp/sys"`},
		{kernNAD, `"type": "fastpath",`, `"type": "fastpath", "logFile": "/etc/..",`, `invalid logFile "/etc/.."`},
		{node, `"podsDir": "/var/run/fastpath/pods"`, `"podsDir": "/var/run/fastpath/pods/` + strings.Repeat("x", 40) + `"`, "more than the 107"},
		{node, `"bridges": []`, `"bridges": ["br-int"]`, `invalid vhostuser.bridge "br-dpdk"`},
		{node, `"stateDir"`, `"statedir2"`, `unknown field "statedir2"`},
		// What ties the manifests together.
		{kernNAD, "    k8s.v1.cni.cncf.io/resourceName: intel.com/sriov_netdevice\n", "", "needs the k8s.v1.cni.cncf.io/resourceName annotation"},
		{kernNAD, "resourceName: intel.com/sriov_netdevice", "resourceName: intel.com/sriov_netdev", "none of the device plugin's pools"},
		{dp, `"resourceName": "sriov_vfio"`, `"resourceName": "sriov-vfio"`, "resourceName"},
		{dp, `"ens785f0#4-7"`, `"ens785f0#3-7"`, "VF 3 of ens785f0 is in pools"},
		{dp, `"devices": ["154c", "1889", "10ed", "10ca"],
            "drivers": ["vfio-pci"]`, `"devices": ["154C", "1889", "10ed", "10ca"],
            "drivers": ["vfio-pci"]`, `PCI ID "154C"`},
		{vhostPod, "subPathExpr: $(POD_UID)", "subPath: pods", "want subPathExpr $(POD_UID)"},
		{vhostPod, "fieldPath: metadata.uid", "fieldPath: metadata.name", "POD_UID must come from the downward API's metadata.uid"},
		{vhostPod, "        - name: POD_UID\n", "        - name: POD_ID\n", "which its env lacks"},
		{vhostPod, "path: /var/run/fastpath/pods", "path: /var/run/fastpath", "no hostPath volume of default/dpdk-net's podsDir"},
		{vhostPod, `"name": "dpdk-net"`, `"name": "dpdk-nett"`, "network default/dpdk-nett is not defined"},
		{vhostPod, `"interface": "net1"`, `"interface": "` + strings.Repeat("n", 50) + `"`, "more than the 107"},
		{vhostPod, "      emptyDir:\n        medium: HugePages\n", "      emptyDir: {}\n", "no emptyDir with medium HugePages"},
		{vfioPod, "      requests:\n          cpu: \"2\"\n          memory: 1Gi\n          hugepages-1Gi: 2Gi\n", "      requests:\n          cpu: \"2\"\n          memory: 1Gi\n          hugepages-1Gi: 1Gi\n", "they must be equal"},
		{vfioPod, "        requests:\n", "        requests:\n          intel.com/sriov_netdevice: \"1\"\n", "intel.com/sriov_netdevice is requested without a limit"},
		{"examples/pod-kernel-vf.yaml", "        limits:\n          memory: 32Mi\n          intel.com/sriov_netdevice: \"1\"\n", "        limits:\n          memory: 32Mi\n", "draw 1 VF(s) from intel.com/sriov_netdevice, it requests 0"},
		{ds, "path: /opt/cni/bin", "path: /usr/libexec/cni", "CNI_BIN_DIR=/host/opt/cni/bin is a mount of host path \"/usr/libexec/cni\""},
		{ds, "path: /var/lib/cni/fastpath", "path: /var/lib/cni/fp", "want /var/lib/cni/fastpath"},
		{ds, "value: /opt/fastpath/bin", "value: /opt/bin", "FASTPATH_BIN_SRC"},
		{ds, `bins="fastpath fastpathctl"`, `bins="fastpath"`, "install script never names fastpathctl"},
		{ds, `.fastpath-install.$bin"`, `.fastpath-install.$bin.$$"`, "hold $$"},
		{ds, "      app.kubernetes.io/name: fastpath\n  updateStrategy:", "      app.kubernetes.io/name: fastpathd\n  updateStrategy:", "does not select its template's labels"},
		{"networks/vhostuser.yaml", `"mode": "vhostuser",`, `"mode": "vhostuser", "stateDir": "/run/fastpath",`, `invalid stateDir "/run/fastpath"`},
		{node, `"stateDir": "/var/lib/cni/fastpath"`, `"stateDir": "/var/lib/fastpath"`, "want /var/lib/fastpath"},
		{ds, "path: /etc/fastpath\n", "path: /etc/fp\n", "want /etc/fastpath"},
		{ds, "name: fastpath-node", "name: fastpath-nodes", "not node.json of a mount of ConfigMap fastpath-node"},
		{ds, "fastpath:v0.2.0\n          imagePullPolicy: IfNotPresent\n          env:", "fastpath:latest\n          imagePullPolicy: IfNotPresent\n          env:", "want a version tag or a sha256 digest"},
		{ds, "fastpath:v0.2.0\n          imagePullPolicy: IfNotPresent\n          command:", "fastpath:v0.1.0\n          imagePullPolicy: IfNotPresent\n          command:", "containers run 2 images, want one"},
		{ds, "type: RuntimeDefault", "type: Unconfined", "seccompProfile RuntimeDefault"},
	}
	for _, c := range cases {
		t.Run(c.file+":"+c.to, func(t *testing.T) {
			data, ok := files[c.file]
			if !ok {
				t.Fatalf("no manifest %s", c.file)
			}
			if !bytes.Contains(data, []byte(c.from)) {
				t.Fatalf("%s no longer contains %q: update this case", c.file, c.from)
			}
			broken := maps.Clone(files)
			broken[c.file] = bytes.Replace(data, []byte(c.from), []byte(c.to), 1)
			p := checkAll(broken)
			if !slices.ContainsFunc(p, func(err error) bool { return strings.Contains(err.Error(), c.want) }) {
				t.Fatalf("%q -> %q: want an error with %q, have %v", c.from, c.to, c.want, errors.Join(p...))
			}
		})
	}
}

// TestInstallScript runs the DaemonSet's install script, with its directories
// moved under a temporary one: both binaries land executable, an old one is
// replaced by a rename (never written in place), no temporary file is left,
// the state directory is 0700; a missing binary fails the install.
func TestInstallScript(t *testing.T) {
	_, f := loadRepo(t)
	in, p := f.findInstaller()
	report(t, p)
	if in == nil {
		t.FailNow()
	}
	script := expand(in.container.Command[2], in.env)
	shells := [][]string{{"/bin/sh"}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{bb, "sh"}) // the image's shell
	}
	for _, sh := range shells {
		t.Run(filepath.Base(strings.Join(sh, " ")), func(t *testing.T) {
			root := t.TempDir()
			env := map[string]string{}
			for k, v := range in.env {
				env[k] = filepath.Join(root, v)
			}
			src, dst := env["FASTPATH_BIN_SRC"], env["CNI_BIN_DIR"]
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			nodeJSON := []byte(`{"stateDir":"/var/lib/cni/fastpath"}`)
			if err := os.MkdirAll(filepath.Dir(env["FASTPATH_NODE_SRC"]), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(env["FASTPATH_NODE_SRC"], nodeJSON, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, b := range binaries {
				// A stand-in that answers CNI_COMMAND=VERSION like the plugin.
				body := fmt.Sprintf("#!/bin/sh\n# %s new\necho '{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.1.0\"]}'\n", b)
				if err := os.WriteFile(filepath.Join(src, b), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			old := filepath.Join(dst, "fastpath")
			if err := os.WriteFile(old, []byte("#!/bin/sh\n# old\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			oldInfo, err := os.Stat(old)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, ".fastpath-install.fastpath"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			for round := 1; round <= 2; round++ {
				if out, err := runScript(sh, script, env); err != nil {
					t.Fatalf("round %d: %v\n%s", round, err, out)
				}
			}
			for _, b := range binaries {
				p := filepath.Join(dst, b)
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o755 {
					t.Errorf("%s: mode %v, want 0755", b, st.Mode().Perm())
				}
				got, _ := os.ReadFile(p)
				want, _ := os.ReadFile(filepath.Join(src, b))
				if !bytes.Equal(got, want) {
					t.Errorf("%s: installed content differs from the image's", b)
				}
			}
			if newInfo, err := os.Stat(old); err == nil && os.SameFile(oldInfo, newInfo) {
				t.Error("the old fastpath was overwritten in place, not replaced by a rename")
			}
			ents, _ := os.ReadDir(dst)
			for _, e := range ents {
				if !slices.Contains(binaries, e.Name()) {
					t.Errorf("left in the CNI bin directory: %s", e.Name())
				}
			}
			if st, err := os.Stat(env["FASTPATH_STATE_DIR"]); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("state directory: %v %v, want mode 0700", st, err)
			}
			if st, err := os.Stat(env["FASTPATH_PODS_DIR"]); err != nil || !st.IsDir() {
				t.Errorf("pods directory: %v", err)
			}
			installed := filepath.Join(env["FASTPATH_NODE_DIR"], "node.json")
			if b, err := os.ReadFile(installed); err != nil || !bytes.Equal(b, nodeJSON) {
				t.Errorf("node file %s: %q, %v; want the ConfigMap's %s", installed, b, err, nodeJSON)
			}
			if ents, _ := os.ReadDir(env["FASTPATH_NODE_DIR"]); len(ents) != 1 {
				t.Errorf("left in the node directory: %v", ents)
			}

			// A plugin that cannot run on the node (wrong architecture,
			// a broken build) fails the install before it replaces the
			// working one.
			working, _ := os.ReadFile(filepath.Join(dst, "fastpath"))
			if err := os.WriteFile(filepath.Join(src, "fastpath"), []byte("#!/bin/sh\nexit 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runScript(sh, script, env); err == nil {
				t.Errorf("the install succeeded with a plugin that fails VERSION:\n%s", out)
			}
			if got, _ := os.ReadFile(filepath.Join(dst, "fastpath")); !bytes.Equal(got, working) {
				t.Errorf("a plugin that fails VERSION replaced the working one: %q", got)
			}
			if err := os.WriteFile(filepath.Join(src, "fastpath"), working, 0o644); err != nil {
				t.Fatal(err)
			}

			if err := os.Remove(filepath.Join(src, "fastpathctl")); err != nil {
				t.Fatal(err)
			}
			if out, err := runScript(sh, script, env); err == nil {
				t.Errorf("the install succeeded without fastpathctl in the image:\n%s", out)
			}
		})
	}
}

// TestContainerfile: the image builds every binary the DaemonSet installs,
// statically (CGO_ENABLED=0), from a command that exists, and its final
// stage puts them where the DaemonSet copies them from.
func TestContainerfile(t *testing.T) {
	insts, err := parseContainerfile("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []int
	for i, in := range insts {
		if in[0] == "FROM" {
			froms = append(froms, i)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a builder stage and a final stage, have %d FROM", len(froms))
	}
	var build string
	for _, in := range insts[:froms[len(froms)-1]] {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			build = in[1]
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") {
		t.Errorf("go build without CGO_ENABLED=0: %q", build)
	}
	for _, b := range binaries {
		if !strings.Contains(build, "./cmd/"+b) {
			t.Errorf("the builder does not build ./cmd/%s", b)
		}
	}
	for _, m := range regexp.MustCompile(`\./cmd/([a-z0-9_-]+)`).FindAllStringSubmatch(build, -1) {
		if st, err := os.Stat(filepath.Join("..", "cmd", m[1])); err != nil || !st.IsDir() {
			t.Errorf("the builder builds ./cmd/%s, which does not exist", m[1])
		}
	}
	var copied []string
	for _, in := range insts[froms[len(froms)-1]:] {
		if in[0] != "COPY" || !strings.HasPrefix(in[1], "--from=") {
			continue
		}
		args := strings.Fields(in[1])
		dst := args[len(args)-1]
		if filepath.Clean(dst) != imageBinDir || !strings.HasSuffix(dst, "/") {
			t.Errorf("final stage copies to %q, want %s/", dst, imageBinDir)
		}
		for _, a := range args[1 : len(args)-1] {
			copied = append(copied, filepath.Base(a))
		}
	}
	sort.Strings(copied)
	if want := slices.Sorted(slices.Values(binaries)); !slices.Equal(copied, want) {
		t.Errorf("final stage holds %v, want %v", copied, want)
	}
}

// parseContainerfile returns the instructions as [keyword, rest], with line
// continuations joined and comments dropped.
func parseContainerfile(path string) ([][2]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		kw, rest, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.Join(strings.Fields(rest), " ")})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, errors.New("Containerfile ends in a line continuation")
	}
	return out, nil
}

// runScript runs script as the container's "/bin/sh -c" would, with only env
// and a PATH.
func runScript(sh []string, script string, env map[string]string) ([]byte, error) {
	cmd := exec.Command(sh[0], append(sh[1:], "-c", script)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd.CombinedOutput()
}

// TestDocsExamples runs every fastpath config in docs/*.md and README.md
// through the same strict decoding and validation as the
// NetworkAttachmentDefinitions, and decodes every YAML example strictly: a
// manifest into the type of its kind, a fragment without a kind (metadata
// and spec of a pod) into a Pod.
func TestDocsExamples(t *testing.T) {
	_, f := loadRepo(t)
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../README.md")
	block := regexp.MustCompile("(?s)```(json|yaml)\n(.*?)```")
	checked, yamls := 0, 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(data, -1) {
			if string(m[1]) == "yaml" {
				yamls++
				if err := checkDocYAML(doc, m[2]); err != nil {
					t.Errorf("%s: %v\n%s", doc, err, m[2])
				}
				continue
			}
			var head struct{ Type, Name string }
			if err := json.Unmarshal(m[2], &head); err != nil {
				t.Errorf("%s: a json block that is not JSON: %v\n%s", doc, err, m[2])
				continue
			}
			if head.Type != "fastpath" {
				continue
			}
			n := &nad{ObjectMeta: metav1.ObjectMeta{
				Name:        head.Name,
				Annotations: map[string]string{resourceKey: "example.com/pool"},
			}, Spec: nadSpec{Config: string(m[2])}}
			if _, err := checkNAD(n, f.node); err != nil {
				t.Errorf("%s: %v\n%s", doc, err, m[2])
			}
			checked++
		}
	}
	if checked == 0 || yamls == 0 {
		t.Errorf("checked %d fastpath configs and %d YAML blocks in %v: want some of each", checked, yamls, docs)
	}
	t.Logf("checked %d fastpath configs and %d YAML blocks in %v", checked, yamls, docs)
}

// checkDocYAML decodes one YAML block of a document strictly.
func checkDocYAML(doc string, y []byte) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return err
	}
	if tm.Kind == "" {
		return decodeStrict(j, &corev1.Pod{})
	}
	_, err = decodeFile(doc, y)
	return err
}

// expand does to a command what the kubelet does before running it: $(VAR)
// becomes the container's env value when VAR is defined there and stays as
// it is otherwise; $$ becomes $.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x"}
	for in, want := range map[string]string{
		"$(A)/$(B)":                 "x/$(B)",
		"$$(A) $$ $1 $":             "$(A) $ $1 $",
		"$(echo $(A)) $(":           "$(echo $(A)) $(",
		"\"$(awk '{print $2}' f)\"": "\"$(awk '{print $2}' f)\"",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}
