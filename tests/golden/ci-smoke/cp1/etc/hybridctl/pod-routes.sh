#!/bin/sh
# Rendered by hybridctl for "cp1": routes to every other node's pod CIDR (routes mode).
# Idempotent: 'ip route replace' adds or corrects each route; routes carrying hybridctl's protocol
# marker that are no longer wanted (a node left, a CIDR changed) are removed.
set -eu

PROTO=233

wanted() {
    case "$1" in
        10.244.1.0/24) return 0 ;;
    esac
    return 1
}

# node "win1"
ip -4 route replace 10.244.1.0/24 via 10.10.0.20 proto "$PROTO"

ip -4 route show proto "$PROTO" | while read -r destination _; do
    if ! wanted "$destination"; then
        ip -4 route del "$destination" proto "$PROTO"
    fi
done
