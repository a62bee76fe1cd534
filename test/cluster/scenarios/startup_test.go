//go:build cluster

package scenarios

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStartupTime reports pod start-up (created to Running, one pod at a time)
// on the default network only and with a kernel VF of fastpath as well, the
// two kinds taking turns, so that a node that slows down or speeds up over
// the rounds (the kubelet still collecting the scenario before's pods) moves
// both rows alike. It measures, it asserts no time: the guest is emulated
// and the machine shared.
func TestStartupTime(t *testing.T) {
	nodeUp(t)
	const rounds = 3
	kinds := []struct{ name, networks, res string }{
		{"default network", "", ""},
		{"+ fastpath kernel VF", `[{"name":"sriov-vlan100","interface":"net1"}]`, netdevRes},
	}
	ds := make([][]time.Duration, len(kinds))
	for i := range rounds {
		for k, c := range kinds {
			name := fmt.Sprintf("startup-%d", i*len(kinds)+k)
			start := time.Now()
			if _, err := cs.CoreV1().Pods("default").Create(context.Background(), podSpec(name, c.networks, c.res), metav1.CreateOptions{}); err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			waitFor(t, name+" Running", 5*time.Minute, func() (bool, error) {
				p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				return p.Status.Phase == corev1.PodRunning, fmt.Errorf("phase %s", p.Status.Phase)
			})
			d := time.Since(start)
			ds[k] = append(ds[k], d)
			// What held a slow pod, for the reader of the log.
			t.Logf("%s, %s: %.1fs; last events: %s", c.name, name, d.Seconds(), events(name))
			deletePods(t, name)
			vfsFree(t)
		}
	}
	for k, c := range kinds {
		slices.Sort(ds[k])
		t.Logf("pod start-up, %s: median %.1fs (min %.1fs, max %.1fs, %d pods)", c.name,
			ds[k][rounds/2].Seconds(), ds[k][0].Seconds(), ds[k][rounds-1].Seconds(), rounds)
	}
}
