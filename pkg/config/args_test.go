package config_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/fastpath-cni/fastpath/pkg/config"
)

func TestParseArgs(t *testing.T) {
	uid := "6f1c3a52-9a0e-4f6b-8a57-1f9b2c3d4e5f"
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		name string
		in   string
		want config.Args
	}{
		{"empty", "", config.Args{}},
		{"only separators", ";;;", config.Args{}},
		{"kubelet's set", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=" + uid,
			config.Args{PodUID: uid, PodName: "web-0", PodNamespace: "default"}},
		{"MAC", "MAC=02:00:00:00:00:01", config.Args{MAC: "02:00:00:00:00:01"}},
		{"unknown keys ignored", "FOO=bar;IgnoreUnknown=true;K8S_POD_NETWORK=x;MAC=02:00:00:00:00:01",
			config.Args{MAC: "02:00:00:00:00:01"}},
		{"unknown key with odd value ignored", "FOO=../../x;BAR=", config.Args{}},
		{"empty pairs skipped", ";MAC=02:00:00:00:00:01;;K8S_POD_NAME=p;", config.Args{MAC: "02:00:00:00:00:01", PodName: "p"}},
		{"value keeps later =", "K8S_POD_NAME=a=b", config.Args{PodName: "a=b"}},
		{"empty values", "MAC=;K8S_POD_NAME=;K8S_POD_NAMESPACE=", config.Args{}},
		{"last one wins", "MAC=02:00:00:00:00:01;MAC=02:00:00:00:00:02", config.Args{MAC: "02:00:00:00:00:02"}},
		{"keys are case sensitive", "mac=02:00:00:00:00:01;k8s_pod_uid=../x", config.Args{}},
		{"uid of 128 characters", "K8S_POD_UID=" + long, config.Args{PodUID: long}},
		{"uid with dots inside", "K8S_POD_UID=a..b_c-d", config.Args{PodUID: "a..b_c-d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := config.ParseArgs(tc.in)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tc.in, err)
			}
			if *a != tc.want {
				t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.in, *a, tc.want)
			}
		})
	}
}

func TestParseArgsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		bad  string // must appear, quoted, in the message
	}{
		{"pair without =", "IgnoreUnknown=1;garbage", "garbage"},
		{"bare key", "MAC", "MAC"},
		{"pair with spaces", "K8S_POD_NAME=p; oops", " oops"},
		{"uid path traversal", "K8S_POD_UID=../x", "../x"},
		{"uid dot dot", "K8S_POD_UID=..", ".."},
		{"uid dot", "K8S_POD_UID=.", "."},
		{"uid with slash", "K8S_POD_UID=a/b", "a/b"},
		{"uid absolute", "K8S_POD_UID=/etc", "/etc"},
		{"uid deep traversal", "K8S_POD_UID=x/../../../etc", "x/../../../etc"},
		{"uid empty", "K8S_POD_UID=", ""},
		{"uid too long", "K8S_POD_UID=" + strings.Repeat("a", 129), strings.Repeat("a", 129)},
		{"uid with space", "K8S_POD_UID=a b", "a b"},
		{"uid with NUL", "K8S_POD_UID=a\x00b", "a\x00b"},
		{"uid with newline", "K8S_POD_UID=a\n", "a\n"},
		{"uid leading dash", "K8S_POD_UID=-rf", "-rf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := config.ParseArgs(tc.in)
			if a != nil {
				t.Errorf("got args %+v with the error", *a)
			}
			wantCNIError(t, err, types.ErrInvalidEnvironmentVariables, fmt.Sprintf("%q", tc.bad))
			if strings.HasPrefix(tc.in, "K8S_POD_UID=") {
				wantCNIError(t, err, types.ErrInvalidEnvironmentVariables, "K8S_POD_UID")
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want slog.Level
	}{
		{"", slog.LevelInfo},
		{"info", slog.LevelInfo},
		{"INFO", slog.LevelInfo},
		{"debug", slog.LevelDebug},
		{"Debug", slog.LevelDebug},
		{"warning", slog.LevelWarn},
		{"warn", slog.LevelWarn},
		{"error", slog.LevelError},
		{"panic", slog.LevelError},
	} {
		t.Run("ok "+tc.in, func(t *testing.T) {
			got, err := config.ParseLogLevel(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseLogLevel(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	for _, in := range []string{"verbose", "fatal", "trace", "-4", "infos", "debug "} {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := config.ParseLogLevel(in)
			wantCNIError(t, err, types.ErrInvalidNetworkConfig, "logLevel", fmt.Sprintf("%q", in))
		})
	}
}
