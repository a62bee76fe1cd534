package main

import (
	"encoding/json"
	"io"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// printResult writes res in the config's CNI version, byte for byte as
// types.PrintResult would. For the 1.x versions it skips the CNI library's
// Result.MarshalJSON, which marshals, decodes into a map and marshals again,
// encoding/json building encoders for five types on the way: 15% of a vfio
// ADD's CPU in the emulated guest. Older versions, which need converting, go
// through the library. TestPrintResultIsTheLibrarys holds the two to the
// same bytes.
func printResult(w io.Writer, res *current.Result, version string) error {
	if version != "1.0.0" && version != "1.1.0" {
		r, err := res.GetAsVersion(version)
		if err != nil {
			return err
		}
		return r.PrintTo(w)
	}
	b, err := json.MarshalIndent(resultTree(res, version), "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// resultTree is res as the library's MarshalJSON leaves it before its last
// step: maps (so keys come out sorted), numbers as float64, empty members
// left out, no "dns" when it is empty.
func resultTree(res *current.Result, version string) map[string]any {
	m := map[string]any{"cniVersion": version}
	if len(res.Interfaces) > 0 {
		m["interfaces"] = list(res.Interfaces, func(i *current.Interface) map[string]any {
			o := map[string]any{"name": i.Name}
			put(o, "mac", i.Mac)
			put(o, "sandbox", i.Sandbox)
			put(o, "socketPath", i.SocketPath)
			put(o, "pciID", i.PciID)
			if i.Mtu != 0 {
				o["mtu"] = float64(i.Mtu)
			}
			return o
		})
	}
	if len(res.IPs) > 0 {
		m["ips"] = list(res.IPs, func(ip *current.IPConfig) map[string]any {
			o := map[string]any{"address": ip.Address.String()}
			if ip.Interface != nil {
				o["interface"] = float64(*ip.Interface)
			}
			if len(ip.Gateway) > 0 {
				o["gateway"] = ip.Gateway.String()
			}
			return o
		})
	}
	if len(res.Routes) > 0 {
		m["routes"] = list(res.Routes, func(r *types.Route) map[string]any {
			o := map[string]any{"dst": r.Dst.String()}
			if len(r.GW) > 0 {
				o["gw"] = r.GW.String()
			}
			for k, v := range map[string]int{"mtu": r.MTU, "advmss": r.AdvMSS, "priority": r.Priority} {
				if v != 0 {
					o[k] = float64(v)
				}
			}
			if r.Table != nil {
				o["table"] = float64(*r.Table)
			}
			if r.Scope != nil {
				o["scope"] = float64(*r.Scope)
			}
			return o
		})
	}
	if d := res.DNS; !d.IsEmpty() {
		o := map[string]any{}
		put(o, "domain", d.Domain)
		for k, v := range map[string][]string{"nameservers": d.Nameservers, "search": d.Search, "options": d.Options} {
			if len(v) > 0 {
				o[k] = v
			}
		}
		m["dns"] = o
	}
	return m
}

func put(o map[string]any, k, v string) {
	if v != "" {
		o[k] = v
	}
}

func list[T any](s []*T, f func(*T) map[string]any) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = f(e)
	}
	return out
}
