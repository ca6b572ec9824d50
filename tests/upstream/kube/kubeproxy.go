package main

import (
	"fmt"
	_ "unsafe" // go:linkname

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/cmd/kube-proxy/app"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfigscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	"k8s.io/kubernetes/pkg/proxy/apis/config/validation"
)

// validateProxyModeWindows is the unexported Windows rule of pkg/proxy/apis/config/validation
// (validation.go picks it when runtime.GOOS == "windows"); linked here so the Windows files are judged
// by that code and not by the linux rule a linux build selects.
//
//go:linkname validateProxyModeWindows k8s.io/kubernetes/pkg/proxy/apis/config/validation.validateProxyModeWindows
func validateProxyModeWindows(mode kubeproxyconfig.ProxyMode, fldPath *field.Path) field.ErrorList

// kubeProxyConfig decodes a KubeProxyConfiguration with kube-proxy's strict decoder
// (proxyconfigscheme.Codecs.UniversalDecoder, as cmd/kube-proxy/app/options.go loadConfig does first)
// and validates it with validation.Validate. A strict-decoding error is final here: kube-proxy would fall
// back to lenient v1alpha1 decoding with a log line and ignore the unknown field.
// On Windows, server_windows.go platformApplyDefaults defaults an empty mode to kernelspace and an empty
// winkernel.rootHnsEndpointName to cbr0 (repeated here), and the mode is judged by the Windows rule.
func kubeProxyConfig(data []byte, goos string) error {
	obj, gvk, err := proxyconfigscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return fmt.Errorf("kube-proxy: failed to decode: %w", err)
	}
	config, ok := obj.(*kubeproxyconfig.KubeProxyConfiguration)
	if !ok {
		return fmt.Errorf("kube-proxy: got unexpected config type: %v", gvk)
	}
	errs := field.ErrorList{}
	if goos == "windows" {
		if config.Mode == "" {
			config.Mode = kubeproxyconfig.ProxyModeKernelspace
		}
		if config.Winkernel.RootHnsEndpointName == "" {
			config.Winkernel.RootHnsEndpointName = "cbr0"
		}
		errs = append(errs, validateProxyModeWindows(config.Mode, field.NewPath("KubeProxyConfiguration").Child("Mode"))...)
		mode := config.Mode
		config.Mode = "" // the linux mode rule inside Validate does not apply to a Windows node
		errs = append(errs, validation.Validate(config)...)
		config.Mode = mode
	} else {
		errs = append(errs, validation.Validate(config)...)
	}
	if err := errs.ToAggregate(); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	return nil
}

// kubeProxyArgs parses a kube-proxy command line with the flag set of app.NewProxyCommand. For Windows
// it adds the flags of cmd/kube-proxy/app/init_windows.go addOSFlags (same names and types; a linux build
// compiles init_linux.go, which adds none).
func kubeProxyArgs(args []string, goos string) error {
	cmd := app.NewProxyCommand()
	fs := cmd.Flags()
	if goos == "windows" {
		fs.Bool("windows-service", false, "Enable Windows Service Control Manager API integration")
		fs.String("source-vip", "", "The IP address of the source VIP for non-DSR.")
		fs.String("network-name", "", "The name of the cluster network.")
		fs.Bool("enable-dsr", false, "If true make kube-proxy apply DSR policies for service VIP")
		fs.String("root-hnsendpoint-name", "cbr0", "The name of the hns endpoint name for root namespace attached to l2bridge")
		fs.Bool("forward-healthcheck-vip", false, "If true forward service VIP for health check port")
	}
	fs.BoolP("help", "h", false, "help for kube-proxy")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kube-proxy: %w", err)
	}
	for _, arg := range fs.Args() {
		if len(arg) > 0 {
			return fmt.Errorf("kube-proxy: %q does not take any arguments, got %q", cmd.CommandPath(), fs.Args())
		}
	}
	return nil
}
