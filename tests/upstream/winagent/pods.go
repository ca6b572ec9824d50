package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	podutil "k8s.io/kubernetes/pkg/util/pod"
)

// defaultHandler is containerd's default_runtime_name in hybridctl's Windows config.toml (the handler a
// pod without a RuntimeClass runs with).
const defaultHandler = "runhcs-wcow-process"

type podRequest struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	PodCIDR   string `json:"podCIDR"`
	Handler   string `json:"handler"`
	// Every container of the pod (the kubelet's SyncPod starts each after the sandbox): the hook runs
	// each container's stand-in program in the sandbox's namespace.
	Containers []podContainer `json:"containers"`
	// The pod's DNS as the kubelet hands it to the runtime for a ClusterFirst pod
	// (pkg/kubelet/network/dns: the clusterDNS servers and <namespace>.svc.<domain>, svc.<domain>, <domain>).
	DNS    []string `json:"dns,omitempty"`
	Search []string `json:"search,omitempty"`
	// IP is the sandbox's address, as the hook answered pod-add (not sent to the hook).
	IP string `json:"-"`
}

// podContainer is what the runtime's CreateContainer gets of a container: its name, image, command and args.
type podContainer struct {
	Name    string   `json:"name"`
	Image   string   `json:"image"`
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
}

type podAnswer struct {
	IP string `json:"ip"`
}

// runPods watches the pods bound to this node the way the kubelet's API source does
// (pkg/kubelet/config/apiserver.go NewSourceApiserver: a list-watch of pods with the field selector
// spec.nodeName=<node>) and handles each change in one worker, like the pod workers (serialised here).
// Emulated: the container runtime. A pod's sandbox is the hook's network namespace on the host's bridge
// and its containers are the hook's stand-in programs in it, so a pod is Running with its IP once the
// namespace exists.
func (k *kubeletNode) runPods(ctx context.Context) {
	selector := fields.OneTermEqualSelector("spec.nodeName", k.name)
	lw := cache.NewListWatchFromClient(k.client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, selector)
	queue := make(chan string, 1024)
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			queue <- key
		}
	}
	store, controller := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &v1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
			DeleteFunc: enqueue,
		},
	})
	go controller.RunWithContext(ctx)
	running := map[string]podRequest{}
	for {
		select {
		case <-ctx.Done():
			return
		case key := <-queue:
			obj, exists, _ := store.GetByKey(key)
			pod, _ := obj.(*v1.Pod)
			if err := k.syncPod(ctx, key, pod, exists, running); err != nil {
				klog.ErrorS(err, "Error syncing pod, skipping", "pod", key)
				go func() { time.Sleep(2 * time.Second); queue <- key }()
			}
		}
	}
}

func (k *kubeletNode) syncPod(ctx context.Context, key string, pod *v1.Pod, exists bool, running map[string]podRequest) error {
	request, started := running[key]
	if !exists || pod.DeletionTimestamp != nil || (started && request.UID != string(pod.UID)) {
		if started {
			if cancel, probing := k.probes[key]; probing {
				cancel()
				delete(k.probes, key)
			}
			if err := callHook(ctx, k.o.hook, "pod-del", request, nil); err != nil {
				return err
			}
			delete(running, key)
			started = false
		}
		if exists && pod.DeletionTimestamp != nil {
			return k.finishDeletion(ctx, pod)
		}
		if !exists {
			return nil
		}
	}
	if _, reported := k.probes[key]; reported || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return nil
	}
	if !started {
		var err error
		if request, err = k.createSandbox(ctx, pod); err != nil {
			return err
		}
		running[key] = request
	}
	// A sandbox whose status patch failed is reported again on the retry, not created again.
	probes := &readiness{k: k, pod: pod, ip: request.IP, ready: initialReadiness(pod)}
	if err := k.reportRunning(ctx, pod, request.IP, probes.ready); err != nil {
		return err
	}
	probeCtx, cancel := context.WithCancel(ctx)
	k.probes[key] = cancel
	probes.run(probeCtx)
	return nil
}

// createSandbox has the hook make the pod's sandbox and start its containers; the request, with the IP.
func (k *kubeletNode) createSandbox(ctx context.Context, pod *v1.Pod) (podRequest, error) {
	handler, err := k.runtimeHandler(ctx, pod)
	if err != nil {
		return podRequest{}, err
	}
	request := podRequest{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), PodCIDR: k.currentPodCIDR(), Handler: handler}
	if domain := k.config.ClusterDomain; domain != "" && pod.Spec.DNSPolicy == v1.DNSClusterFirst {
		request.DNS = k.config.ClusterDNS
		request.Search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
	}
	for _, c := range pod.Spec.Containers {
		request.Containers = append(request.Containers, podContainer{c.Name, c.Image, c.Command, c.Args})
	}
	if request.PodCIDR == "" {
		return podRequest{}, fmt.Errorf("node %s has no podCIDR yet", k.name)
	}
	var answer podAnswer
	if err := callHook(ctx, k.o.hook, "pod-add", request, &answer); err != nil {
		return podRequest{}, fmt.Errorf("failed to create pod sandbox: %w", err)
	}
	request.IP = answer.IP
	return request, nil
}

// runtimeHandler is the RuntimeClass's handler (pkg/kubelet/runtimeclass.Manager.LookupRuntimeHandler)
// or containerd's default; a handler the runtime does not have fails the sandbox as containerd does.
func (k *kubeletNode) runtimeHandler(ctx context.Context, pod *v1.Pod) (string, error) {
	handler := defaultHandler
	if name := pod.Spec.RuntimeClassName; name != nil && *name != "" {
		rc, err := k.client.NodeV1().RuntimeClasses().Get(ctx, *name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("failed to get RuntimeClass %q: %w", *name, err)
		}
		handler = rc.Handler
	}
	if !k.handlers[handler] {
		return "", fmt.Errorf("failed to create pod sandbox: no runtime for %q is configured", handler)
	}
	return handler, nil
}

// reportRunning patches the status the kubelet's status manager would report for a pod whose containers
// all run (pkg/kubelet/kubelet_pods.go generateAPIPodStatus, pkg/kubelet/status/status_manager.go
// syncPod -> pkg/util/pod.PatchPodStatus), each container ready as ready says (a container with a
// readiness probe is not ready until the probe passes: probes.go) and the pod Ready when all are.
func (k *kubeletNode) reportRunning(ctx context.Context, pod *v1.Pod, ip string, ready map[string]bool) error {
	now := metav1.Now()
	status := pod.Status.DeepCopy()
	status.Phase = v1.PodRunning
	if k.flags.NodeIP != "" {
		status.HostIP, status.HostIPs = k.flags.NodeIP, []v1.HostIP{{IP: k.flags.NodeIP}}
	}
	status.PodIP, status.PodIPs = ip, []v1.PodIP{{IP: ip}}
	status.StartTime = &now
	all := v1.ConditionTrue
	for _, c := range pod.Spec.Containers {
		if !ready[c.Name] {
			all = v1.ConditionFalse
		}
	}
	for _, kind := range []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized} {
		setCondition(status, v1.PodCondition{Type: kind, Status: v1.ConditionTrue, LastTransitionTime: now})
	}
	for _, kind := range []v1.PodConditionType{v1.ContainersReady, v1.PodReady} {
		setCondition(status, v1.PodCondition{Type: kind, Status: all, LastTransitionTime: now})
	}
	status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		started := true
		status.ContainerStatuses = append(status.ContainerStatuses, v1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: ready[c.Name], Started: &started,
			ContainerID: fmt.Sprintf("containerd://%s-%s", pod.UID, c.Name),
			State:       v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, _, _, err := podutil.PatchPodStatus(ctx, k.client, pod.Namespace, pod.Name, pod.UID, pod.Status, *status)
	return err
}

// finishDeletion is the status manager's last step for a terminated pod (status_manager.go syncPod with
// canBeDeleted: delete with grace period 0 and the pod's UID as precondition).
func (k *kubeletNode) finishDeletion(ctx context.Context, pod *v1.Pod) error {
	zero := int64(0)
	uid := types.UID(pod.UID)
	options := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}}
	return ignoreNotFound(k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, options))
}

func setCondition(status *v1.PodStatus, condition v1.PodCondition) {
	for i := range status.Conditions {
		if status.Conditions[i].Type == condition.Type {
			status.Conditions[i] = condition
			return
		}
	}
	status.Conditions = append(status.Conditions, condition)
}
