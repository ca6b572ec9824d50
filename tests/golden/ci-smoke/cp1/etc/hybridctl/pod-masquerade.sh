#!/bin/sh
# Rendered by hybridctl for "cp1": pods on this node reach addresses outside the cluster
# pod network from the node's address, and forwarded pod traffic is accepted. Idempotent: the chains are
# rebuilt, each jump added once.
set -eu

CHAIN=HYBRIDCTL-POD-MASQ
NODE_PODS=10.244.0.0/24
CLUSTER_PODS=10.244.0.0/16
FORWARD_CHAIN=HYBRIDCTL-POD-FWD

iptables -w -t nat -N "$CHAIN" 2>/dev/null || true
iptables -w -t nat -F "$CHAIN"
iptables -w -t nat -A "$CHAIN" ! -s "$NODE_PODS" -j RETURN
iptables -w -t nat -A "$CHAIN" -d "$CLUSTER_PODS" -j RETURN
iptables -w -t nat -A "$CHAIN" -j MASQUERADE
if ! iptables -w -t nat -C POSTROUTING -j "$CHAIN" 2>/dev/null; then
    iptables -w -t nat -A POSTROUTING -j "$CHAIN"
fi

# Accept forwarded traffic from and to the cluster pod network, as flannel does by default
# (--iptables-forward-rules: "-A FORWARD -s/-d <network> -j ACCEPT"). kube-proxy's own FORWARD rules only
# accept marked or established flows, so on a host whose FORWARD policy is DROP (Docker, ufw, firewalld)
# cross-node pod traffic dies without these (flannel-io/flannel#1450). The jump goes first, ahead of a
# final REJECT some firewalls add.
iptables -w -t filter -N "$FORWARD_CHAIN" 2>/dev/null || true
iptables -w -t filter -F "$FORWARD_CHAIN"
iptables -w -t filter -A "$FORWARD_CHAIN" -s "$CLUSTER_PODS" -j ACCEPT
iptables -w -t filter -A "$FORWARD_CHAIN" -d "$CLUSTER_PODS" -j ACCEPT
if ! iptables -w -t filter -C FORWARD -j "$FORWARD_CHAIN" 2>/dev/null; then
    iptables -w -t filter -I FORWARD 1 -j "$FORWARD_CHAIN"
fi
