// Command validate judges a rendered containerd 1.7 config.toml (config version 2) with containerd's
// own code: the loader of services/server/config (LoadConfig, ValidateV2), the plugin registry filled by
// the same builtins package the real containerd binary imports, and the plugins' own config types. It
// is a test tool; nothing here ships.
//
// containerd 1.7 decodes with github.com/pelletier/go-toml v1 without strict mode: unknown keys are
// ignored silently, and so is a table under a plugin ID nobody registers. "Strict" here decodes the same
// trees into the same types with go-toml's Decoder.Strict(true), requires every [plugins.X] to name a
// plugin the real binary registers, and decodes each CRI runtime's options table strictly into the
// options type containerd picks (pkg/cri/server/helpers.go getRuntimeOptionsType).
//
// Protocol and platform note: as tests/upstream/containerd-2/validate/main.go.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	runhcsoptions "github.com/Microsoft/hcsshim/cmd/containerd-shim-runhcs-v1/options"
	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	_ "github.com/containerd/containerd/cmd/containerd/builtins"
	runtimeoptions "github.com/containerd/containerd/pkg/runtimeoptions/v1"
	"github.com/containerd/containerd/plugin"
	srvconfig "github.com/containerd/containerd/services/server/config"
	"github.com/containerd/containerd/version"
	"github.com/pelletier/go-toml"
)

type check struct {
	Kind string `json:"kind"`
	OS   string `json:"os"`
	Data string `json:"data"`
}

type verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func strictDecode(data []byte, out interface{}) error {
	return toml.NewDecoder(bytes.NewReader(data)).Strict(true).Decode(out)
}

func registered() map[string]*plugin.Registration {
	out := map[string]*plugin.Registration{}
	for _, r := range plugin.Graph(func(*plugin.Registration) bool { return false }) {
		out[r.URI()] = r
	}
	return out
}

func judge(c check) error {
	dir, err := os.MkdirTemp("", "containerd-config")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(c.Data), 0o600); err != nil {
		return err
	}
	config := &srvconfig.Config{}
	if err := srvconfig.LoadConfig(path, config); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	// Strict on everything outside [plugins]; go-toml v1 counts the toml.Tree values of Config.Plugins
	// as undecoded, so each plugin's table is decoded strictly into its own type below instead.
	tree, err := toml.LoadBytes([]byte(c.Data))
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	if err := tree.Delete("plugins"); err != nil {
		return err
	}
	rest, err := tree.Marshal()
	if err != nil {
		return err
	}
	if err := strictDecode(rest, &srvconfig.Config{}); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	plugins := registered()
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
		tree := config.Plugins[id]
		b, err := tree.Marshal()
		if err != nil {
			return err
		}
		fresh := reflect.New(reflect.TypeOf(p.Config).Elem()).Interface()
		if err := strictDecode(b, fresh); err != nil {
			return fmt.Errorf("containerd: [plugins.%q]: %w", id, err)
		}
	}
	if cri, ok := config.Plugins["io.containerd.grpc.v1.cri"]; ok {
		return runtimeOptions(&cri)
	}
	return nil
}

func runtimeOptions(cri *toml.Tree) error {
	runtimes, _ := cri.GetPath([]string{"containerd", "runtimes"}).(*toml.Tree)
	if runtimes == nil {
		return nil
	}
	for _, name := range runtimes.Keys() {
		runtime, _ := runtimes.Get(name).(*toml.Tree)
		if runtime == nil {
			continue
		}
		options, _ := runtime.Get("options").(*toml.Tree)
		if options == nil {
			continue
		}
		var out interface{}
		switch runtime.Get("runtime_type") {
		case "io.containerd.runc.v1", "io.containerd.runc.v2":
			out = &runcoptions.Options{}
		case "io.containerd.runhcs.v1":
			out = &runhcsoptions.Options{}
		default:
			out = &runtimeoptions.Options{}
		}
		b, err := options.Marshal()
		if err != nil {
			return err
		}
		if err := strictDecode(b, out); err != nil {
			return fmt.Errorf("containerd: runtime %q options (%v): %w", name, runtime.Get("runtime_type"), err)
		}
	}
	return nil
}

func main() {
	var checks []check
	if err := json.NewDecoder(os.Stdin).Decode(&checks); err != nil {
		fmt.Fprintln(os.Stderr, "validate: reading checks:", err)
		os.Exit(2)
	}
	verdicts := make([]verdict, len(checks))
	for i, c := range checks {
		if c.Kind != "containerd-config" {
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
