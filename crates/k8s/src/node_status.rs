//! The node's RouterNodeConfigurationStatus as data: what an agent outcome writes into it, and
//! the patch that sets it exactly.

use agent::NodeStatus;
use api::{AppliedResource, RouterNodeConfigurationStatusStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use crate::controller_watch::Selection;

/// The applied resources of a reconcile, with the generation of the selected object.
pub(crate) fn applied_resources(st: &NodeStatus, selection: &Selection) -> Vec<AppliedResource> {
    let mut out: Vec<AppliedResource> = st
        .applied
        .iter()
        .flat_map(|a| {
            selection.resources.iter().filter(move |((k, _, n), _)| *k == a.kind && *n == a.name).map(
                |((kind, namespace, name), (generation, _))| AppliedResource {
                    kind: *kind,
                    namespace: namespace.clone(),
                    name: name.clone(),
                    generation: *generation,
                },
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The status for an agent outcome. Conditions keep their transition time when their status
/// did not change.
pub fn desired_status(
    st: &NodeStatus,
    applied: Vec<AppliedResource>,
    previous: Option<&RouterNodeConfigurationStatusStatus>,
    now: Timestamp,
) -> RouterNodeConfigurationStatusStatus {
    let conditions = st
        .conditions
        .iter()
        .map(|c| {
            let kept = previous
                .and_then(|p| p.conditions.iter().find(|o| o.type_ == c.kind && o.status == c.status))
                .map(|o| o.last_transition_time.clone());
            Condition {
                type_: c.kind.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: kept.unwrap_or(Time(now)),
                observed_generation: None,
            }
        })
        .collect();
    RouterNodeConfigurationStatusStatus {
        failed_resources: st.failed_resources.clone(),
        conditions,
        applied_resources: applied,
        applied_revision: Some(st.applied_revision.clone()).filter(|r| !r.is_empty()),
        sessions: Vec::new(),
    }
}

/// The merge patch that sets `status` exactly: empty lists are written as `null` (a merge
/// patch leaves an absent key as it was).
pub fn status_patch(status: &RouterNodeConfigurationStatusStatus) -> serde_json::Value {
    let mut body = serde_json::to_value(status).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        for key in ["failedResources", "conditions", "appliedResources", "appliedRevision", "sessions"] {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": body })
}
