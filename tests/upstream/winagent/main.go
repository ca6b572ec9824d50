// Command winagent is the node agent of the lab's emulated Windows hosts: when the simulated host starts
// its kubelet or kube-proxy service, this program acts as that node against a REAL kube-apiserver with
// exactly the files hybridctl installed, running the kubelet's and kube-proxy's own code wherever it can
// run on Linux. It is a test tool built from tests/upstream/k8s-1.37 (the module the validators and the
// real lab's Kubernetes binaries use, so Go's build cache compiles Kubernetes once for all three).
//
// Usage:
//
//	winagent kubelet    --root=DIR --hook=EXE [--build=10.0.20348 ...] -- <kubelet service argv>
//	winagent kube-proxy --root=DIR --hook=EXE -- <kube-proxy service argv>
//
// The argv after "--" is the service's command line as nssm would hand it over (Windows paths). Windows
// paths ("C:\var\lib\kubelet\config.yaml") are mapped into --root ("DIR/var/lib/kubelet/config.yaml",
// lower-cased: the emulated file system is case-insensitive like NTFS); see winPath.
//
// Real (upstream code, k8s.io/kubernetes v1.37.2): the kubelet's flag set and validation, its config
// file loader and flag precedence (cmd/kubelet/app/server.go loadConfigFile, kubeletConfigFlagPrecedence),
// its client bootstrap and certificate rotation (server.go buildKubeletClientConfig ->
// pkg/kubelet/certificate/bootstrap.LoadClientConfig + certificate manager), the Ready condition setter
// (pkg/kubelet/nodestatus.ReadyCondition), the node lease controller (component-helpers lease controller
// with pkg/kubelet/util.SetNodeOwnerFunc), pod status patches (pkg/util/pod.PatchPodStatus), readiness
// probes (pkg/probe/http and pkg/probe/tcp, the kubelet's probers, with its thresholds), kube-proxy's
// client (cmd/kube-proxy/app createClient), informer label selectors and Service/EndpointSlice event
// handling (pkg/proxy/config).
//
// Emulated (said where it is done): the Windows OS facts (build, CPU, memory), HNS (the hook creates pods
// as network namespaces on the host's bridge and realises ClusterIPs and NodePorts with iptables DNAT), the
// container runtime (a pod's containers are the hook's stand-in programs in its network namespace).
//
// Hook protocol: "EXE VERB" with a JSON document on stdin; exit 0 is success, stdout may hold a JSON answer,
// stderr is the error otherwise. Verbs: network {"node"} (exit 0 when the pod network exists), pod-add
// {"namespace","name","uid","podCIDR","handler","containers":[{"name","image","command","args"}],"dns",
// "search"} -> {"ip"}, pod-del (same input), proxy-sync {"services":[{"namespace","name","clusterIP","port",
// "protocol","nodePort","endpoints":["ip:port"]}]}, exec and logs {"namespace","name","container",
// "command"} -> {"argv"} / {"log"}.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

// agentOptions are the emulated host's own facts and the simulator's hook, not the service's flags.
type agentOptions struct {
	root       string
	hook       string
	build      string
	cpu        string
	memory     string
	handlers   string
	edition    string
	runtimeVer string
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "kubelet" && os.Args[1] != "kube-proxy") {
		fmt.Fprintln(os.Stderr, "usage: winagent kubelet|kube-proxy --root=DIR --hook=EXE [options] -- SERVICE-ARGV")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet("winagent "+mode, flag.ExitOnError)
	var o agentOptions
	fs.StringVar(&o.root, "root", "", "directory holding the emulated C: drive")
	fs.StringVar(&o.hook, "hook", "", "the simulator's hook executable")
	fs.StringVar(&o.build, "build", "10.0.20348", "Windows build (Major.Minor.Build) the host reports")
	fs.StringVar(&o.cpu, "cpu", "2", "CPU capacity the host reports")
	fs.StringVar(&o.memory, "memory", "8Gi", "memory capacity the host reports")
	fs.StringVar(&o.handlers, "runtime-handlers", "runhcs-wcow-process,runhcs-wcow-hypervisor", "containerd runtime handlers")
	fs.StringVar(&o.edition, "os-image", "Windows Server 2022 Datacenter", "the OS image the node reports")
	fs.StringVar(&o.runtimeVer, "runtime-version", "containerd://2.4.2", "the container runtime version the node reports")
	klog.InitFlags(fs)
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	if o.root == "" || o.hook == "" {
		fmt.Fprintln(os.Stderr, "winagent: --root and --hook are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	if mode == "kubelet" {
		err = runKubelet(ctx, o, fs.Args())
	} else {
		err = runKubeProxy(ctx, o, fs.Args())
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", mode, err)
		os.Exit(1)
	}
}
