// Package devinfo writes the device-info files of the Network Plumbing
// Working Group's device-info specification (version 1.1.0): how a pod's app
// learns which PCI device or vhost-user socket it was given, without asking
// an API server. The runtime names the file through the CNIDeviceInfoFile
// capability; fastpath writes it on ADD and removes it on DEL.
package devinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the device-info specification version written.
const Version = "1.1.0"

// Info is one device-info file.
type Info struct {
	Type      string     `json:"type"`
	Version   string     `json:"version"`
	PCI       *PCI       `json:"pci,omitempty"`
	VhostUser *VhostUser `json:"vhost-user,omitempty"`
}

// PCI describes a PCI device (type "pci").
type PCI struct {
	PCIAddress   string `json:"pci-address"`
	PFPCIAddress string `json:"pf-pci-address,omitempty"`
}

// VhostUser describes a vhost-user socket (type "vhost-user"); Mode is the
// role of the app's side, "client" or "server".
type VhostUser struct {
	Mode string `json:"mode"`
	Path string `json:"path"`
}

// ForPCI is the info of a VF.
func ForPCI(pci, pfPCI string) Info {
	return Info{Type: "pci", Version: Version, PCI: &PCI{PCIAddress: pci, PFPCIAddress: pfPCI}}
}

// ForVhostUser is the info of a vhost-user socket.
func ForVhostUser(mode, path string) Info {
	return Info{Type: "vhost-user", Version: Version, VhostUser: &VhostUser{Mode: mode, Path: path}}
}

// Write writes info to path atomically, creating its directory.
func Write(path string, info Info) error {
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encoding device info: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".devinfo-*")
	if err != nil {
		return fmt.Errorf("writing device info: %w", err)
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644) // the pod's app reads it
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing device info %s: %w", path, err)
	}
	return nil
}

// Read reads a device-info file.
func Read(path string) (*Info, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading device info: %w", err)
	}
	info := &Info{}
	if err := json.Unmarshal(b, info); err != nil {
		return nil, fmt.Errorf("decoding device info %s: %w", path, err)
	}
	return info, nil
}

// Remove deletes a device-info file; a missing one is fine.
func Remove(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing device info %s: %w", path, err)
	}
	return nil
}
