package dpdk

import (
	"context"
	"fmt"
)

// ListPortsWithKey returns the ports whose external_ids hold key, whatever
// its value, sorted by name: for example every port that any fastpath
// network made. OVSDB has no condition on a map key alone, so this selects
// every port and filters here.
func (o *OVS) ListPortsWithKey(ctx context.Context, key string) ([]PortInfo, error) {
	all := condition{"_uuid", "!=", uuid("00000000-0000-0000-0000-000000000000")}
	infos, err := o.queryPorts(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("ovsdb: list ports with external_ids:%s: %w", key, err)
	}
	out := infos[:0]
	for _, p := range infos {
		if _, ok := p.ExternalIDs[key]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}
