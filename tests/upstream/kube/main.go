// Command validate judges hybridctl's rendered kubelet and kube-proxy files and command lines with the
// code of the Kubernetes release this module pins (tests/upstream/k8s-1.XX/go.mod): the components' own
// schemes, strict decoders, validation packages and flag sets. It is a test tool; nothing here ships.
//
// Protocol: a JSON array of checks on stdin, a JSON array of verdicts (same order) on stdout. A check is
// {"kind": K, "os": "linux"|"windows", "data": "<file text>", "args": ["--flag=value", ...]} where K is
// kubelet-config, kubelet-args, kube-proxy-config or kube-proxy-args. A verdict is
// {"ok": bool, "error": "<upstream error text>", "warnings": [...]}.
//
// The source lives once in tests/upstream/kube/ and each Kubernetes module links it in as ./validate (a
// symlink), so `go build ./validate` in tests/upstream/k8s-1.37 compiles it against that release.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

type check struct {
	Kind string   `json:"kind"`
	OS   string   `json:"os"`
	Data string   `json:"data"`
	Args []string `json:"args"`
}

type verdict struct {
	OK       bool     `json:"ok"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func judge(c check) verdict {
	if c.OS != "linux" && c.OS != "windows" {
		return verdict{Error: fmt.Sprintf("validate: unknown os %q", c.OS)}
	}
	var warnings []string
	var err error
	switch c.Kind {
	case "kubelet-config":
		warnings, err = kubeletConfig([]byte(c.Data), c.OS)
	case "kubelet-args":
		err = kubeletArgs(c.Args, c.OS)
	case "kube-proxy-config":
		err = kubeProxyConfig([]byte(c.Data), c.OS)
	case "kube-proxy-args":
		err = kubeProxyArgs(c.Args, c.OS)
	default:
		err = fmt.Errorf("validate: unknown kind %q", c.Kind)
	}
	if err != nil {
		return verdict{Error: err.Error(), Warnings: warnings}
	}
	return verdict{OK: true, Warnings: warnings}
}

func main() {
	var checks []check
	if err := json.NewDecoder(os.Stdin).Decode(&checks); err != nil {
		fmt.Fprintln(os.Stderr, "validate: reading checks:", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, len(checks))
	for i, c := range checks {
		verdicts[i] = judge(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		fmt.Fprintln(os.Stderr, "validate: writing verdicts:", err)
		os.Exit(2)
	}
}
