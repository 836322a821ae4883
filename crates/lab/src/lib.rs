//! The one-machine test-bed.
//!
//! * [`vm`]: runs a command as root inside a VM booting a stock Debian kernel under qemu, for
//!   everything this machine's kernel lacks (VRF, dummy and 802.1Q devices);
//! * [`fabric`]: the fabric lab's topology and router configurations, as plain data.

pub mod fabric;
pub mod vm;
