// Command validate judges a rendered containerd 2.x config.toml with containerd's own code: the config
// loader of cmd/containerd/server/config, the plugin registry filled by the same builtins package the
// real containerd binary imports, and the plugins' own config types. It is a test tool; nothing ships.
//
// containerd itself is lenient: an unknown key only logs "Ignoring unknown key in TOML" and a table under
// a plugin ID nobody registers is never read. "Strict" here is the same decoder calls containerd makes
// (go-toml/v2 with DisallowUnknownFields, in loadConfigFile and Config.Decode) with their errors made
// final, plus: every [plugins.X] must name a plugin the real binary registers, and each CRI runtime's
// options table must decode strictly into the options type containerd picks for its runtime_type
// (internal/cri/config getRuntimeOptionsType: runc or runhcs options).
//
// Protocol: a JSON array of {"kind": "containerd-config", "os": "linux"|"windows", "data": "<toml>"} on
// stdin; a JSON array of {"ok": bool, "error": "..."} on stdout. Kind "containerd-hosts" (hosts.go) judges
// a registry host directory and answers the hosts containerd resolves in "detail"; kind "cri-image-ref"
// (imageref.go) answers the name the CRI gives an image reference.
// Platform note: the plugin registry is that of a linux build (builtins_linux.go); a Windows build
// registers the Windows snapshotter/diff plugins instead. The CRI plugin IDs hybridctl writes are
// registered on both (cmd/containerd/builtins/cri.go has no build tag).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	runhcsoptions "github.com/Microsoft/hcsshim/cmd/containerd-shim-runhcs-v1/options"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	_ "github.com/containerd/containerd/v2/cmd/containerd/builtins"
	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/version"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/pelletier/go-toml/v2"
)

type check struct {
	Kind string `json:"kind"`
	OS   string `json:"os"`
	Data string `json:"data"`
}

type verdict struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// strictDecode is the decoder call of loadConfigFile and Config.Decode, with unknown keys an error.
func strictDecode(data []byte, out interface{}) error {
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(out)
	var serr *toml.StrictMissingError
	if err != nil && errors.As(err, &serr) {
		keys := make([]string, 0, len(serr.Errors))
		for _, derr := range serr.Errors {
			row, col := derr.Position()
			keys = append(keys, fmt.Sprintf("%s (row %d column %d)", strings.Join(derr.Key(), "."), row, col))
		}
		return fmt.Errorf("unknown key(s) in TOML: %s: %w", strings.Join(keys, ", "), err)
	}
	return err
}

func registered() map[string]plugin.Registration {
	out := map[string]plugin.Registration{}
	for _, r := range registry.Graph(func(*plugin.Registration) bool { return false }) {
		out[r.URI()] = r
	}
	return out
}

func judge(c check) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "containerd-config")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(c.Data), 0o600); err != nil {
		return err
	}
	// The loader containerd runs (cmd/containerd/command: defaultConfig, then LoadConfig).
	config := &srvconfig.Config{Version: version.ConfigVersion}
	if err := srvconfig.LoadConfig(ctx, path, config); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	if err := strictDecode([]byte(c.Data), &srvconfig.Config{}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	plugins := registered()
	if config.Version < version.ConfigVersion {
		// As server.New does: each plugin migrates its own section, one version at a time.
		if err := config.MigrateConfig(ctx); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
		for v := config.Version; v < version.ConfigVersion; v++ {
			for _, p := range plugins {
				if p.ConfigMigration != nil {
					if err := p.ConfigMigration(ctx, v, config.Plugins); err != nil {
						return fmt.Errorf("containerd: %w", err)
					}
				}
			}
		}
	}
	ids := make([]string, 0, len(config.Plugins))
	for id := range config.Plugins {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p, ok := plugins[id]
		if !ok {
			return fmt.Errorf("containerd: [plugins.%q]: no plugin %q is registered by containerd %s (this table would be ignored)", id, id, version.Version)
		}
		if p.Config == nil {
			return fmt.Errorf("containerd: [plugins.%q]: plugin %q takes no configuration", id, id)
		}
		b, err := toml.Marshal(config.Plugins[id])
		if err != nil {
			return err
		}
		fresh := reflect.New(reflect.TypeOf(p.Config).Elem()).Interface()
		if err := strictDecode(b, fresh); err != nil {
			return fmt.Errorf("containerd: [plugins.%q]: %w", id, err)
		}
	}
	return runtimeOptions(config.Plugins)
}

// runtimeOptions decodes each CRI runtime's options table strictly into the type containerd would use.
func runtimeOptions(plugins map[string]interface{}) error {
	cri, _ := plugins["io.containerd.cri.v1.runtime"].(map[string]interface{})
	ctr, _ := cri["containerd"].(map[string]interface{})
	runtimes, _ := ctr["runtimes"].(map[string]interface{})
	for name, raw := range runtimes {
		runtime, _ := raw.(map[string]interface{})
		options, ok := runtime["options"]
		if !ok {
			continue
		}
		var out interface{}
		switch runtime["runtime_type"] {
		case "io.containerd.runc.v2":
			out = &runcoptions.Options{}
		case "io.containerd.runhcs.v1":
			out = &runhcsoptions.Options{}
		default:
			out = &runtimeoptions.Options{}
		}
		b, err := toml.Marshal(options)
		if err != nil {
			return err
		}
		if err := strictDecode(b, out); err != nil {
			return fmt.Errorf("containerd: runtime %q options (%v): %w", name, runtime["runtime_type"], err)
		}
	}
	return nil
}

// detailKinds are the kinds whose answer is a "detail" string.
var detailKinds = map[string]func(check) (string, error){
	"containerd-hosts": judgeHosts,
	"cri-image-ref":    judgeImageRef,
}

func main() {
	var checks []check
	if err := json.NewDecoder(os.Stdin).Decode(&checks); err != nil {
		fmt.Fprintln(os.Stderr, "validate: reading checks:", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, len(checks))
	for i, c := range checks {
		if judgeDetail, ok := detailKinds[c.Kind]; ok {
			detail, err := judgeDetail(c)
			if err != nil {
				verdicts[i] = verdict{Error: err.Error()}
			} else {
				verdicts[i] = verdict{OK: true, Detail: detail}
			}
		} else if c.Kind != "containerd-config" {
			verdicts[i] = verdict{Error: fmt.Sprintf("validate: unknown kind %q", c.Kind)}
		} else if err := judge(c); err != nil {
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
