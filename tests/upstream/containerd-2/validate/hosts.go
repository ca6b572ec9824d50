// Kind "containerd-hosts": a rendered registry host directory (hosts.toml and its CA files) read by
// containerd's own hosts loader, as the CRI image service reads it on every pull
// (internal/cri/server/images/image_pull.go registryHosts: config.ConfigureHosts with HostDir from the
// registry config_path, core/remotes/docker/config/hosts.go). The directory is written under a fresh
// root as <root>/<dir>/..., looked up through config.HostDirFromRoot(root) for the registry host, and
// the resolved hosts (mirrors first, then the server) are returned in "detail" as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
)

type hostsDir struct {
	Host  string            `json:"host"`
	Dir   string            `json:"dir"`
	Files map[string]string `json:"files"`
}

type resolvedHost struct {
	Scheme       string   `json:"scheme"`
	Host         string   `json:"host"`
	Path         string   `json:"path"`
	Capabilities []string `json:"capabilities"`
	SkipVerify   bool     `json:"skipVerify"`
	CustomCA     bool     `json:"customCA"`
}

var capabilityNames = []struct {
	bit  docker.HostCapabilities
	name string
}{{docker.HostCapabilityPull, "pull"}, {docker.HostCapabilityResolve, "resolve"}, {docker.HostCapabilityPush, "push"}}

func judgeHosts(c check) (string, error) {
	var in hostsDir
	if err := json.Unmarshal([]byte(c.Data), &in); err != nil {
		return "", err
	}
	root, err := os.MkdirTemp("", "containerd-hosts")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	for name, text := range in.Files {
		path := filepath.Join(root, in.Dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return "", err
		}
	}
	lookup := config.HostDirFromRoot(root)
	if dir, err := lookup(in.Host); err != nil || dir != filepath.Join(root, in.Dir) {
		return "", fmt.Errorf("containerd: registry %q is not looked up in directory %q (found %q, %v)", in.Host, in.Dir, dir, err)
	}
	hosts, err := config.ConfigureHosts(context.Background(), config.HostOptions{HostDir: lookup})(in.Host)
	if err != nil {
		return "", fmt.Errorf("containerd: %w", err)
	}
	out := make([]resolvedHost, 0, len(hosts))
	for _, h := range hosts {
		r := resolvedHost{Scheme: h.Scheme, Host: h.Host, Path: h.Path, Capabilities: []string{}}
		for _, c := range capabilityNames {
			if h.Capabilities.Has(c.bit) {
				r.Capabilities = append(r.Capabilities, c.name)
			}
		}
		if tr, ok := h.Client.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			r.SkipVerify = tr.TLSClientConfig.InsecureSkipVerify
			r.CustomCA = tr.TLSClientConfig.RootCAs != nil
		}
		out = append(out, r)
	}
	b, err := json.Marshal(out)
	return string(b), err
}
