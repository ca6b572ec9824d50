package main

import (
	_ "unsafe" // go:linkname

	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	clientset "k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/component-base/version"
	"k8s.io/component-helpers/apimachinery/lease"
	nodeutil "k8s.io/component-helpers/node/util"
	"k8s.io/klog/v2"
	kubeletapis "k8s.io/kubelet/pkg/apis"
	_ "k8s.io/kubernetes/cmd/kubelet/app" // linked functions below
	"k8s.io/kubernetes/cmd/kubelet/app/options"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	"k8s.io/kubernetes/pkg/kubelet/apis/config/validation"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	"k8s.io/kubernetes/pkg/kubelet/nodestatus"
	kubeletutil "k8s.io/kubernetes/pkg/kubelet/util"
	"k8s.io/utils/clock"
)

// The kubelet's own unexported functions of cmd/kubelet/app/server.go (v1.37.2), linked so the agent runs
// them rather than a copy: loading the --config file, re-applying flags over it, and building the API
// client (TLS bootstrap with the bootstrap kubeconfig, the kubeconfig written to point at the rotated
// client certificate in --cert-dir, and the certificate manager that requests, waits for and stores it).

//go:linkname loadConfigFile k8s.io/kubernetes/cmd/kubelet/app.loadConfigFile
func loadConfigFile(ctx context.Context, name string) (*kubeletconfig.KubeletConfiguration, error)

//go:linkname kubeletConfigFlagPrecedence k8s.io/kubernetes/cmd/kubelet/app.kubeletConfigFlagPrecedence
func kubeletConfigFlagPrecedence(kc *kubeletconfig.KubeletConfiguration, args []string) error

//go:linkname buildKubeletClientConfig k8s.io/kubernetes/cmd/kubelet/app.buildKubeletClientConfig
func buildKubeletClientConfig(ctx context.Context, s *options.KubeletServer, tp oteltrace.TracerProvider, nodeName types.NodeName) (*restclient.Config, func(), error)

// nodeLeaseRenewIntervalFraction is pkg/kubelet/kubelet.go's constant (v1.37.2).
const nodeLeaseRenewIntervalFraction = 0.25

// windowsOnlyFlags are registered by cmd/kubelet/app/options/osflags_windows.go; a linux build of
// kubeletConfigFlagPrecedence does not know them (they are KubeletFlags, not configuration).
var windowsOnlyFlags = []string{"--windows-service", "--windows-priorityclass"}

type kubeletNode struct {
	o        agentOptions
	flags    *options.KubeletFlags
	config   *kubeletconfig.KubeletConfiguration
	name     string
	client   clientset.Interface
	handlers map[string]bool

	mu      sync.Mutex
	podCIDR string // node.spec.podCIDR, allocated by the controller-manager's nodeipam controller

	probes  map[string]context.CancelFunc // per pod key: stops its readiness probes (pod worker only)
	probeMu sync.Mutex                    // serialises the probes' status patches
}

func (k *kubeletNode) currentPodCIDR() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.podCIDR
}

func (k *kubeletNode) setPodCIDR(cidr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.podCIDR = cidr
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// runKubelet starts the kubelet of the emulated Windows host with the service's argv, as
// cmd/kubelet/app/server.go NewKubeletCommand's RunE does up to building the client, then registers the
// node, heartbeats and runs the pods bound to it until ctx ends.
func runKubelet(ctx context.Context, o agentOptions, args []string) error {
	k, err := loadKubelet(ctx, o, args)
	if err != nil {
		return err
	}
	server := &options.KubeletServer{KubeletFlags: *k.flags, KubeletConfiguration: *k.config}
	clientConfig, _, err := buildKubeletClientConfig(ctx, server, noop.NewTracerProvider(), types.NodeName(k.name))
	if err != nil {
		return fmt.Errorf("failed to run Kubelet: %w", err)
	}
	if k.client, err = clientset.NewForConfig(clientConfig); err != nil {
		return err
	}
	if err := k.register(ctx); err != nil {
		return err
	}
	renew := time.Duration(float64(time.Duration(k.config.NodeLeaseDurationSeconds)*time.Second) * nodeLeaseRenewIntervalFraction)
	leases := lease.NewController(clock.RealClock{}, k.client, k.name, k.config.NodeLeaseDurationSeconds, nil,
		renew, k.name, v1.NamespaceNodeLease, kubeletutil.SetNodeOwnerFunc(ctx, k.client, k.name))
	go leases.Run(ctx)
	go k.runPods(ctx)
	go func() {
		if err := k.serveAPI(ctx); err != nil {
			klog.ErrorS(err, "Failed to serve the kubelet API")
		}
	}()
	k.syncStatus(ctx)
	return nil
}

// loadKubelet parses and validates the command line and config file as the kubelet does; an error is
// exactly what would stop the real kubelet from starting.
func loadKubelet(ctx context.Context, o agentOptions, args []string) (*kubeletNode, error) {
	if err := kubeletArgs(args, "windows"); err != nil {
		return nil, err
	}
	fs, flags, err := kubeletFlagSet("windows")
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if flags.KubeletConfigFile == "" {
		return nil, fmt.Errorf("kubelet: hybridctl's service passes --config; none given")
	}
	flags.KubeletConfigFile = winPath(o.root, flags.KubeletConfigFile)
	flags.KubeConfig = winPath(o.root, flags.KubeConfig)
	flags.BootstrapKubeconfig = winPath(o.root, flags.BootstrapKubeconfig)
	flags.CertDirectory = winPath(o.root, flags.CertDirectory)
	data, err := os.ReadFile(flags.KubeletConfigFile)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubelet config file, path: %s, error: %w", flags.KubeletConfigFile, err)
	}
	if warnings, err := kubeletConfig(data, "windows"); err != nil {
		return nil, err
	} else {
		for _, warning := range warnings {
			klog.Warning(warning)
		}
	}
	config, err := loadConfigFile(ctx, flags.KubeletConfigFile)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubelet config file, path: %s, error: %w", flags.KubeletConfigFile, err)
	}
	if err := kubeletConfigFlagPrecedence(config, withoutWindowsFlags(args)); err != nil {
		return nil, fmt.Errorf("failed to precedence kubeletConfigFlag: %w", err)
	}
	asOnCgroupV2(config)
	if err := validation.ValidateKubeletConfiguration(config, utilfeature.DefaultFeatureGate); err != nil {
		return nil, fmt.Errorf("failed to validate kubelet configuration, error: %w", err)
	}
	name, err := nodeutil.GetHostname(flags.HostnameOverride)
	if err != nil {
		return nil, err
	}
	handlers := map[string]bool{}
	for _, h := range strings.Split(o.handlers, ",") {
		handlers[h] = true
	}
	return &kubeletNode{o: o, flags: flags, config: config, name: name, handlers: handlers, probes: map[string]context.CancelFunc{}}, nil
}

func withoutWindowsFlags(args []string) []string {
	var kept []string
	for _, arg := range args {
		windows := false
		for _, flag := range windowsOnlyFlags {
			windows = windows || arg == flag || strings.HasPrefix(arg, flag+"=")
		}
		if !windows {
			kept = append(kept, arg)
		}
	}
	return kept
}

// initialNode is pkg/kubelet/kubelet_node_status.go initialNode (v1.37.2) as it runs on Windows: the
// hostname, os and arch labels (stable and beta, GOOS=windows, GOARCH=amd64), the OS-specific label of
// kubelet_node_status_windows.go getOSSpecificLabels (node.kubernetes.io/windows-build, from the emulated
// host's build: winstats.GetOSInfo there), registerWithTaints, the controller-managed attach/detach
// annotation (enableControllerAttachDetach defaults to true), then --node-labels over the defaults.
func (k *kubeletNode) initialNode() *v1.Node {
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: k.name,
			Labels: map[string]string{
				v1.LabelHostname:      k.name,
				v1.LabelOSStable:      "windows",
				v1.LabelArchStable:    "amd64",
				kubeletapis.LabelOS:   "windows",
				kubeletapis.LabelArch: "amd64",
				v1.LabelWindowsBuild:  k.o.build,
			},
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
	}
	if len(k.config.RegisterWithTaints) > 0 {
		node.Spec.Taints = append([]v1.Taint(nil), k.config.RegisterWithTaints...)
	}
	for key, value := range k.flags.NodeLabels {
		node.Labels[key] = value
	}
	k.setStatus(context.Background(), node)
	return node
}

// register creates the Node (kubelet_node_status.go registerWithAPIServer / tryRegisterWithAPIServer:
// create, and on AlreadyExists take the existing node), retrying while the client certificate is still
// being bootstrapped (requests fail with 401/403 until the CSR is approved and signed).
func (k *kubeletNode) register(ctx context.Context) error {
	step := 100 * time.Millisecond
	for {
		created, err := k.client.CoreV1().Nodes().Create(ctx, k.initialNode(), metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			if err != nil {
				created, err = k.client.CoreV1().Nodes().Get(ctx, k.name, metav1.GetOptions{})
			}
			if err == nil {
				klog.InfoS("Successfully registered node", "node", klog.KObj(created))
				k.setPodCIDR(created.Spec.PodCIDR)
				return nil
			}
		}
		klog.InfoS("Unable to register node with API server", "err", err, "node", k.name)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(step):
		}
		if step < 7*time.Second {
			step *= 2
		}
	}
}

// networkErrors is what the kubelet's runtimeState.networkErrors reports from the container runtime's
// NetworkReady condition (pkg/kubelet/kubelet.go updateRuntimeUp): here the simulator's hook says whether
// the HNS network the CNI config names exists (emulated).
func (k *kubeletNode) networkErrors() error {
	if err := callHook(context.Background(), k.o.hook, "network", map[string]string{"node": k.name}, nil); err != nil {
		return fmt.Errorf("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: %v", err)
	}
	return nil
}

// setStatus fills what the kubelet's setters publish (pkg/kubelet/kubelet_node_status.go
// defaultNodeStatusFuncs): addresses (--node-ip and the hostname), machine info and capacity (emulated
// host facts; pods from maxPods), version info, daemon endpoints, then nodestatus.ReadyCondition itself.
func (k *kubeletNode) setStatus(ctx context.Context, node *v1.Node) {
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeHostName, Address: k.name}}
	if k.flags.NodeIP != "" {
		node.Status.Addresses = append([]v1.NodeAddress{{Type: v1.NodeInternalIP, Address: k.flags.NodeIP}}, node.Status.Addresses...)
	}
	capacity := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse(k.o.cpu),
		v1.ResourceMemory:           resource.MustParse(k.o.memory),
		v1.ResourcePods:             *resource.NewQuantity(int64(k.config.MaxPods), resource.DecimalSI),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity.DeepCopy()
	node.Status.NodeInfo = v1.NodeSystemInfo{
		OperatingSystem: "windows", Architecture: "amd64", OSImage: k.o.edition,
		KernelVersion: k.o.build + ".1", KubeletVersion: version.Get().String(),
		ContainerRuntimeVersion: k.o.runtimeVer,
	}
	node.Status.DaemonEndpoints = v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: k.config.Port}}
	none := func() error { return nil }
	ready := nodestatus.ReadyCondition(time.Now, none, k.networkErrors, none,
		func() cm.Status { return cm.Status{} }, none,
		func(klog.Logger, string, string) {}, k.config.LocalStorageCapacityIsolation)
	if err := ready(ctx, node); err != nil {
		klog.ErrorS(err, "Ready condition")
	}
}

// syncStatus is the kubelet's node status loop (kubelet_node_status.go syncNodeStatus/tryUpdateNodeStatus:
// get the node, run the setters, nodeutil.PatchNodeStatus). The kubelet checks every
// nodeStatusUpdateFrequency (10s), with the runtime's network state refreshed every 5s (kubelet.go
// updateRuntimeUp), and reports a change at once; this loop checks every 2s (each check asks the hook) so
// tests see transitions quickly, and reports at least every nodeStatusReportFrequency.
func (k *kubeletNode) syncStatus(ctx context.Context) {
	var lastReport time.Time
	lastReady := v1.ConditionUnknown
	for ctx.Err() == nil {
		if node, err := k.client.CoreV1().Nodes().Get(ctx, k.name, metav1.GetOptions{}); err != nil {
			klog.ErrorS(err, "Error getting node", "node", k.name)
		} else {
			k.setPodCIDR(node.Spec.PodCIDR)
			updated := node.DeepCopy()
			k.setStatus(ctx, updated)
			ready := readyStatus(updated)
			if ready != lastReady || time.Since(lastReport) > k.config.NodeStatusReportFrequency.Duration {
				if _, _, err := nodeutil.PatchNodeStatus(k.client.CoreV1(), types.NodeName(k.name), node, updated); err != nil {
					klog.ErrorS(err, "Error updating node status, will retry")
				} else {
					lastReport, lastReady = time.Now(), ready
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func readyStatus(node *v1.Node) v1.ConditionStatus {
	for _, condition := range node.Status.Conditions {
		if condition.Type == v1.NodeReady {
			return condition.Status
		}
	}
	return v1.ConditionUnknown
}
