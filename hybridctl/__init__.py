"""hybridctl: build and run hybrid Kubernetes clusters (Linux control plane, Linux and Windows workers)."""

__version__ = "0.1.0"
