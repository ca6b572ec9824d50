package main

import (
	_ "unsafe" // go:linkname

	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	clientset "k8s.io/client-go/kubernetes"
	componentbaseconfig "k8s.io/component-base/config"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/proxy/apis"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxyconfigscheme "k8s.io/kubernetes/pkg/proxy/apis/config/scheme"
	proxyconfig "k8s.io/kubernetes/pkg/proxy/config"
)

// createClient is kube-proxy's own client construction (cmd/kube-proxy/app/server.go, v1.37.2): the
// kubeconfig named by clientConnection.kubeconfig, with its content types, QPS and burst.
//
//go:linkname createClient k8s.io/kubernetes/cmd/kube-proxy/app.createClient
func createClient(ctx context.Context, config componentbaseconfig.ClientConnectionConfiguration, masterOverride string) (clientset.Interface, error)

type proxyService struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ClusterIP string `json:"clusterIP"`
	Port      int32  `json:"port"`
	Protocol  string `json:"protocol"`
	// NodePort: winkernel's second HNS load balancer for the port, with no VIP (every address of the
	// node) over the same endpoints (pkg/proxy/winkernel/proxier.go syncProxyRules: "If nodePort is
	// specified, user should be able to use nodeIP:nodePort to reach the backend endpoints").
	NodePort  int32    `json:"nodePort,omitempty"`
	Endpoints []string `json:"endpoints"`
}

// proxier keeps what kube-proxy's change trackers keep (Services and EndpointSlices by name) and hands the
// resulting ClusterIP -> endpoints map to the hook, which realises it in the host's namespace. Emulated:
// winkernel's HNS load balancers (pkg/proxy/winkernel/proxier.go syncProxyRules) become the hook's DNAT.
type proxier struct {
	hook     string
	mu       sync.Mutex
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
	changed  chan struct{}
	lastSent string
	// servicesSynced and slicesSynced: the proxier syncs only once both informers have synced
	// (pkg/proxy/winkernel/proxier.go isInitialized), so a partial map is never realised.
	servicesSynced, slicesSynced bool
}

// runKubeProxy starts kube-proxy's Windows service command line: the flags are judged with kube-proxy's
// flag set and the config file with its strict decoder and validation (the validator's code), then it
// waits for the HNS network as winkernel does (NewProxier: "Unable to find HNS Network specified"),
// builds its client from the rendered kubeconfig (so the kube-system/kube-proxy ServiceAccount's RBAC
// is what lets it list and watch), and runs the informers with kube-proxy's own label selectors.
func runKubeProxy(ctx context.Context, o agentOptions, args []string) error {
	if err := kubeProxyArgs(args, "windows"); err != nil {
		return err
	}
	fs := pflag.NewFlagSet("kube-proxy", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	configFile := fs.String("config", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(winPath(o.root, *configFile))
	if err != nil {
		return fmt.Errorf("failed to read config file %q: %w", *configFile, err)
	}
	if err := kubeProxyConfig(data, "windows"); err != nil {
		return err
	}
	obj, _, err := proxyconfigscheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		return err
	}
	config := obj.(*kubeproxyconfig.KubeProxyConfiguration)
	for {
		err := callHook(ctx, o.hook, "network", map[string]string{"network": config.Winkernel.NetworkName}, nil)
		if err == nil {
			break
		}
		klog.ErrorS(err, "Unable to find HNS Network specified, please check network name and CNI deployment", "hnsNetworkName", config.Winkernel.NetworkName)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	config.ClientConnection.Kubeconfig = winPath(o.root, config.ClientConnection.Kubeconfig)
	client, err := createClient(ctx, config.ClientConnection, "")
	if err != nil {
		return err
	}
	p := &proxier{hook: o.hook, services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}, changed: make(chan struct{}, 1)}
	p.start(ctx, client, config.ConfigSyncPeriod.Duration)
	p.loop(ctx)
	return nil
}

// start is cmd/kube-proxy/app/server.go ProxyServer.Run's informer set-up (v1.37.2): Services without a
// service.kubernetes.io/service-proxy-name label, EndpointSlices without the headless label, handled by
// pkg/proxy/config's ServiceConfig and EndpointSliceConfig.
func (p *proxier) start(ctx context.Context, client clientset.Interface, resync time.Duration) {
	noProxyName, _ := labels.NewRequirement(apis.LabelServiceProxyName, selection.DoesNotExist, nil)
	noHeadless, _ := labels.NewRequirement(v1.IsHeadlessService, selection.DoesNotExist, nil)
	services := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.NewSelector().Add(*noProxyName).String()
	}))
	slices := informers.NewSharedInformerFactoryWithOptions(client, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.NewSelector().Add(*noProxyName, *noHeadless).String()
	}))
	serviceConfig := proxyconfig.NewServiceConfig(ctx, services.Core().V1().Services(), resync)
	serviceConfig.RegisterEventHandler(p)
	go serviceConfig.Run(ctx.Done())
	sliceConfig := proxyconfig.NewEndpointSliceConfig(ctx, slices.Discovery().V1().EndpointSlices(), resync)
	sliceConfig.RegisterEventHandler(p)
	go sliceConfig.Run(ctx.Done())
	services.Start(ctx.Done())
	slices.Start(ctx.Done())
}

func (p *proxier) poke() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func key(namespace, name string) string { return namespace + "/" + name }

func (p *proxier) OnServiceAdd(s *v1.Service)                    { p.OnServiceUpdate(nil, s) }
func (p *proxier) OnServiceUpdate(_, s *v1.Service)              { p.setService(key(s.Namespace, s.Name), s) }
func (p *proxier) OnServiceDelete(s *v1.Service)                 { p.setService(key(s.Namespace, s.Name), nil) }
func (p *proxier) OnServiceSynced()                              { p.synced(&p.servicesSynced) }
func (p *proxier) OnEndpointSliceAdd(e *discovery.EndpointSlice) { p.OnEndpointSliceUpdate(nil, e) }
func (p *proxier) OnEndpointSliceUpdate(_, e *discovery.EndpointSlice) {
	p.setSlice(key(e.Namespace, e.Name), e)
}
func (p *proxier) OnEndpointSliceDelete(e *discovery.EndpointSlice) {
	p.setSlice(key(e.Namespace, e.Name), nil)
}
func (p *proxier) OnEndpointSlicesSynced() { p.synced(&p.slicesSynced) }

func (p *proxier) synced(flag *bool) {
	p.mu.Lock()
	*flag = true
	p.mu.Unlock()
	p.poke()
}

func (p *proxier) setService(k string, s *v1.Service) {
	p.mu.Lock()
	if s == nil {
		delete(p.services, k)
	} else {
		p.services[k] = s
	}
	p.mu.Unlock()
	p.poke()
}

func (p *proxier) setSlice(k string, e *discovery.EndpointSlice) {
	p.mu.Lock()
	if e == nil {
		delete(p.slices, k)
	} else {
		p.slices[k] = e
	}
	p.mu.Unlock()
	p.poke()
}

// desired is the ClusterIP map: per Service port, the ready endpoints of the Service's EndpointSlices
// (label kubernetes.io/service-name) with the port of the same name, as pkg/proxy's
// EndpointsChangeTracker builds it (endpoints whose ready condition is false are left out).
func (p *proxier) desired() []proxyService {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []proxyService
	for _, s := range p.services {
		if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == v1.ClusterIPNone {
			continue
		}
		for _, port := range s.Spec.Ports {
			entry := proxyService{s.Namespace, s.Name, s.Spec.ClusterIP, port.Port, string(port.Protocol), port.NodePort, []string{}}
			for _, slice := range p.slices {
				if slice.Namespace != s.Namespace || slice.Labels[discovery.LabelServiceName] != s.Name {
					continue
				}
				for _, sp := range slice.Ports {
					if sp.Port == nil || sp.Name == nil || *sp.Name != port.Name {
						continue
					}
					for _, ep := range slice.Endpoints {
						if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
							continue
						}
						for _, address := range ep.Addresses {
							entry.Endpoints = append(entry.Endpoints, fmt.Sprintf("%s:%d", address, *sp.Port))
						}
					}
				}
			}
			sort.Strings(entry.Endpoints)
			out = append(out, entry)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return fmt.Sprint(out[i].ClusterIP, out[i].Port, out[i].Protocol) < fmt.Sprint(out[j].ClusterIP, out[j].Port, out[j].Protocol)
	})
	return out
}

// loop is the proxier's syncRunner: after a change, sync (here: hand the map to the hook) when it differs
// from what was last realised; a failed sync is retried.
func (p *proxier) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-time.After(30 * time.Second):
		}
		p.mu.Lock()
		initialized := p.servicesSynced && p.slicesSynced
		p.mu.Unlock()
		if !initialized {
			continue
		}
		services := p.desired()
		text := fmt.Sprint(services)
		if text == p.lastSent {
			continue
		}
		if err := callHook(ctx, p.hook, "proxy-sync", map[string]any{"services": services}, nil); err != nil {
			klog.ErrorS(err, "Failed to sync proxy rules")
			go func() { time.Sleep(time.Second); p.poke() }()
			continue
		}
		p.lastSent = text
		klog.InfoS("Synced proxy rules", "services", strings.Count(text, "{"))
	}
}
