package main

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/probe"
	probehttp "k8s.io/kubernetes/pkg/probe/http"
	probetcp "k8s.io/kubernetes/pkg/probe/tcp"
	podutil "k8s.io/kubernetes/pkg/util/pod"
)

// readiness is the kubelet's readiness prober for one pod (pkg/kubelet/prober worker.go): each container
// with a readinessProbe starts not ready and is probed every periodSeconds after initialDelaySeconds; it
// turns ready after successThreshold successes in a row and not ready after failureThreshold failures.
// The probes are the kubelet's own HTTP and TCP probers (pkg/probe/http, pkg/probe/tcp) against the pod's
// IP, which this host's namespace reaches over the pod bridge. Emulated: exec and gRPC probes, which would
// run in the container; a container with one is reported ready (and the agent logs that it was not probed).
type readiness struct {
	k     *kubeletNode
	pod   *v1.Pod
	ip    string
	ready map[string]bool
}

// initialReadiness is the containers' ready flags before any probe ran.
func initialReadiness(pod *v1.Pod) map[string]bool {
	ready := map[string]bool{}
	for _, c := range pod.Spec.Containers {
		ready[c.Name] = !probed(c)
		if c.ReadinessProbe != nil && !probed(c) {
			klog.InfoS("Readiness probe not emulated, container reported ready", "pod", klog.KObj(pod), "container", c.Name)
		}
	}
	return ready
}

func probed(c v1.Container) bool {
	p := c.ReadinessProbe
	return p != nil && (p.HTTPGet != nil || p.TCPSocket != nil)
}

// run probes until ctx ends (the pod was deleted), patching the pod's status when readiness changes.
func (r *readiness) run(ctx context.Context) {
	for _, c := range r.pod.Spec.Containers {
		if probed(c) {
			go r.probeContainer(ctx, c)
		}
	}
}

func (r *readiness) probeContainer(ctx context.Context, c v1.Container) {
	p := c.ReadinessProbe
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := max(p.SuccessThreshold, 1), max(p.FailureThreshold, 1)
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	var streak int32
	var last probe.Result
	for {
		result := r.probeOnce(c, timeout)
		if result == last {
			streak++
		} else {
			last, streak = result, 1
		}
		if result == probe.Success && streak == success {
			r.set(ctx, c.Name, true)
		} else if result != probe.Success && streak == failure {
			r.set(ctx, c.Name, false)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

func (r *readiness) probeOnce(c v1.Container, timeout time.Duration) probe.Result {
	p := c.ReadinessProbe
	var result probe.Result
	var err error
	if p.HTTPGet != nil {
		request, rerr := probehttp.NewRequestForHTTPGetAction(p.HTTPGet, &c, r.ip, "probe")
		if rerr != nil {
			return probe.Failure
		}
		result, _, err = probehttp.New(false).Probe(request, timeout)
	} else {
		port, perr := probe.ResolveContainerPort(p.TCPSocket.Port, &c)
		if perr != nil {
			return probe.Failure
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = r.ip
		}
		result, _, err = probetcp.New().Probe(host, port, timeout)
	}
	if err != nil {
		return probe.Failure
	}
	return result
}

// set records one container's readiness and patches the pod's status when it changed (the status
// manager's SetContainerReadiness: the container's ready flag, then ContainersReady and Ready).
func (r *readiness) set(ctx context.Context, container string, ready bool) {
	r.k.probeMu.Lock()
	defer r.k.probeMu.Unlock()
	if r.ready[container] == ready {
		return
	}
	r.ready[container] = ready
	pod, err := r.k.client.CoreV1().Pods(r.pod.Namespace).Get(ctx, r.pod.Name, metav1.GetOptions{})
	if err != nil || pod.UID != r.pod.UID {
		return
	}
	status := pod.Status.DeepCopy()
	all := true
	for i := range status.ContainerStatuses {
		cs := &status.ContainerStatuses[i]
		cs.Ready = r.ready[cs.Name]
		all = all && cs.Ready
	}
	state := v1.ConditionFalse
	if all {
		state = v1.ConditionTrue
	}
	now := metav1.Now()
	for _, kind := range []v1.PodConditionType{v1.ContainersReady, v1.PodReady} {
		setCondition(status, v1.PodCondition{Type: kind, Status: state, LastTransitionTime: now})
	}
	if _, _, _, err := podutil.PatchPodStatus(ctx, r.k.client, pod.Namespace, pod.Name, pod.UID, pod.Status, *status); err != nil {
		klog.ErrorS(err, "Failed to patch readiness", "pod", klog.KObj(pod), "container", container)
	}
}
