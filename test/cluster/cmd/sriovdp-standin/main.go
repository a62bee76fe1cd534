// Command sriovdp-standin is test code: a device plugin on the kubelet's
// device-plugin API (v1beta1) that stands in for the SR-IOV network device
// plugin (k8snetworkplumbingwg/sriov-network-device-plugin), which the Go
// module proxy of the test machines does not serve. Production nodes run the
// real plugin; this one does only what that plugin does for the project's
// deployments/sriovdp ConfigMap, so that the kubelet's device manager, Multus
// and fastpath meet the same resources, environment and files as there:
//
//   - it reads config.json of the ConfigMap through the API server;
//   - each resourceList entry is a resource <resourcePrefix>/<resourceName>
//     whose devices are the PCI addresses of the VFs that match its selectors
//     (vendors, devices, drivers, pfNames with a "#first-last" VF range);
//   - Allocate sets PCIDEVICE_<RESOURCE> to the allocated PCI addresses and
//     writes each VF's NPWG device-info file (type "pci") for Multus; a VF
//     bound to vfio-pci gets /dev/vfio/vfio and its /dev/vfio/<group> mounted.
//
// The kubelet deletes the plugins' sockets when it restarts; the stand-in then
// serves and registers again, as the real plugin does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	nadutils "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/utils"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	dp "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// config is the part of the SR-IOV network device plugin's config.json that
// deployments/sriovdp uses.
type config struct {
	ResourceList []resourceConfig `json:"resourceList"`
}

type resourceConfig struct {
	ResourceName   string    `json:"resourceName"`
	ResourcePrefix string    `json:"resourcePrefix"`
	DeviceType     string    `json:"deviceType"`
	Selectors      selectors `json:"selectors"`
}

type selectors struct {
	Vendors []string `json:"vendors"`
	Devices []string `json:"devices"`
	Drivers []string `json:"drivers"`
	PfNames []string `json:"pfNames"`
}

// vf is one SR-IOV virtual function as sysfs shows it.
type vf struct {
	pci, pfPCI, pfName, vendor, device, driver string
	index                                      int
}

const pciDevices = "/sys/bus/pci/devices"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	cm := flag.String("configmap", "kube-system/sriovdp-config", "namespace/name of the ConfigMap with config.json")
	flag.Parse()
	if err := run(*kubeconfig, *cm); err != nil {
		slog.Error("sriovdp-standin", "err", err)
		os.Exit(1)
	}
}

func run(kubeconfig, cm string) error {
	ns, name, ok := strings.Cut(cm, "/")
	if !ok {
		return fmt.Errorf("-configmap %q: want namespace/name", cm)
	}
	cfg, err := loadConfig(kubeconfig, ns, name)
	if err != nil {
		return err
	}
	vfs, err := scanVFs()
	if err != nil {
		return err
	}
	ctx := context.Background()
	for _, rc := range cfg.ResourceList {
		p := &plugin{resource: rc.ResourcePrefix + "/" + rc.ResourceName}
		for _, v := range vfs {
			if rc.Selectors.match(v) {
				p.vfs = append(p.vfs, v)
			}
		}
		slog.Info("resource", "name", p.resource, "devices", len(p.vfs))
		go p.serve(ctx)
	}
	select {}
}

func loadConfig(kubeconfig, ns, name string) (*config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	// The ConfigMap is applied by the test bed while the node comes up.
	var m map[string]string
	for {
		obj, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			m = obj.Data
			break
		}
		slog.Info("waiting for the ConfigMap", "namespace", ns, "name", name, "err", err)
		time.Sleep(2 * time.Second)
	}
	var c config
	if err := json.Unmarshal([]byte(m["config.json"]), &c); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s config.json: %w", ns, name, err)
	}
	return &c, nil
}

// scanVFs lists every VF of the node's PCI bus.
func scanVFs() ([]vf, error) {
	ents, err := os.ReadDir(pciDevices)
	if err != nil {
		return nil, fmt.Errorf("list PCI devices: %w", err)
	}
	var out []vf
	for _, e := range ents {
		dir := filepath.Join(pciDevices, e.Name())
		pf, err := os.Readlink(filepath.Join(dir, "physfn"))
		if err != nil {
			continue // not a VF
		}
		v := vf{pci: e.Name(), pfPCI: filepath.Base(pf), index: -1}
		pfDir := filepath.Join(pciDevices, v.pfPCI)
		if nets, err := os.ReadDir(filepath.Join(pfDir, "net")); err == nil && len(nets) > 0 {
			v.pfName = nets[0].Name()
		}
		links, _ := filepath.Glob(filepath.Join(pfDir, "virtfn*"))
		for _, l := range links {
			if t, err := os.Readlink(l); err == nil && filepath.Base(t) == v.pci {
				v.index, _ = strconv.Atoi(strings.TrimPrefix(filepath.Base(l), "virtfn"))
			}
		}
		v.vendor = readHex(filepath.Join(dir, "vendor"))
		v.device = readHex(filepath.Join(dir, "device"))
		if d, err := os.Readlink(filepath.Join(dir, "driver")); err == nil {
			v.driver = filepath.Base(d)
		}
		out = append(out, v)
	}
	return out, nil
}

// readHex reads a sysfs ID such as "0x10ca" as "10ca", the form of the selectors.
func readHex(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")
}

func (s selectors) match(v vf) bool {
	if len(s.Vendors) > 0 && !slices.Contains(s.Vendors, v.vendor) {
		return false
	}
	if len(s.Devices) > 0 && !slices.Contains(s.Devices, v.device) {
		return false
	}
	if len(s.Drivers) > 0 && !slices.Contains(s.Drivers, v.driver) {
		return false
	}
	if len(s.PfNames) == 0 {
		return true
	}
	for _, p := range s.PfNames {
		name, rng, hasRange := strings.Cut(p, "#")
		if name != v.pfName {
			continue
		}
		if !hasRange {
			return true
		}
		first, last, _ := strings.Cut(rng, "-")
		lo, err1 := strconv.Atoi(first)
		hi, err2 := strconv.Atoi(last)
		if err1 == nil && err2 == nil && v.index >= lo && v.index <= hi {
			return true
		}
	}
	return false
}

// plugin serves one resource pool.
type plugin struct {
	dp.UnimplementedDevicePluginServer
	resource string
	vfs      []vf
}

// socket is the plugin's endpoint in the kubelet's device-plugin directory.
func (p *plugin) socket() string {
	return filepath.Join(dp.DevicePluginPath, "sriovdp-standin-"+strings.ReplaceAll(p.resource, "/", "_")+".sock")
}

// serve serves the pool and registers it with the kubelet, again whenever the
// kubelet (on restart) has removed the socket.
func (p *plugin) serve(ctx context.Context) {
	for {
		srv, err := p.start(ctx)
		if err != nil {
			slog.Error("serve", "resource", p.resource, "err", err)
			time.Sleep(2 * time.Second)
			continue
		}
		for {
			time.Sleep(time.Second)
			if _, err := os.Stat(p.socket()); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
		slog.Info("socket removed (kubelet restarted?), registering again", "resource", p.resource)
		srv.Stop()
	}
}

func (p *plugin) start(ctx context.Context) (*grpc.Server, error) {
	sock := p.socket()
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", sock, err)
	}
	srv := grpc.NewServer()
	dp.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(l) }()

	conn, err := grpc.NewClient("unix://"+dp.KubeletSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("kubelet socket: %w", err)
	}
	defer conn.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = dp.NewRegistrationClient(conn).Register(rctx, &dp.RegisterRequest{
		Version:      dp.Version,
		Endpoint:     filepath.Base(sock),
		ResourceName: p.resource,
	})
	if err != nil {
		srv.Stop()
		return nil, fmt.Errorf("register %s: %w", p.resource, err)
	}
	slog.Info("registered", "resource", p.resource, "endpoint", sock)
	return srv, nil
}

func (p *plugin) GetDevicePluginOptions(context.Context, *dp.Empty) (*dp.DevicePluginOptions, error) {
	return &dp.DevicePluginOptions{}, nil
}

// ListAndWatch sends the pool once; VFs do not come and go in the test bed.
func (p *plugin) ListAndWatch(_ *dp.Empty, s grpc.ServerStreamingServer[dp.ListAndWatchResponse]) error {
	resp := &dp.ListAndWatchResponse{}
	for _, v := range p.vfs {
		resp.Devices = append(resp.Devices, &dp.Device{ID: v.pci, Health: dp.Healthy})
	}
	if err := s.Send(resp); err != nil {
		return fmt.Errorf("send devices: %w", err)
	}
	<-s.Context().Done()
	return nil
}

// envName is the variable the SR-IOV network device plugin sets: PCIDEVICE_
// and the resource name in capitals with "." and "/" as "_".
func (p *plugin) envName() string {
	return "PCIDEVICE_" + strings.ToUpper(strings.NewReplacer(".", "_", "/", "_").Replace(p.resource))
}

func (p *plugin) Allocate(_ context.Context, req *dp.AllocateRequest) (*dp.AllocateResponse, error) {
	resp := &dp.AllocateResponse{}
	for _, creq := range req.ContainerRequests {
		cresp := &dp.ContainerAllocateResponse{
			Envs: map[string]string{p.envName(): strings.Join(creq.DevicesIds, ",")},
		}
		for _, id := range creq.DevicesIds {
			i := slices.IndexFunc(p.vfs, func(v vf) bool { return v.pci == id })
			if i < 0 {
				return nil, fmt.Errorf("allocate %s: unknown device %q", p.resource, id)
			}
			v := p.vfs[i]
			if v.driver == "vfio-pci" {
				group, err := os.Readlink(filepath.Join(pciDevices, v.pci, "iommu_group"))
				if err != nil {
					return nil, fmt.Errorf("allocate %s: iommu group of %s: %w", p.resource, v.pci, err)
				}
				for _, dev := range []string{"/dev/vfio/vfio", "/dev/vfio/" + filepath.Base(group)} {
					if !slices.ContainsFunc(cresp.Devices, func(d *dp.DeviceSpec) bool { return d.HostPath == dev }) {
						cresp.Devices = append(cresp.Devices, &dp.DeviceSpec{HostPath: dev, ContainerPath: dev, Permissions: "rw"})
					}
				}
			}
			info := &nadv1.DeviceInfo{Type: nadv1.DeviceInfoTypePCI, Version: nadv1.DeviceInfoVersion,
				Pci: &nadv1.PciDevice{PciAddress: v.pci, PfPciAddress: v.pfPCI}}
			// A VF allocated before left its file (nothing removes it when the
			// pod goes): replaced, as the SR-IOV network device plugin does.
			if err := nadutils.CleanDeviceInfoForDP(p.resource, v.pci); err != nil {
				return nil, fmt.Errorf("allocate %s: old device-info of %s: %w", p.resource, v.pci, err)
			}
			if err := nadutils.SaveDeviceInfoForDP(p.resource, v.pci, info); err != nil {
				return nil, fmt.Errorf("allocate %s: device-info of %s: %w", p.resource, v.pci, err)
			}
		}
		slog.Info("allocate", "resource", p.resource, "devices", creq.DevicesIds)
		resp.ContainerResponses = append(resp.ContainerResponses, cresp)
	}
	return resp, nil
}
