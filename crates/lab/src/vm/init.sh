#!/bin/sh
# /init of the lab VM (PID 1 in the initramfs; busybox only). Written by crates/lab/src/vm/init.sh.
#
# It mounts the host's root read-only over 9p with a throw-away tmpfs overlay on top (or, when the
# host names another root file system, that one, with the host directories the command needs
# shown at their own paths under overlays of their own), makes the
# kit's kernel modules loadable, runs one command chrooted into that root and powers the VM off.
# The host names the directory of this run's files on the kernel command line (opr.run=DIR). That
# directory holds `config` (shell assignments, sourced below) and `cmd.sh` (the command, run by the
# host's own /bin/sh inside the chroot).
#
# The command's stdout and stderr go to two virtio-serial ports (opr.stdout, opr.stderr). When it
# exits, "<NONCE><status>;" is written to both ports: the host stops forwarding at the nonce and
# takes the status from there.
#
# With BOOT=systemd in `config` (the Debian 13 root only), init does not run the command itself: it
# adds a oneshot unit to the root (/run/systemd/system/opr-vm-command.service, wanted by
# multi-user.target) that runs it the same way, reports its status and powers off with systemctl,
# shows the overlay's upper layer at /run/opr-vm/upper (so a command can save what it changed), and
# `switch_root`s into the root with systemd as PID 1. UPPER_FROM (any boot mode) names a tar
# archive on the host unpacked into the overlay's upper layer before the root is mounted: what an
# earlier boot saved from /run/opr-vm/upper comes back, as on a disk booted again.
#
# PID 1 never chroots, so kernel module auto-loading keeps running
# /sbin/modprobe from the initramfs, a wrapper that runs the host's modprobe inside the new root.

R=/newroot
STARTED="opr-vm: command started"
debug=0
run=

say() { echo "opr-vm: $*"; }
step() { if [ "$debug" = 1 ]; then echo "opr-vm: [$(cut -d' ' -f1 /proc/uptime)] $*"; fi; }
halt() {
    sync
    echo o >/proc/sysrq-trigger
    while :; do sleep 60; done # PID 1 must not exit (that panics the kernel)
}
die() {
    say "error: $*"
    halt
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for w in $(cat /proc/cmdline); do
    case "$w" in
    opr.run=*) run=${w#opr.run=} ;;
    opr.debug) debug=1 ;;
    esac
done
step "initramfs running"
[ -n "$run" ] || die "no opr.run= on the kernel command line"

. /etc/opr-vm/modules || die "missing /etc/opr-vm/modules"
for m in $MODULES; do
    insmod "/lib/modules/$m.ko" || die "cannot load module $m"
done
step "modules loaded"

mkdir -p /mnt/host /mnt/rw "$R"
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /mnt/host ||
    die "cannot mount the host root over 9p"
cfg="/mnt/host$run/config"
[ -r "$cfg" ] || die "missing $cfg"
# Sets NONCE, KVER, KIT_MODULES (host path of the kit's module tree), MODDIR (the guest root's
# lib/modules directory), RW (host directory shared read-write, or empty), ROOT (host path of the
# guest's root file system, empty for the host's own root) and BINDS (host directories shown at
# their own paths when ROOT is set; separated by spaces, which the host never puts in a path),
# BOOT ("systemd" or empty) and UPPER_FROM (host path of a tar archive, or empty).
BOOT=
UPPER_FROM=
. "$cfg"

mount -t tmpfs -o mode=0755 overlay-rw /mnt/rw || die "cannot mount the overlay's tmpfs"
mkdir /mnt/rw/upper /mnt/rw/work
if [ -n "$UPPER_FROM" ]; then
    tar -xf "/mnt/host$UPPER_FROM" -C /mnt/rw/upper || die "cannot unpack $UPPER_FROM into the overlay's upper layer"
fi
mount -t overlay -o "lowerdir=/mnt/host$ROOT,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work" overlay "$R" ||
    die "cannot mount the overlay root"
if [ -n "$ROOT" ]; then
    i=0
    for b in $BINDS; do
        i=$((i + 1))
        mkdir -p "/mnt/rw/b$i/upper" "/mnt/rw/b$i/work" "$R$b"
        mount -t overlay -o "lowerdir=/mnt/host$b,upperdir=/mnt/rw/b$i/upper,workdir=/mnt/rw/b$i/work" overlay "$R$b" ||
            die "cannot show the host's $b in the guest root"
    done
fi
mount -t proc proc "$R/proc" || die "cannot mount /proc"
mount -t sysfs sysfs "$R/sys" || die "cannot mount /sys"
mount -t devtmpfs devtmpfs "$R/dev" || die "cannot mount /dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=0755 tmpfs "$R/run" || die "cannot mount /run"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup" 2>/dev/null
mkdir -p "$R$MODDIR/$KVER" && mount --bind "/mnt/host$KIT_MODULES" "$R$MODDIR/$KVER" ||
    die "cannot bind-mount the kit's modules on $MODDIR/$KVER"
if [ -n "$RW" ]; then
    mkdir -p "$R$RW" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 oprrw "$R$RW" ||
        die "cannot mount the read-write share on $RW"
fi
mkdir -p "$R/run/opr-vm" && cp "/mnt/host$run/cmd.sh" "$R/run/opr-vm/cmd.sh" || die "cannot copy cmd.sh"
ip link set lo up
hostname opr-vm
step "root ready"

out=
err=
n=0
while :; do
    for p in /sys/class/virtio-ports/*; do
        [ -r "$p/name" ] || continue
        name=
        read -r name <"$p/name"
        case "$name" in
        opr.stdout) out="/dev/${p##*/}" ;;
        opr.stderr) err="/dev/${p##*/}" ;;
        esac
    done
    if [ -n "$out" ] && [ -n "$err" ] && [ -c "$out" ] && [ -c "$err" ]; then break; fi
    n=$((n + 1))
    [ "$n" -lt 1000 ] || die "the output ports opr.stdout/opr.stderr did not appear"
    usleep 10000
done

if [ "$BOOT" = systemd ]; then
    [ -x "$R/usr/lib/systemd/systemd" ] || die "BOOT=systemd but the root has no /usr/lib/systemd/systemd"
    mkdir -p "$R/run/opr-vm/upper" && mount --bind /mnt/rw/upper "$R/run/opr-vm/upper" ||
        die "cannot show the overlay's upper layer at /run/opr-vm/upper"
    cat >"$R/run/opr-vm/run.sh" <<EOF
# Run by opr-vm-command.service (written by the lab VM's init).
echo "$STARTED" >/dev/ttyS0
/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root \\
    LOGNAME=root SHELL=/bin/sh LANG=C.UTF-8 /bin/sh /run/opr-vm/cmd.sh </dev/null >$out 2>$err
rc=\$?
printf '%s%d;' '$NONCE' "\$rc" >$err
printf '%s%d;' '$NONCE' "\$rc" >$out
systemctl --no-block poweroff
EOF
    u="$R/run/systemd/system"
    mkdir -p "$u/multi-user.target.wants"
    cat >"$u/opr-vm-command.service" <<EOF
[Unit]
Description=The lab VM's command (written by its init)

[Service]
Type=oneshot
ExecStart=/bin/sh /run/opr-vm/run.sh
TimeoutStartSec=infinity
EOF
    ln -s ../opr-vm-command.service "$u/multi-user.target.wants/opr-vm-command.service"
    # No prompt and no login on the console, which is the run's log.
    for m in systemd-firstboot.service serial-getty@ttyS0.service getty@tty1.service; do
        ln -s /dev/null "$u/$m"
    done
    step "switching to systemd"
    exec switch_root "$R" /usr/lib/systemd/systemd
fi

say "$STARTED"
/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root LOGNAME=root \
    SHELL=/bin/sh LANG=C.UTF-8 /bin/chroot "$R" /bin/sh /run/opr-vm/cmd.sh </dev/null >"$out" 2>"$err"
rc=$?
step "command exited with status $rc"
printf '%s%d;' "$NONCE" "$rc" >"$err"
printf '%s%d;' "$NONCE" "$rc" >"$out"
halt
