//! The node status: per-resource outcomes and the `Ready`/`Degraded` conditions, with the same
//! reasons as upstream's `RouterNodeConfigurationStatus`, plus what upstream cannot tell: which
//! input revision was applied, and what FRR and the kernel actually did.

use api::{FailedResource, FailureReason, ResourceKind};
use serde::Serialize;

/// A condition, shaped like a Kubernetes `metav1.Condition` (without timestamps bookkeeping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready` or `Degraded`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True` or `False`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human message.
    pub message: String,
}

/// Reasons of the node conditions.
pub mod reason {
    /// Everything applied.
    pub const SUCCESSFUL: &str = "ConfigurationSuccessful";
    /// Some resources failed, or an apply step failed.
    pub const FAILED: &str = "ConfigurationFailed";
    /// The Underlay failed: nothing was changed.
    pub const UNDERLAY_FAILED: &str = "UnderlayFailed";
    /// The router namespace was replaced: FRR and the kernel state are being rebuilt.
    pub const REBUILDING: &str = "RouterNamespaceRebuilding";
}

/// What the FRR step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrrOutcome {
    /// Lines added by the last apply.
    pub lines_added: usize,
    /// Lines removed by the last apply.
    pub lines_removed: usize,
    /// Whether a reload ran (false when FRR already had the configuration).
    pub reloaded: bool,
    /// Duration of the apply, in milliseconds.
    pub duration_ms: u64,
    /// The error, when the apply failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// FRR was skipped (`--frr-mode none`, or nothing to do).
    pub skipped: bool,
}

/// What the kernel step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KernelOutcome {
    /// Operations run.
    pub operations: usize,
    /// Kernel writes made, with the Open vSwitch database's write transactions.
    pub writes: u64,
    /// Failed objects.
    pub failures: usize,
    /// Duration, in milliseconds.
    pub duration_ms: u64,
    /// The kernel step was skipped (FRR failed first, or the Underlay is invalid).
    pub skipped: bool,
}

/// One VNI of the plan, for the status table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VniSummary {
    /// The VNI.
    pub vni: u32,
    /// `L3` or `L2`.
    pub kind: String,
    /// `Kind/name` of the resource.
    pub resource: String,
    /// Its VRF (L3VNI, routed L2VNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// The host-speaker addresses the router peers with in that VRF (L3VNI).
    pub host_peers: Vec<String>,
    /// All its kernel objects were applied.
    pub kernel_ok: bool,
}

/// A BGP session as FRR reports it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSession {
    /// VRF (`default` for the underlay).
    pub vrf: String,
    /// Peer address or interface.
    pub peer: String,
    /// BGP state.
    pub state: String,
    /// Seconds in the current state, when FRR says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// Prefixes received, summed over address families.
    pub prefixes_in: u64,
    /// Prefixes sent, summed over address families.
    pub prefixes_out: u64,
}

/// An EVPN VNI as FRR reports it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveVni {
    /// The VNI.
    pub vni: u32,
    /// `L2` or `L3`.
    pub kind: String,
    /// Its VRF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// Remote VTEPs (L2 VNIs).
    pub remote_vteps: Vec<String>,
}

/// FRR's live state, sampled when the status is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Live {
    /// BGP sessions of every VRF.
    pub sessions: Vec<LiveSession>,
    /// EVPN VNIs.
    pub vnis: Vec<LiveVni>,
    /// Why FRR could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Samples FRR's sessions and VNIs.
pub async fn sample_live(vtysh: &frr::Vtysh) -> Live {
    let mut live = Live::default();
    match frr::state::bgp_neighbors(vtysh).await {
        Ok(ns) => {
            live.sessions = ns
                .into_iter()
                .map(|n| LiveSession {
                    vrf: n.vrf,
                    peer: n.peer,
                    state: n.state,
                    uptime_secs: n.uptime.map(|u| u.as_secs()),
                    prefixes_in: n.address_families.iter().filter_map(|a| a.prefixes_received).sum(),
                    prefixes_out: n.address_families.iter().filter_map(|a| a.prefixes_sent).sum(),
                })
                .collect();
        }
        Err(e) => live.error = Some(e.to_string()),
    }
    if let Ok(vnis) = frr::state::evpn_vnis(vtysh).await {
        live.vnis = vnis
            .into_iter()
            .map(|v| LiveVni {
                vni: v.vni,
                kind: format!("{:?}", v.kind),
                vrf: v.tenant_vrf,
                remote_vteps: v.remote_vteps.iter().map(ToString::to_string).collect(),
            })
            .collect();
    }
    live
}

/// The VNIs of a plan: from its kernel state (VXLAN devices and their bridges' VRFs) and its
/// FRR configuration (host neighbors of each VRF instance).
pub fn vnis_of(kernel: &dataplane::HostNetwork, config: &frr::Config, failed: &[FailedResource]) -> Vec<VniSummary> {
    let mut out = Vec::new();
    for link in &kernel.links {
        let dataplane::LinkKind::Vxlan { vni, .. } = link.kind else { continue };
        let bridge = link.master.as_deref().and_then(|b| kernel.link(dataplane::Side::Router, b));
        let vrf = bridge.and_then(|b| b.master.clone());
        let host_peers = config
            .bgp
            .iter()
            .filter(|i| i.vrf.is_some() && i.vrf == vrf && link.owner.kind == "L3VNI")
            .flat_map(|i| i.neighbors.iter().map(|n| n.target.name()))
            .collect();
        let kernel_ok = !failed.iter().any(|f| {
            f.reason == FailureReason::OverlayAttachmentFailed
                && f.kind.as_str() == link.owner.kind
                && f.name == link.owner.name
        });
        out.push(VniSummary {
            vni,
            kind: if link.owner.kind == "L3VNI" { "L3".into() } else { "L2".into() },
            resource: link.owner.to_string(),
            vrf,
            host_peers,
            kernel_ok,
        });
    }
    out.sort_by_key(|v| v.vni);
    out
}

/// The status of the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Node name.
    pub node: String,
    /// Node index.
    pub node_index: u32,
    /// Number of reconciles so far.
    pub reconciles: u64,
    /// Digest of the inputs the last reconcile applied: compare with `openperouter status`'s
    /// digest of the files to know whether a change has been applied.
    pub applied_revision: String,
    /// When the last reconcile finished (RFC 3339, UTC).
    pub last_reconcile: String,
    /// `Ready` and `Degraded`.
    pub conditions: Vec<Condition>,
    /// Resources that are not (fully) applied, with the reason.
    pub failed_resources: Vec<FailedResource>,
    /// Resources that are applied.
    pub applied: Vec<plan::Applied>,
    /// The FRR step.
    pub frr: FrrOutcome,
    /// The kernel step.
    pub kernel: KernelOutcome,
    /// Error that stopped the reconcile before planning (unreadable configuration, no node
    /// index): the text of an input [`ReconcileError`](crate::ReconcileError).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_error: Option<String>,
    /// The step that failed as a whole, if one did (the loops retry soon); shown through the
    /// conditions and `inputError`.
    #[serde(skip)]
    pub error: Option<crate::ReconcileError>,
    /// The VNIs of the applied plan.
    pub vnis: Vec<VniSummary>,
    /// FRR's live state (filled in when the status is served).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

impl NodeStatus {
    /// True when `Ready` is `True`.
    pub fn ready(&self) -> bool {
        self.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True")
    }

    /// Whether this outcome may change without any input changing, so that reconciling again
    /// soon is worth it: a step failed (FRR or the kernel busy, an unreadable file), or a
    /// resource's kernel objects could not be made (an underlay NIC not there yet, such as
    /// while the old router namespace still holds it). A resource invalid as written waits for
    /// its input to change.
    pub fn retry_soon(&self) -> bool {
        self.error.is_some() || self.failed_resources.iter().any(|f| f.reason == FailureReason::OverlayAttachmentFailed)
    }
}

fn pair(ready: bool, reason: &str, message: &str) -> Vec<Condition> {
    let b = |v: bool| if v { "True" } else { "False" }.to_string();
    vec![
        Condition { kind: "Ready".into(), status: b(ready), reason: reason.into(), message: message.into() },
        Condition { kind: "Degraded".into(), status: b(!ready), reason: reason.into(), message: message.into() },
    ]
}

/// The conditions for a set of outcomes. `hard_error` is a failure that is not tied to one
/// resource (FRR rejected the configuration, the configuration could not be read).
pub fn conditions(
    verdict: Option<plan::Verdict>,
    failed: &[FailedResource],
    hard_error: Option<&str>,
) -> Vec<Condition> {
    if verdict == Some(plan::Verdict::UnderlayFailed) {
        return pair(false, reason::UNDERLAY_FAILED, "Underlay failed validation, existing configuration left as-is");
    }
    if let Some(e) = hard_error {
        return pair(false, reason::FAILED, e);
    }
    if failed.is_empty() {
        pair(true, reason::SUCCESSFUL, "All configuration applied successfully")
    } else {
        pair(false, reason::FAILED, "Some resources failed, see failedResources for details")
    }
}

/// The conditions while the router namespace is rebuilt (not Ready).
pub fn rebuilding(message: &str) -> Vec<Condition> {
    pair(false, reason::REBUILDING, message)
}

/// Kernel failures as per-resource outcomes (`OverlayAttachmentFailed`), one per resource,
/// listing every object that failed for it.
pub fn kernel_failures(report: &dataplane::Report) -> Vec<FailedResource> {
    let mut out: Vec<FailedResource> = Vec::new();
    for f in &report.failures {
        let Some(owner) = &f.owner else { continue };
        let kind = match owner.kind.as_str() {
            "Underlay" => ResourceKind::Underlay,
            "L3VNI" => ResourceKind::L3VNI,
            "L2VNI" => ResourceKind::L2VNI,
            "L3Passthrough" => ResourceKind::L3Passthrough,
            _ => ResourceKind::FrrConfiguration,
        };
        let detail = format!("{} ({} namespace): {}", f.object, f.side, f.message);
        match out.iter_mut().find(|o| o.kind == kind && o.name == owner.name) {
            Some(existing) => {
                *existing =
                    FailedResource::new(kind, &owner.name, existing.reason, format!("{}; {detail}", existing.message));
            }
            None => out.push(FailedResource::new(kind, &owner.name, FailureReason::OverlayAttachmentFailed, detail)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_node() {
        let c = conditions(Some(plan::Verdict::ConfigurationSuccessful), &[], None);
        assert_eq!(c[0].kind, "Ready");
        assert_eq!(c[0].status, "True");
        assert_eq!(c[1].status, "False");
        assert_eq!(c[0].reason, reason::SUCCESSFUL);
    }

    #[test]
    fn underlay_failure_wins() {
        let c = conditions(Some(plan::Verdict::UnderlayFailed), &[], Some("boom"));
        assert_eq!(c[0].reason, reason::UNDERLAY_FAILED);
        assert_eq!(c[0].status, "False");
    }

    #[test]
    fn partial_and_hard_failures() {
        let f = vec![FailedResource::new(ResourceKind::L3VNI, "red", FailureReason::ValidationFailed, "x")];
        let c = conditions(Some(plan::Verdict::ConfigurationFailed), &f, None);
        assert_eq!((c[0].status.as_str(), c[0].reason.as_str()), ("False", reason::FAILED));
        let c = conditions(Some(plan::Verdict::ConfigurationSuccessful), &[], Some("FRR rejected line x"));
        assert_eq!(c[0].message, "FRR rejected line x");
    }

    #[test]
    fn only_what_can_clear_by_itself_is_retried_soon() {
        let failed = |reason| FailedResource::new(ResourceKind::Underlay, "underlay", reason, "x");
        let mut st = NodeStatus::default();
        assert!(!st.retry_soon(), "nothing failed");
        st.failed_resources = vec![failed(FailureReason::ValidationFailed)];
        assert!(!st.retry_soon(), "an invalid resource waits for its input to change");
        st.failed_resources.push(failed(FailureReason::OverlayAttachmentFailed));
        assert!(st.retry_soon(), "a NIC that is not there yet may come");
        st.failed_resources.clear();
        st.error = Some(crate::ReconcileError::Kernel("busy".into()));
        assert!(st.retry_soon(), "a failed step");
    }
}
