//! Per-node planning: from the API resources to everything a node should run.
//!
//! [`plan_node`] is a pure function (no I/O): it selects the resources that apply to a node,
//! validates every cross-resource rule, derives the per-node addresses and produces a
//! [`NodePlan`] with the FRR configuration, the desired kernel state and a per-resource outcome.
//! The same function serves host mode, the Kubernetes controller, the CLI and the webhooks.
//!
//! Invariants:
//! * one invalid resource never blocks the others; every dropped resource has an outcome
//!   (`ValidationFailed` for its own fault, `DependencyFailed` when something it needs failed);
//! * an invalid Underlay means "change nothing on this node": the plan has neither an FRR
//!   configuration nor a kernel state, only the outcome;
//! * iteration orders are fixed (resources sorted by name), so the same input always gives the
//!   same plan, byte for byte.

pub mod ipam;
pub mod select;

mod build_frr;
mod build_kernel;
mod valid;
mod validate;

use std::collections::{BTreeMap, BTreeSet};

use api::load::{Loaded, Rejected};
use api::{FailedResource, FailureReason, Objects, ResourceKind};
use serde::Serialize;

pub use frr::Secret;
pub use valid::{Valid, ValidL2Vni, ValidL3Vni, ValidL3Vpn, ValidPassthrough, ValidUnderlay};

/// The node being planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Node index (from the nodemarker annotation or `node-config.yaml`).
    pub index: u32,
    /// Node labels, matched against `nodeSelector`s.
    pub labels: BTreeMap<String, String>,
}

/// Knobs that are not part of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// FRR log level.
    pub frr_log_level: frr::LogLevel,
    /// `bgp listen limit` rendered when a neighbor uses a listen range.
    pub bgp_listen_limit: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { frr_log_level: frr::LogLevel::Informational, bgp_listen_limit: 65535 }
    }
}

/// BGP passwords read from Secrets (or, in host mode, files), by reference: the value, or why
/// it could not be read. Values are [`frr::Secret`]s, so they never print.
pub type Passwords = BTreeMap<api::PasswordRef, Result<frr::Secret, String>>;

/// All resources known (before node selection).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// The resources of every kind.
    pub objects: Objects,
    /// Resources that already failed a single-object rule.
    pub rejected: Vec<Rejected>,
    /// Resources the node applied last time. When two resources conflict (same VNI, same VRF,
    /// overlapping pools), the one already applied keeps what it has and the newcomer fails,
    /// so adding a bad resource never takes traffic away from a working one. Otherwise the
    /// first by name wins.
    pub incumbents: BTreeSet<(ResourceKind, String)>,
    /// The passwords the Underlays' neighbors take from Secrets (`passwordSecret`), read by the
    /// caller. `None` when nobody read them (admission checks): such neighbors are then planned
    /// without a password and no outcome is about them.
    pub passwords: Option<Passwords>,
}

impl From<&Loaded> for Resources {
    fn from(l: &Loaded) -> Self {
        Resources { objects: l.objects(), rejected: l.rejected.clone(), incumbents: BTreeSet::new(), passwords: None }
    }
}

/// A resource that made it into the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Applied {
    /// Kind.
    pub kind: ResourceKind,
    /// Name.
    pub name: String,
}

/// The overall verdict for the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Everything selected for the node is valid.
    ConfigurationSuccessful,
    /// Some resources failed; the others are applied.
    ConfigurationFailed,
    /// The Underlay failed: nothing is changed on the node.
    UnderlayFailed,
}

/// Everything a node should run, and why some resources are left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlan {
    /// The node.
    pub node: Node,
    /// Overall verdict.
    pub verdict: Verdict,
    /// FRR configuration; `None` means "leave FRR as it is" (Underlay failed).
    pub frr: Option<frr::Config>,
    /// Desired kernel state; `None` means "leave the kernel as it is" (Underlay failed).
    pub kernel: Option<dataplane::HostNetwork>,
    /// Resources that are left out, with the reason.
    pub failed_resources: Vec<FailedResource>,
    /// Resources that are part of the plan.
    pub applied: Vec<Applied>,
    /// The name of the RawFRRConfig behind each of `frr.raw`'s snippets, in the same order.
    pub raw_names: Vec<String>,
    /// Underlay interfaces CNI plugins make in the router namespace (`CNIDevice`), before the
    /// kernel state is applied; the kernel state lists them as underlay links.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cni: Vec<CniInterface>,
}

/// An underlay interface made by CNI plugins.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CniInterface {
    /// `CNI_IFNAME`, the name it gets in the router namespace.
    pub ifname: String,
    /// The configuration list (or single configuration) the plugins run.
    pub config: serde_json::Value,
    /// Capability arguments (`runtimeConfig`).
    pub runtime_config: serde_json::Map<String, serde_json::Value>,
}

impl NodePlan {
    /// Human summary of the verdict (the message of the node's conditions).
    pub fn summary(&self) -> &'static str {
        match self.verdict {
            Verdict::ConfigurationSuccessful => "All configuration applied successfully",
            Verdict::ConfigurationFailed => "Some resources failed validation, see failedResources for details",
            Verdict::UnderlayFailed => "Underlay failed validation, existing configuration left as-is",
        }
    }
}

/// Collected outcomes.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    pub failed: Vec<FailedResource>,
}

impl Outcomes {
    pub fn fail(&mut self, kind: ResourceKind, name: &str, reason: FailureReason, message: impl Into<String>) {
        self.failed.push(FailedResource::new(kind, name, reason, message));
    }
}

/// Plans one node.
pub fn plan_node(resources: &Resources, node: &Node, options: &Options) -> NodePlan {
    let mut outcomes = Outcomes::default();
    let valid = validate::validate(resources, node, &mut outcomes);
    let failed_resources = outcomes.failed;
    let Some(valid) = valid else {
        return NodePlan {
            node: node.clone(),
            verdict: Verdict::UnderlayFailed,
            frr: None,
            kernel: None,
            failed_resources,
            applied: Vec::new(),
            raw_names: Vec::new(),
            cni: Vec::new(),
        };
    };
    let frr = build_frr::build(&valid, options);
    let kernel = build_kernel::build(&valid);
    let cni = build_kernel::cni_interfaces(&valid);
    let verdict =
        if failed_resources.is_empty() { Verdict::ConfigurationSuccessful } else { Verdict::ConfigurationFailed };
    NodePlan {
        node: node.clone(),
        verdict,
        frr: Some(frr),
        kernel: Some(kernel),
        failed_resources,
        applied: valid.applied(),
        raw_names: valid.raw.iter().map(|(name, _)| name.clone()).collect(),
        cni,
    }
}
