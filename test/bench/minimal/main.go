// Command minimal answers a CNI VERSION call and nothing else, with the
// standard library only: the start of the smallest static Go program that
// could be a CNI plugin. `make bench` times it beside fastpath's and
// host-local's VERSION calls, to tell the Go runtime's start from what a
// plugin's own packages add at init.
package main

import (
	"io"
	"os"
)

func main() {
	io.Copy(io.Discard, os.Stdin)
	if os.Getenv("CNI_COMMAND") != "VERSION" {
		os.Stderr.WriteString("minimal: only VERSION\n")
		os.Exit(1)
	}
	os.Stdout.WriteString(`{"cniVersion":"1.1.0","supportedVersions":["1.1.0"]}` + "\n")
}
