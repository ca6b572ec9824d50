#!/bin/bash
# host-init.sh NAME STATE_DIR -- becomes PID 1 (sshd) of one hybridctl Linux test host.
#
# tests/support/linux_hosts.py starts it as
#   ip netns exec NS unshare --mount --uts --pid --fork --kill-child --mount-proc --propagation private \
#       bash host-init.sh NAME STATE_DIR
# so it already runs in the host's own network namespace and in fresh mount, UTS and PID namespaces.
# STATE_DIR (written by linux_hosts.py) holds: network ("ADDRESS/LEN GATEWAY"), sshd_config, the host key,
# authorized_keys, users ("NAME" per line), passwords (chpasswd -e input) and sudoers; optionally shared
# (a directory path every host of the lab sees, writable, at the same path, even under /tmp).
#
# The host sees private writable overlays over /etc /opt /var /usr/local (upper layers on a per-host tmpfs),
# fresh tmpfs on /root /home /tmp /run /dev/shm, and the rest of / read-only, so nothing it does (useradd,
# package files, sudo timestamps) reaches the build machine.
set -eu
NAME=$1 STATE=$2
RW=$STATE/rw

read -r ADDRESS GATEWAY < "$STATE/network"
ip link set lo up
ip addr add "$ADDRESS" dev eth0
ip link set eth0 up
ip route add default via "$GATEWAY"

hostname "$NAME"
# keep a handle on the real state dir: the tmpfs mounts below may hide its path (pytest uses /tmp)
cd "$STATE"
SHARED=
if [ -f "$STATE/shared" ]; then
  read -r SHARED < "$STATE/shared"
  exec 8< "$SHARED"  # an open directory survives the tmpfs mounts that hide its path
fi
mount -t tmpfs -o mode=0755 "hct-$NAME-rw" "$RW"
for d in /etc /opt /var /usr/local; do
  mkdir -p "$RW/upper$d" "$RW/work$d"
  mount -t overlay "hct-$NAME" -o "lowerdir=$d,upperdir=$RW/upper$d,workdir=$RW/work$d" "$d"
done
mount -t tmpfs -o mode=0700 "hct-$NAME-root" /root
mount -t tmpfs -o mode=0755 "hct-$NAME-home" /home
mount -t tmpfs -o mode=1777 "hct-$NAME-tmp" /tmp
mount -t tmpfs -o mode=0755 "hct-$NAME-run" /run
mount -t tmpfs -o mode=1777 "hct-$NAME-shm" /dev/shm
mkdir -p "$STATE"
# --no-canonicalize: "." must stay the old directory, not a path that now resolves inside a new tmpfs
mount --no-canonicalize --bind . "$STATE"
if [ -n "$SHARED" ]; then
  mkdir -p "$SHARED"
  mount --no-canonicalize --bind /proc/self/fd/8 "$SHARED"
  exec 8<&-
fi
cd /

echo "$NAME" > /etc/hostname
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > /etc/machine-id
echo >> /etc/machine-id
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$NAME" > /etc/hosts

# Debian's stock dotfiles: the build machine's own /root may carry shims and credentials
install -m 0644 /usr/share/base-files/dot.bashrc /root/.bashrc
install -m 0644 /usr/share/base-files/dot.profile /root/.profile
install -d -m 0700 /root/.ssh
install -m 0600 "$STATE/authorized_keys" /root/.ssh/authorized_keys

while read -r user; do
  useradd --create-home --no-log-init --shell /bin/bash "$user"
  install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"
  install -m 0600 -o "$user" -g "$user" "$STATE/authorized_keys" "/home/$user/.ssh/authorized_keys"
done < "$STATE/users"
chpasswd -e < "$STATE/passwords"
install -m 0440 "$STATE/sudoers" /etc/sudoers.d/hybridctl-test

# everything not made private above is the build machine's: read-only for this host only
mount -o remount,bind,ro /
mkdir -p -m 0755 /run/sshd
exec /usr/sbin/sshd -D -f "$STATE/sshd_config" -E "$STATE/sshd.log"
