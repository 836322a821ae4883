//! The one-machine test-bed.
//!
//! * [`boot`]: the boot lane, host mode installed as its docs say and booted under systemd in the VM;
//! * [`vm`]: runs a command as root inside a VM booting a stock Debian kernel under qemu, for
//!   everything this machine's kernel lacks (VRF, dummy and 802.1Q devices);
//! * [`fabric`]: the fabric lab's topology and router configurations, as plain data;
//! * [`build`]: the topology turned into kernel objects through the `kernel` crate (as the
//!   product reaches the kernel);
//! * [`control`]: the lab's life cycle, [`up`], [`status`] and [`down`];
//! * [`pe`]: the PE routers (one node agent per node) that `up` starts;
//! * [`ovs`]: each node's own Open vSwitch (when installed), for L2VNIs on OVS bridges;
//! * [`speaker`]: each node's BGP speaker (FRR, BIRD or GoBGP) and how to query it;
//! * [`kernel_watch`] and [`session_counters`]: what the drills watch to prove nothing moved
//!   (kernel events seen by `ip monitor`, sorted by cause; BGP sessions' up and down counts);
//! * [`check`]: the scenarios of `openperouter lab check`, with real state and real packets.

pub mod boot;
pub mod build;
pub mod check;
pub mod control;
pub mod fabric;
pub mod kernel_watch;
pub mod ovs;
pub mod pe;
pub mod session_counters;
pub mod speaker;
pub mod vm;

pub use control::{DEFAULT_RUN_ROOT, Lab, LabError, LabOptions, LabStatus, down, status, up};
