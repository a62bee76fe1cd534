// Command mkimages builds the test bed's container images as image archives
// without a container engine, for `ctr images import` on the node:
//
//   - the pod sandbox image (the pause binary given),
//   - the test image: busybox-static with its applets,
//   - the project's image as the Containerfile describes it: the busybox base
//     with fastpath and fastpathctl under /opt/fastpath/bin.
//
// Usage: mkimages -out DIR -busybox PATH -pause PATH -fastpath-bin DIR -tag TAG
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Image names the test bed and deployments/ use.
const (
	PauseImage    = "registry.k8s.io/pause:3.10"
	TestImage     = "localhost/fastpath-test:latest"
	FastpathImage = "ghcr.io/fastpath-cni/fastpath"
)

func main() {
	out := flag.String("out", "", "output directory")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary")
	pause := flag.String("pause", "", "pause binary")
	fpBin := flag.String("fastpath-bin", "", "directory with fastpath and fastpathctl")
	tags := flag.String("tags", "latest", "comma-separated tags of the fastpath image")
	flag.Parse()
	if err := run(*out, *busybox, *pause, *fpBin, strings.Split(*tags, ",")); err != nil {
		slog.Error("mkimages", "err", err)
		os.Exit(1)
	}
}

// file is one entry of a layer: a regular file (src set), directory or symlink.
type file struct {
	path, src, link string
	dir             bool
}

func run(out, busybox, pause, fpBin string, tags []string) error {
	bb, err := busyboxLayer(busybox)
	if err != nil {
		return err
	}
	pauseImg, err := image([]v1.Layer{mustLayer(file{path: "pause", src: pause})}, []string{"/pause"}, nil)
	if err != nil {
		return err
	}
	testImg, err := image([]v1.Layer{bb}, []string{"/bin/sh"}, nil)
	if err != nil {
		return err
	}
	fpLayer, err := layer([]file{
		{path: "opt", dir: true}, {path: "opt/fastpath", dir: true}, {path: "opt/fastpath/bin", dir: true},
		{path: "opt/fastpath/bin/fastpath", src: filepath.Join(fpBin, "fastpath")},
		{path: "opt/fastpath/bin/fastpathctl", src: filepath.Join(fpBin, "fastpathctl")},
	})
	if err != nil {
		return err
	}
	fpImg, err := image([]v1.Layer{bb, fpLayer}, []string{"sh"}, map[string]string{
		"org.opencontainers.image.title":       "fastpath",
		"org.opencontainers.image.description": "CNI plugin for SR-IOV VFs and vhost-user sockets; installer image",
		"org.opencontainers.image.source":      "https://github.com/fastpath-cni/fastpath",
	})
	if err != nil {
		return err
	}
	fp := map[name.Reference]v1.Image{}
	for _, t := range tags {
		ref, err := name.ParseReference(FastpathImage + ":" + t)
		if err != nil {
			return fmt.Errorf("tag %q: %w", t, err)
		}
		fp[ref] = fpImg
	}
	for f, refs := range map[string]map[name.Reference]v1.Image{
		"pause.tar":    {name.MustParseReference(PauseImage): pauseImg},
		"test.tar":     {name.MustParseReference(TestImage): testImg},
		"fastpath.tar": fp,
	} {
		if err := tarball.MultiRefWriteToFile(filepath.Join(out, f), refs); err != nil {
			return fmt.Errorf("write %s: %w", f, err)
		}
	}
	return nil
}

// busyboxLayer is /bin/busybox with a link per applet, as the busybox image has.
func busyboxLayer(busybox string) (v1.Layer, error) {
	list, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	files := []file{{path: "bin", dir: true}, {path: "sbin", dir: true}, {path: "usr", dir: true},
		{path: "usr/bin", dir: true}, {path: "usr/sbin", dir: true}, {path: "tmp", dir: true},
		{path: "etc", dir: true}, {path: "bin/busybox", src: busybox}}
	for _, a := range strings.Fields(string(list)) {
		if a != "bin/busybox" {
			files = append(files, file{path: a, link: "/bin/busybox"})
		}
	}
	return layer(files)
}

func mustLayer(f file) v1.Layer {
	l, err := layer([]file{f})
	if err != nil {
		slog.Error("layer", "err", err)
		os.Exit(1)
	}
	return l
}

// layer packs files into an uncompressed tar layer in memory (a few MB).
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: 0o755, Uid: 0, Gid: 0}
		var data []byte
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			b, err := os.ReadFile(f.src)
			if err != nil {
				return nil, fmt.Errorf("layer file %s: %w", f.path, err)
			}
			h.Typeflag, h.Size, data = tar.TypeReg, int64(len(b)), b
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func image(layers []v1.Layer, cmd []string, labels map[string]string) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Labels = labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}
