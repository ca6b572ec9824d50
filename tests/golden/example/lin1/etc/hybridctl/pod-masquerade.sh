#!/bin/sh
# Rendered by hybridctl for "lin1": pods on this node reach addresses outside the cluster
# pod network from the node's address. Idempotent: the chain is rebuilt, the jump added once.
set -eu

CHAIN=HYBRIDCTL-POD-MASQ
NODE_PODS=10.244.1.0/24
CLUSTER_PODS=10.244.0.0/16

iptables -w -t nat -N "$CHAIN" 2>/dev/null || true
iptables -w -t nat -F "$CHAIN"
iptables -w -t nat -A "$CHAIN" ! -s "$NODE_PODS" -j RETURN
iptables -w -t nat -A "$CHAIN" -d "$CLUSTER_PODS" -j RETURN
iptables -w -t nat -A "$CHAIN" -j MASQUERADE
if ! iptables -w -t nat -C POSTROUTING -j "$CHAIN" 2>/dev/null; then
    iptables -w -t nat -A POSTROUTING -j "$CHAIN"
fi
