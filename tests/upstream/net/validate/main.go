// Command validate judges hybridctl's rendered CNI and flannel files with upstream parsers: libcni
// (github.com/containernetworking/cni/libcni ConfFromBytes / ConfListFromBytes, the loader containerd's
// CRI plugin uses) and flannel's own network-config parser (github.com/flannel-io/flannel/pkg/subnet
// ParseConfig). It is a test tool; nothing here ships.
//
// The Windows plugins sdnbridge/sdnoverlay (github.com/microsoft/windows-container-networking) are not
// served by the Go module proxy here ("403 Forbidden: This module version is not available"), and the
// HNS policy types they hand to HNS (github.com/Microsoft/hcsshim/hcn, hcnpolicy.go) carry
// `//go:build windows`. windows.go therefore describes their JSON schema, citing the upstream files.
//
// Protocol: a JSON array of {"kind": "cni-conflist"|"cni-conf"|"flannel-net-conf", "data": "..."} on
// stdin; a JSON array of {"ok": bool, "error": "..."} on stdout.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/containernetworking/cni/libcni"
	"github.com/flannel-io/flannel/pkg/subnet"
)

type check struct {
	Kind string `json:"kind"`
	Data string `json:"data"`
}

type verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func judge(c check) error {
	data := []byte(c.Data)
	switch c.Kind {
	case "cni-conflist":
		list, err := libcni.ConfListFromBytes(data)
		if err != nil {
			return fmt.Errorf("libcni: %w", err)
		}
		for _, plugin := range list.Plugins {
			if err := windowsPlugin(plugin.Network.Type, plugin.Bytes); err != nil {
				return err
			}
		}
		return nil
	case "cni-conf":
		conf, err := libcni.ConfFromBytes(data)
		if err != nil {
			return fmt.Errorf("libcni: %w", err)
		}
		return windowsPlugin(conf.Network.Type, conf.Bytes)
	case "flannel-net-conf":
		cfg, err := subnet.ParseConfig(c.Data)
		if err != nil {
			return fmt.Errorf("flannel: %w", err)
		}
		// ParseConfig uses a lenient json.Unmarshal; flannel ignores unknown top-level keys. Refuse them.
		strict := json.NewDecoder(bytes.NewReader(data))
		strict.DisallowUnknownFields()
		if err := strict.Decode(&subnet.Config{}); err != nil {
			return fmt.Errorf("flannel: net-conf.json: %w", err)
		}
		if err := subnet.CheckNetworkConfig(cfg); err != nil {
			return fmt.Errorf("flannel: %w", err)
		}
		return nil
	}
	return fmt.Errorf("validate: unknown kind %q", c.Kind)
}

func main() {
	var checks []check
	if err := json.NewDecoder(os.Stdin).Decode(&checks); err != nil {
		fmt.Fprintln(os.Stderr, "validate: reading checks:", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, len(checks))
	for i, c := range checks {
		if err := judge(c); err != nil {
			verdicts[i] = verdict{Error: err.Error()}
		} else {
			verdicts[i] = verdict{OK: true}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		fmt.Fprintln(os.Stderr, "validate: writing verdicts:", err)
		os.Exit(2)
	}
}
