"""The real lab: upstream Kubernetes built from Go modules, packaged like its sources, on systemd hosts."""
