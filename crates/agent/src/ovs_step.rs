//! The kernel state and the Open vSwitch ports it carries, applied together: removals in the
//! database first (a bridge of ours whose name a Linux bridge is about to take, a port moving
//! away), then the kernel state (the host legs must exist before they become ports), then the
//! rest of the database. The database's outcome is folded into the kernel report: its write
//! transactions and the bridge netdevs set up count as writes, its failures are the resources'.

use dataplane::ovs::{self, Ovsdb};
use dataplane::{Datapath, HostNetwork, Report};

/// Applies `desired` to the kernel and to the Open vSwitch database.
pub(crate) fn kernel_and_ovs(
    datapath: &mut Datapath,
    db: &mut Ovsdb,
    desired: &HostNetwork,
) -> Result<Report, dataplane::Error> {
    let pruned = ovs::prune(db, &desired.ovs_ports);
    for f in &pruned.failures {
        // Tried again (and reported) by the full pass below.
        tracing::debug!("Open vSwitch, before the kernel step: {f}");
    }
    let mut report = datapath.reconcile(desired)?;
    let done = ovs::reconcile(db, datapath, &desired.ovs_ports);
    for op in pruned.ops.iter().chain(&done.ops) {
        tracing::info!("{op}");
    }
    report.writes += pruned.transactions + done.transactions + done.links_up;
    report.failures.extend(done.failures);
    Ok(report)
}
