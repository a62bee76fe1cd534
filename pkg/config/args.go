package config

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// Args is what fastpath reads from CNI_ARGS. Unknown keys are ignored, as
// Multus and the runtimes add keys of their own.
type Args struct {
	MAC          string
	PodUID       string
	PodName      string
	PodNamespace string
}

// ParseArgs parses "K=V;K=V". A malformed CNI_ARGS is error 4 (it is an
// environment variable), naming the bad pair.
func ParseArgs(s string) (*Args, error) {
	a := &Args{}
	if s == "" {
		return a, nil
	}
	for _, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, types.NewError(types.ErrInvalidEnvironmentVariables,
				fmt.Sprintf("invalid CNI_ARGS pair %q: want KEY=VALUE", pair), "")
		}
		switch k {
		case "MAC":
			a.MAC = v
		case "K8S_POD_UID":
			if !isSafeName(v, 128) {
				return nil, types.NewError(types.ErrInvalidEnvironmentVariables,
					fmt.Sprintf("invalid CNI_ARGS K8S_POD_UID %q", v), "")
			}
			a.PodUID = v
		case "K8S_POD_NAME":
			a.PodName = v
		case "K8S_POD_NAMESPACE":
			a.PodNamespace = v
		}
	}
	return a, nil
}

// ParseLogLevel maps sriov-cni's level names onto slog levels.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error", "panic":
		return slog.LevelError, nil
	}
	return 0, invalid("logLevel", s, "want debug, info, warning, error or panic")
}
