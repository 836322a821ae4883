//! Reading the database, diffing, writing: one transaction per resource, so a step that fails
//! fails its own resource and the others still converge.

use std::time::{Duration, Instant};

use super::{OvsAction, OvsDiff, OvsError, OvsOp, OvsPort, Ovsdb, diff};
use crate::{Datapath, Failure, Owner, Side};

/// How long a new bridge's netdev may take to appear before it is brought up.
const NETDEV_WAIT: Duration = Duration::from_secs(5);

/// What a reconcile did.
#[derive(Debug, Clone, Default)]
pub struct OvsReport {
    /// The steps that were run (in order), whether or not they succeeded.
    pub ops: Vec<OvsOp>,
    /// Database write transactions made.
    pub transactions: u64,
    /// Bridge netdevs set up (kernel writes).
    pub links_up: u64,
    /// What failed, per resource (`owner: None` for removing what no resource wants).
    pub failures: Vec<Failure>,
}

fn failure(owner: Option<&Owner>, object: String, message: String) -> Failure {
    Failure { owner: owner.cloned(), side: Side::Host, object, message }
}

/// Brings the database to `wanted`, and our bridges' netdevs up in the host namespace of
/// `datapath`. With nothing wanted and no database socket (a host without Open vSwitch),
/// nothing is done.
pub fn reconcile(db: &mut Ovsdb, datapath: &mut Datapath, wanted: &[OvsPort]) -> OvsReport {
    run(db, Some(datapath), wanted, false)
}

/// The steps [`reconcile`] would take, read-only (`None`: nothing is wanted on Open vSwitch and
/// there is no database to clean up).
pub fn diff_live(db: &Ovsdb, wanted: &[OvsPort]) -> Result<Option<OvsDiff>, OvsError> {
    if wanted.is_empty() && !db.present() {
        return Ok(None);
    }
    Ok(Some(diff(wanted, &db.observe()?)))
}

/// Only the removals of [`reconcile`]: what must go before the kernel state changes (a bridge
/// of ours whose name a Linux bridge is about to take, a port moving away).
pub fn prune(db: &mut Ovsdb, wanted: &[OvsPort]) -> OvsReport {
    run(db, None, wanted, true)
}

fn run(db: &mut Ovsdb, datapath: Option<&mut Datapath>, wanted: &[OvsPort], removals_only: bool) -> OvsReport {
    let mut report = OvsReport::default();
    if wanted.is_empty() && !db.present() {
        return report;
    }
    let before = db.writes();
    let observed = match db.observe() {
        Ok(o) => o,
        Err(e) => {
            if wanted.is_empty() {
                tracing::warn!("Open vSwitch: cannot look for bridges and ports to clean up: {e}");
            }
            for p in wanted {
                let object = format!("ovs port {}", p.port);
                report.failures.push(failure(Some(&p.owner), object, e.to_string()));
            }
            return report;
        }
    };
    let d = diff(wanted, &observed);
    if !removals_only {
        report.failures.extend(d.problems);
    }
    let ops: Vec<OvsOp> = d.ops.into_iter().filter(|o| !removals_only || o.action.is_removal()).collect();

    // One transaction per resource (and one for what no resource wants), in the diff's order
    // of first appearance.
    let mut groups: Vec<(Option<Owner>, Vec<&OvsAction>)> = Vec::new();
    for op in &ops {
        match groups.iter_mut().find(|(o, _)| *o == op.owner) {
            Some((_, actions)) => actions.push(&op.action),
            None => groups.push((op.owner.clone(), vec![&op.action])),
        }
    }
    for (owner, actions) in &groups {
        if let Err(e) = db.transact(actions) {
            let object = actions.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
            if owner.is_none() {
                tracing::warn!("Open vSwitch: {object}: {e}");
            }
            report.failures.push(failure(owner.as_ref(), format!("ovs {object}"), e.to_string()));
        }
    }
    report.ops = ops;
    report.transactions = db.writes() - before;

    if let Some(datapath) = datapath {
        for p in wanted.iter().filter(|p| p.managed_bridge) {
            // Not for a resource whose transaction failed.
            if report.failures.iter().any(|f| f.owner.as_ref() == Some(&p.owner)) {
                continue;
            }
            match bring_up(datapath, &p.bridge) {
                Ok(wrote) => report.links_up += u64::from(wrote),
                Err(message) => report.failures.push(failure(Some(&p.owner), format!("link {}", p.bridge), message)),
            }
        }
    }
    report
}

/// Waits for the bridge's netdev (Open vSwitch makes it once it has seen the new bridge) and
/// sets it up; whether a write was needed.
fn bring_up(datapath: &mut Datapath, bridge: &str) -> Result<bool, String> {
    let deadline = Instant::now() + NETDEV_WAIT;
    loop {
        match datapath.set_up(Side::Host, bridge) {
            Ok(Some(wrote)) => return Ok(wrote),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                return Err(format!(
                    "the netdev of Open vSwitch bridge {bridge} did not appear within {} s (is ovs-vswitchd running?)",
                    NETDEV_WAIT.as_secs()
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}
