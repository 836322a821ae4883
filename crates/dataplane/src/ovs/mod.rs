//! Open vSwitch host masters: the host leg of an L2VNI (`host-e-<vni>`) as a port of an OVS
//! bridge, either ours (`br-hs-<vni>`, tagged `external_ids:created-by=openperouter`, deleted
//! with the L2VNI) or an existing one we only attach to and detach from.
//!
//! The same shape as the kernel side: the desired ports are data in the plan
//! ([`OvsPort`], in [`crate::HostNetwork::ovs_ports`]); [`diff()`] (pure) turns them and what
//! the database holds ([`OvsObserved`]) into ordered steps ([`OvsOp`]) and per-resource
//! problems; [`reconcile`] reads, diffs and writes, one transaction per resource, then brings
//! our bridges' netdevs up. Nothing is written when nothing differs.
//!
//! What is ours, for stale cleanup: a bridge named `br-hs-<n>` that carries our tag, and a port
//! named `host-e-<n>` on any bridge. Nothing else is ever touched. Stale means not wanted *on
//! Open vSwitch*: an L2VNI whose host master moved to a Linux bridge loses its OVS bridge too
//! (before the kernel step, which then makes the Linux `br-hs-<vni>`), where upstream keeps an
//! OVS bridge as long as its VNI exists at all.
//!
//! `vsctl.rs` is the only file that talks to the database, and says why it does so through
//! `ovs-vsctl`.

mod apply;
mod diff;
mod vsctl;

pub use apply::{OvsReport, diff_live, prune, reconcile};
pub use diff::diff;
pub use vsctl::{CREATED_BY_KEY, CREATED_BY_VALUE, DEFAULT_SOCKET, OvsError, Ovsdb};

use std::fmt;

use serde::Serialize;

use crate::Owner;

/// A host leg attached to an Open vSwitch bridge, as it should be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OvsPort {
    /// The port and its system interface: the host leg `host-e-<vni>`.
    pub port: String,
    /// The bridge.
    pub bridge: String,
    /// Whether the bridge is ours (`br-hs-<vni>`: created, tagged and deleted by us) rather
    /// than an existing one that is only attached to.
    pub managed_bridge: bool,
    /// The resource that wants it.
    pub owner: Owner,
}

/// A bridge as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OvsBridgeState {
    /// Its name.
    pub name: String,
    /// Whether it carries `external_ids:created-by=openperouter`.
    pub created_by_us: bool,
    /// Its ports' names, sorted (the bridge's own internal port among them).
    pub ports: Vec<String>,
}

/// The bridges of an Open vSwitch database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OvsObserved {
    /// Every bridge, sorted by name.
    pub bridges: Vec<OvsBridgeState>,
}

impl OvsObserved {
    /// A bridge by name.
    pub fn bridge(&self, name: &str) -> Option<&OvsBridgeState> {
        self.bridges.iter().find(|b| b.name == name)
    }
}

/// One change to the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum OvsAction {
    /// Create our bridge, tagged as ours (with its internal port, as OVS always does).
    AddBridge {
        /// Its name.
        bridge: String,
    },
    /// Attach a netdev as a port (interface type `system`).
    AddPort {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
    },
    /// Detach a port.
    DeletePort {
        /// The bridge.
        bridge: String,
        /// The port.
        port: String,
    },
    /// Delete one of our bridges with its ports.
    DeleteBridge {
        /// Its name.
        bridge: String,
    },
}

impl fmt::Display for OvsAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OvsAction::AddBridge { bridge } => write!(f, "create bridge {bridge}"),
            OvsAction::AddPort { bridge, port } => write!(f, "attach {port} to {bridge}"),
            OvsAction::DeletePort { bridge, port } => write!(f, "detach {port} from {bridge}"),
            OvsAction::DeleteBridge { bridge } => write!(f, "delete bridge {bridge}"),
        }
    }
}

impl OvsAction {
    /// Whether it removes something.
    pub fn is_removal(&self) -> bool {
        matches!(self, OvsAction::DeletePort { .. } | OvsAction::DeleteBridge { .. })
    }
}

/// A step with the resource it is for (`None`: removing something no resource wants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OvsOp {
    /// The resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The change.
    #[serde(flatten)]
    pub action: OvsAction,
}

impl fmt::Display for OvsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As the kernel's steps print: where, what, then whose.
        let text = format!("{:<6} {}", "ovs", self.action);
        match &self.owner {
            Some(o) => write!(f, "{text:<72} [{o}]"),
            None => write!(f, "{text} (no longer wanted)"),
        }
    }
}

/// The steps from what the database holds to what is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OvsDiff {
    /// The steps, in order: removals first, then each wanted port's.
    pub ops: Vec<OvsOp>,
    /// What cannot be done, per resource (an External bridge that does not exist).
    pub problems: Vec<crate::Failure>,
}
