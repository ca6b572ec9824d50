package main

import (
	_ "unsafe" // go:linkname

	"fmt"
	"reflect"

	libcontainercgroups "github.com/opencontainers/cgroups"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletscheme "k8s.io/kubernetes/pkg/kubelet/apis/config/scheme"
	"k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	kubetypes "k8s.io/kubernetes/pkg/kubelet/types"
)

// kubeletConfig decodes a KubeletConfiguration the way the kubelet's file loader does
// (pkg/kubelet/kubeletconfig/configfiles: the kubelet scheme with serializer.EnableStrict, then
// pkg/kubelet/kubeletconfig/util/codec.DecodeKubeletConfiguration) and validates it with
// validation.ValidateKubeletConfiguration. Unlike the kubelet, a strict-decoding error is final here:
// the kubelet would log "Using lenient decoding as strict decoding failed" and silently drop the
// unknown field, which is never what hybridctl means.
func kubeletConfig(data []byte, goos string) ([]string, error) {
	_, codecs, err := kubeletscheme.NewSchemeAndCodecs(serializer.EnableStrict)
	if err != nil {
		return nil, err
	}
	obj, gvk, err := codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("kubelet: failed to decode: %w", err)
	}
	kc, ok := obj.(*kubeletconfig.KubeletConfiguration)
	if !ok {
		return nil, fmt.Errorf("kubelet: failed to cast object to KubeletConfiguration, unexpected type: %v", gvk)
	}
	var warnings []string
	if goos == "windows" {
		if warnings, err = kubeletWindowsChecks(kc); err != nil {
			return warnings, err
		}
	}
	asOnCgroupV2(kc)
	if err := validation.ValidateKubeletConfiguration(kc, utilfeature.DefaultFeatureGate); err != nil {
		return warnings, fmt.Errorf("kubelet: %w", err)
	}
	return warnings, nil
}

// asOnCgroupV2 makes the host-dependent checks of validation_linux.go answer as on a cgroup v2 host
// (the hosts hybridctl targets), not as on the machine running the tests: on a cgroup v1 test machine it
// clears failCgroupV1 and a singleProcessOOMKill of false, the two settings only those checks refuse.
// Whether a cgroup v1 node is allowed is hybridctl's own inventory rule, tested elsewhere.
func asOnCgroupV2(kc *kubeletconfig.KubeletConfiguration) {
	if libcontainercgroups.IsCgroup2UnifiedMode() {
		return
	}
	kc.FailCgroupV1 = false
	if kc.SingleProcessOOMKill != nil && !*kc.SingleProcessOOMKill {
		kc.SingleProcessOOMKill = nil
	}
}

// kubeletWindowsChecks repeats, check for check and message for message, validateKubeletOSConfiguration
// of pkg/kubelet/apis/config/validation/validation_windows.go (build tag windows, so a linux build of the
// package has the linux variant instead). Its klog warnings are returned as warnings. Kept identical to
// v1.35.4, v1.36.3 and v1.37.2 (v1.35.4 and v1.36.3 have no defaultPodSysctls field, nor its rule).
// The linux variant (validation_linux.go) also ran inside ValidateKubeletConfiguration above: it refuses
// only what the Windows variant refuses too (userNamespaces), plus failCgroupV1 on a cgroup v1 test host.
func kubeletWindowsChecks(kc *kubeletconfig.KubeletConfiguration) ([]string, error) {
	var warnings []string
	message := "ignored configuration option: %v (%v) %v is not supported on Windows"
	if kc.CgroupsPerQOS {
		warnings = append(warnings, fmt.Sprintf(message, "CgroupsPerQOS", "--cgroups-per-qos", kc.CgroupsPerQOS))
	}
	if kc.SingleProcessOOMKill != nil {
		return warnings, fmt.Errorf("kubelet: invalid configuration: singleProcessOOMKill is not supported on Windows")
	}
	enforceNodeAllocatableWithoutNone := sets.New(kc.EnforceNodeAllocatable...).Delete(kubetypes.NodeAllocatableNoneKey)
	if len(enforceNodeAllocatableWithoutNone) > 0 {
		warnings = append(warnings, fmt.Sprintf(message, "EnforceNodeAllocatable", "--enforce-node-allocatable", kc.EnforceNodeAllocatable))
	}
	if kc.UserNamespaces != nil {
		return warnings, fmt.Errorf("kubelet: invalid configuration: userNamespaces is not supported on Windows")
	}
	// v1.37 only: earlier releases have neither the field nor the rule (reflection keeps one source).
	if f := reflect.ValueOf(kc).Elem().FieldByName("DefaultPodSysctls"); f.IsValid() && f.Len() > 0 {
		return warnings, fmt.Errorf("kubelet: invalid configuration: defaultPodSysctls is not supported on Windows")
	}
	return warnings, nil
}

// addCadvisorFlags is the unexported function of cmd/kubelet/app/options/globalflags_linux.go that
// registers the cAdvisor flags; globalflags_other.go (the Windows build) registers none.
//
//go:linkname addCadvisorFlags k8s.io/kubernetes/cmd/kubelet/app/options.addCadvisorFlags
func addCadvisorFlags(fs *pflag.FlagSet)

// kubeletFlagSet is the kubelet's own flag set, built as cmd/kubelet/app/server.go NewKubeletCommand
// builds cleanFlagSet. For Windows it gains the flags of cmd/kubelet/app/options/osflags_windows.go
// (addOSFlags: --windows-service, --windows-priorityclass; same names and types, registered here because
// a linux build compiles osflags_others.go) and loses the linux-only cAdvisor flags.
func kubeletFlagSet(goos string) (*pflag.FlagSet, *options.KubeletFlags, error) {
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	fs.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	flags := options.NewKubeletFlags()
	config, err := options.NewKubeletConfiguration()
	if err != nil {
		return nil, nil, err
	}
	flags.AddFlags(fs)
	options.AddKubeletConfigFlags(fs, config)
	options.AddGlobalFlags(fs)
	fs.BoolP("help", "h", false, "help for kubelet")
	if goos != "windows" {
		return fs, flags, nil
	}
	linuxOnly := pflag.NewFlagSet("cadvisor", pflag.ContinueOnError)
	linuxOnly.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	addCadvisorFlags(linuxOnly)
	windows := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	windows.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	fs.VisitAll(func(f *pflag.Flag) {
		if linuxOnly.Lookup(f.Name) == nil {
			windows.AddFlag(f)
		}
	})
	windows.Bool("windows-service", false, "Enable Windows Service Control Manager API integration")
	windows.String("windows-priorityclass", "NORMAL_PRIORITY_CLASS", "Set the PriorityClass associated with kubelet process")
	return windows, flags, nil
}

// kubeletArgs parses a kubelet command line with the kubelet's flag set, refuses positional arguments
// as NewKubeletCommand does, and runs options.ValidateKubeletFlags (node labels).
func kubeletArgs(args []string, goos string) error {
	fs, flags, err := kubeletFlagSet(goos)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("kubelet: failed to parse kubelet flag: %w", err)
	}
	if cmds := fs.Args(); len(cmds) > 0 {
		return fmt.Errorf("kubelet: unknown command %+s", cmds[0])
	}
	if err := options.ValidateKubeletFlags(flags); err != nil {
		return fmt.Errorf("kubelet: failed to validate kubelet flags: %w", err)
	}
	return nil
}
