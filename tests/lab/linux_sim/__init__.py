"""The lab's simulated Linux toolchain: kubeadm, kubectl, systemctl, apt, modprobe and swap for test hosts.

The ``sim_*.py`` modules and ``main.py`` are copied (with ``tests/lab/cluster_model.py``) into the lab's
shared directory and run INSIDE the Linux test hosts by Debian's ``/usr/bin/python3`` (standard library
plus PyYAML from the ``python3-yaml`` package), through small wrappers in each host's private
``/usr/local/sbin``, which comes first on root's PATH, sshd's and sudo's secure_path. ``lab.py`` is the
pytest side that builds such a lab. What stays real in the hosts: downloads (curl), sha256sum, tar,
install, file writes, ``ip route``, ``iptables``, ``sysctl -p`` of per-namespace keys, the CNI plugins.
"""
