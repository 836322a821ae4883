//! Node-index allocation: every Node gets a small integer in the annotation
//! [`ANNOTATION`], from which the router derives its per-node addresses (router id, VTEP,
//! host-side veth addresses).
//!
//! [`allocate`] is a pure function over the list of Nodes. Its rules:
//! * a Node whose annotation holds a valid index ([`parse_index`]) that no earlier Node holds
//!   keeps it, forever: the index is never changed, whatever else happens;
//! * "earlier" is a total, deterministic order: creation timestamp (oldest first, Nodes without
//!   one last), then name. So when two Nodes claim the same index, the older Node keeps it;
//! * every other Node (no annotation, a value that is not an index, or a duplicate) gets the
//!   lowest index that no Node holds, in the same order; holes left by deleted Nodes are
//!   reused;
//! * after the patches are applied, no two Nodes hold the same index.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::node::{ANNOTATION, NodeInfo};

/// Parses an annotation value as a node index: ASCII decimal digits only (no sign, no spaces),
/// fitting in a `u32`. Leading zeros are accepted (`"07"` is 7) so that a value written by
/// another tool keeps its meaning; such a value is never rewritten.
pub fn parse_index(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Why a Node's annotation is (re)written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchReason {
    /// The Node has no index annotation.
    Missing,
    /// The annotation is not a valid index.
    Invalid(String),
    /// The index is already held by an earlier Node.
    Duplicate {
        /// The Node that keeps the index.
        holder: String,
        /// The duplicated index.
        index: u32,
    },
}

impl std::fmt::Display for PatchReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchReason::Missing => f.write_str("no index yet"),
            PatchReason::Invalid(v) => write!(f, "annotation value {v:?} is not a node index"),
            PatchReason::Duplicate { holder, index } => write!(f, "index {index} is already held by node {holder:?}"),
        }
    }
}

/// One annotation to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPatch {
    /// Node name.
    pub node: String,
    /// The index to write.
    pub index: u32,
    /// Why.
    pub reason: PatchReason,
    /// The Node's `metadata.resourceVersion` the decision was based on (used as a precondition
    /// so a decision taken on a stale view is refused by the API server).
    pub resource_version: Option<String>,
}

/// The result of an allocation pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    /// The index of every Node once the patches are applied.
    pub indexes: BTreeMap<String, u32>,
    /// The annotations to write, in allocation order.
    pub patches: Vec<IndexPatch>,
}

/// The allocation order: creation timestamp (oldest first, missing last), then name.
fn order(nodes: &[NodeInfo]) -> Vec<&NodeInfo> {
    let mut sorted: Vec<&NodeInfo> = nodes.iter().collect();
    sorted.sort_by(|a, b| (a.created.is_none(), a.created, &a.name).cmp(&(b.created.is_none(), b.created, &b.name)));
    sorted
}

/// Computes every Node's index and the annotations to write (see the module documentation).
pub fn allocate(nodes: &[NodeInfo]) -> Allocation {
    let ordered = order(nodes);
    let mut taken: BTreeMap<u32, &str> = BTreeMap::new();
    let mut out = Allocation::default();
    let mut pending: Vec<(&NodeInfo, PatchReason)> = Vec::new();
    let mut seen_names = BTreeSet::new();
    for node in ordered {
        if !seen_names.insert(node.name.as_str()) {
            // Node names are unique in a cluster; a repeated entry is the same Node.
            continue;
        }
        let Some(value) = node.index_annotation.as_deref() else {
            pending.push((node, PatchReason::Missing));
            continue;
        };
        match parse_index(value) {
            None => pending.push((node, PatchReason::Invalid(value.to_string()))),
            Some(index) => match taken.get(&index) {
                Some(holder) => {
                    pending.push((node, PatchReason::Duplicate { holder: holder.to_string(), index }));
                }
                None => {
                    taken.insert(index, &node.name);
                    out.indexes.insert(node.name.clone(), index);
                }
            },
        }
    }
    let mut candidate: u32 = 0;
    for (node, reason) in pending {
        while taken.contains_key(&candidate) {
            // Cannot overflow: there are fewer Nodes than u32::MAX, so a free index exists
            // below the largest taken one plus the number of Nodes.
            candidate = candidate.saturating_add(1);
        }
        taken.insert(candidate, &node.name);
        out.indexes.insert(node.name.clone(), candidate);
        out.patches.push(IndexPatch {
            node: node.name.clone(),
            index: candidate,
            reason,
            resource_version: node.resource_version.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn node(name: &str, created: Option<i64>, value: Option<&str>) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            labels: BTreeMap::new(),
            index_annotation: value.map(str::to_string),
            created: created.map(|s| Timestamp::from_second(s).expect("valid test timestamp")),
            resource_version: Some(format!("rv-{name}")),
        }
    }

    #[test]
    fn parse() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("42"), Some(42));
        assert_eq!(parse_index("007"), Some(7));
        assert_eq!(parse_index("4294967295"), Some(u32::MAX));
        for bad in ["", "-1", "+1", " 1", "1 ", "x", "1.0", "4294967296", "١"] {
            assert_eq!(parse_index(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fresh_cluster_gets_0_to_n_in_creation_order() {
        let nodes = [node("c", Some(1), None), node("a", Some(3), None), node("b", Some(2), None)];
        let a = allocate(&nodes);
        assert_eq!(a.indexes, BTreeMap::from([("c".into(), 0), ("b".into(), 1), ("a".into(), 2)]));
        assert_eq!(a.patches.iter().map(|p| p.node.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert!(a.patches.iter().all(|p| p.reason == PatchReason::Missing));
        assert_eq!(a.patches[0].resource_version.as_deref(), Some("rv-c"));
    }

    #[test]
    fn holes_are_reused_and_valid_indexes_kept() {
        let nodes = [node("a", Some(1), Some("0")), node("b", Some(2), Some("2")), node("new", Some(9), None)];
        let a = allocate(&nodes);
        assert_eq!(a.patches.len(), 1);
        assert_eq!((a.patches[0].node.as_str(), a.patches[0].index), ("new", 1));
    }

    #[test]
    fn duplicate_goes_to_the_oldest_then_by_name() {
        let nodes =
            [node("a-young", Some(5), Some("0")), node("z-old", Some(1), Some("0")), node("z", Some(1), Some("1"))];
        let a = allocate(&nodes);
        assert_eq!(a.indexes["z-old"], 0);
        assert_eq!(a.indexes["z"], 1);
        assert_eq!(a.indexes["a-young"], 2);
        assert_eq!(
            a.patches,
            vec![IndexPatch {
                node: "a-young".into(),
                index: 2,
                reason: PatchReason::Duplicate { holder: "z-old".into(), index: 0 },
                resource_version: Some("rv-a-young".into()),
            }]
        );
        // Same creation time: the name decides.
        let nodes = [node("b", Some(1), Some("3")), node("a", Some(1), Some("3"))];
        let a = allocate(&nodes);
        assert_eq!(a.indexes["a"], 3);
        assert_eq!(a.indexes["b"], 0);
        // No creation timestamp sorts after every timestamped Node.
        let nodes = [node("a", None, Some("3")), node("b", Some(100), Some("3"))];
        assert_eq!(allocate(&nodes).indexes["b"], 3);
    }

    #[test]
    fn invalid_values_are_replaced() {
        let nodes = [node("a", Some(1), Some("zero")), node("b", Some(2), Some("-1"))];
        let a = allocate(&nodes);
        assert_eq!(a.indexes["a"], 0);
        assert_eq!(a.indexes["b"], 1);
        assert_eq!(a.patches[0].reason, PatchReason::Invalid("zero".into()));
    }

    #[test]
    fn stable_cluster_needs_no_patch() {
        let nodes = [node("a", Some(1), Some("5")), node("b", Some(2), Some("007"))];
        assert!(allocate(&nodes).patches.is_empty());
    }
}
