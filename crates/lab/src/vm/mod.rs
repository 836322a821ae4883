//! The VM runner: runs one command as root inside a VM that boots a stock Debian kernel under
//! qemu (TCG; KVM cannot boot a stock kernel on this machine), sees the host's whole filesystem
//! and can create VRF, dummy and 802.1Q devices.
//!
//! ```no_run
//! use lab::vm::{Kit, RunOptions, run};
//! let kit = Kit::prepare_default()?;
//! let status = run(&kit, &["ip", "link", "add", "red", "type", "vrf", "table", "10"], &RunOptions::default())?;
//! assert_eq!(status, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * [`Kit`] ([`prepare`]): the kernel, qemu and initramfs, built once into a cache directory
//!   ([`default_kit_dir`]) from Debian packages.
//! * [`run`] / [`run_with_output`]: boots the VM (2.2-2.7 s end to end for `true` on an idle
//!   machine), runs the command in the caller's working directory, streams its stdout and
//!   stderr, and returns its exit status.
//!
//! * [`Userland`] ([`prepare_debian13`]): the guest's root file system, the host's own (FRR 8.4)
//!   or a Debian 13 root (FRR 10.3) built once with debootstrap.
//!
//! Inside the VM:
//! * `/` is the host's root (or the chosen userland's, with the command's directories shown), read-only over 9p, under a tmpfs overlay: writes succeed and vanish
//!   with the VM. `/run` and `/dev/shm` are fresh tmpfs mounts; `/tmp` is the host's, seen through the
//!   throw-away overlay.
//!   [`RunOptions::rw_share`] mounts one host directory read-write at the same path.
//! * `/lib/modules/<release>` is the kit's module tree, so `modprobe` and the kernel's module
//!   auto-loading work (`ip link add x type vrf` loads `vrf`).
//! * The command runs as root, with stdin from /dev/null and a clean environment (see
//!   [`RunOptions::env`]). Build on the host and run the binaries here: each process start
//!   costs about 0.1 s under TCG, so batch many cases per boot.

mod initramfs;
mod kernel;
mod kit;
mod runner;
mod stream;
mod userland;

pub use initramfs::InitramfsError;
pub use kernel::ExtractError;
pub use kit::{KIT_DIR_ENV, Kit, KitError, KitOptions, default_kit_dir, prepare};
pub use runner::{DEFAULT_TIMEOUT, RunOptions, VmError, inside_vm, run, run_with_output};
pub use userland::{
    DEBIAN13_PACKAGES, DEFAULT_FRR_LINE, FrrLine, MIRROR_ENV, RootError, Userland, debian_mirror, prepare_debian13,
    recipe_fingerprint,
};
