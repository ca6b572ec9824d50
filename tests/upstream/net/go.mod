// libcni and flannel parsers, built for the tests (see validate/main.go).
module hybridctl.test/upstream/net

go 1.26.0

require (
	github.com/containernetworking/cni v1.3.1
	github.com/flannel-io/flannel v0.28.10
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/google/renameio/v2 v2.0.2 // indirect
	github.com/vishvananda/netlink v1.3.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	go.opentelemetry.io/otel v1.45.0 // indirect
	go.opentelemetry.io/otel/trace v1.45.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	k8s.io/klog/v2 v2.140.0 // indirect
)
