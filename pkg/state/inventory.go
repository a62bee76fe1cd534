package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Whole-store listings, for tools that look at every network at once
// (fastpathctl). They only read.

// ListAll returns the keys of every network's records, sorted.
func (s Store) ListAll() ([]string, error) {
	nets, err := s.networks()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, n := range nets {
		k, err := s.List(n)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	sort.Strings(keys)
	return keys, nil
}

// Quarantined returns the keys of the records set aside as corrupt
// (<key>.corrupt), sorted.
func (s Store) Quarantined() ([]string, error) {
	nets, err := s.networks()
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, n := range nets {
		ents, err := os.ReadDir(filepath.Join(s.Dir, "attachments", n))
		if err != nil {
			return nil, fmt.Errorf("listing records of %s: %w", n, err)
		}
		for _, e := range ents {
			if name, ok := strings.CutSuffix(e.Name(), ".corrupt"); ok {
				keys = append(keys, n+"/"+name)
			}
		}
	}
	sort.Strings(keys)
	return keys, nil
}

// RecordPath is the file that holds key's record; with the suffix
// ".corrupt" instead of ".json", its quarantined copy.
func (s Store) RecordPath(key string) string { return s.recordPath(key) }

// ClaimPath is the claim symlink of device.
func (s Store) ClaimPath(device string) string { return s.claimPath(device) }

// Claims returns every device claim: device name -> owner key.
func (s Store) Claims() (map[string]string, error) {
	dir := filepath.Join(s.Dir, "devices")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing claims: %w", err)
	}
	claims := make(map[string]string, len(ents))
	for _, e := range ents {
		owner, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // not a claim (no symlink): nothing of ours
		}
		claims[e.Name()] = owner
	}
	return claims, nil
}

func (s Store) networks() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.Dir, "attachments"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	var nets []string
	for _, e := range ents {
		if e.IsDir() {
			nets = append(nets, e.Name())
		}
	}
	return nets, nil
}
