package bench

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// PprofTop merges CPU profiles (one per plugin call) and lists the n
// functions with the most time, cumulative (the function and what it
// called, as `go tool pprof -top -cum`) and then flat (the function alone),
// in percent of all samples and in milliseconds per call. The trunk every
// call goes through (runtime.main, main.main, the CNI library's skel) is
// left out of the cumulative list.
func PprofTop(profiles [][]byte, n int) (string, error) {
	if len(profiles) == 0 {
		return "", fmt.Errorf("no profiles")
	}
	var ps []*profile.Profile
	for _, b := range profiles {
		p, err := profile.ParseData(b)
		if err != nil {
			return "", fmt.Errorf("reading a profile: %w", err)
		}
		ps = append(ps, p)
	}
	merged, err := profile.Merge(ps)
	if err != nil {
		return "", fmt.Errorf("merging profiles: %w", err)
	}
	vi := -1
	for i, st := range merged.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return "", fmt.Errorf("not a CPU profile")
	}
	flat, cum := map[string]int64{}, map[string]int64{}
	var total int64
	for _, s := range merged.Sample {
		v := s.Value[vi]
		total += v
		seen := map[string]bool{}
		for i, loc := range s.Location {
			for j, line := range loc.Line {
				name := line.Function.Name
				if i == 0 && j == 0 {
					flat[name] += v
				}
				if !seen[name] { // a recursive function counts once
					seen[name] = true
					cum[name] += v
				}
			}
		}
	}
	if total == 0 {
		return "", fmt.Errorf("no samples")
	}
	var b strings.Builder
	perCall := func(v int64) float64 { return float64(v) / float64(len(profiles)) / float64(time.Millisecond) }
	fmt.Fprintf(&b, "%d calls, %.1f ms of CPU samples per call\n", len(profiles), perCall(total))
	for _, part := range []struct {
		title string
		by    map[string]int64
	}{{"cumulative", cum}, {"flat", flat}} {
		names := make([]string, 0, len(part.by))
		for name := range part.by {
			if !trunk(name) {
				names = append(names, name)
			}
		}
		slices.SortFunc(names, func(a, c string) int {
			return cmp.Or(cmp.Compare(part.by[c], part.by[a]), cmp.Compare(a, c))
		})
		fmt.Fprintf(&b, "\n%s:\n%7s %9s  %s\n", part.title, "%", "ms/call", "function")
		for _, name := range names[:min(n, len(names))] {
			v := part.by[name]
			fmt.Fprintf(&b, "%6.1f%% %9.2f  %s\n", 100*float64(v)/float64(total), perCall(v), trunc(name, 110))
		}
	}
	return b.String(), nil
}

func trunk(name string) bool {
	return name == "runtime.main" || name == "main.main" ||
		strings.HasPrefix(name, "github.com/containernetworking/cni/pkg/skel.")
}
