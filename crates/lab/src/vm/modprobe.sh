#!/bin/sh
# /sbin/modprobe of the lab VM's initramfs. The kernel's module auto-loading (request_module, e.g.
# for `ip link add x type vrf`) runs /sbin/modprobe relative to PID 1's root, which stays the
# initramfs: hand the request to the host's modprobe inside the VM's root, where init has
# bind-mounted the kit's modules on /lib/modules/<release>.
exec /bin/chroot /newroot /sbin/modprobe "$@"
