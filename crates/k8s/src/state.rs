//! The cluster as the webhooks and the allocator see it: every resource of the API and the
//! Nodes (name, labels, index annotation, creation time).

use api::{Object, Objects, ResourceKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub use crate::node::NodeInfo;
use crate::nodeindex;

/// Every existing resource and every Node.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// The resources of every kind, in all namespaces (only the RawFRRConfigs of the operator
    /// namespace are planned, as the node controller reads no other).
    pub objects: Objects,
    /// Nodes.
    pub nodes: Vec<NodeInfo>,
}

impl ClusterState {
    /// The resources as planning sees them.
    pub fn resources(&self, operator_namespace: &str) -> plan::Resources {
        let mut objects = self.objects.clone();
        objects.raw_configs.retain(|r| r.metadata.namespace.as_deref() == Some(operator_namespace));
        plan::Resources { objects, rejected: Vec::new(), incumbents: Default::default(), passwords: None }
    }

    /// The Nodes as planning sees them. A Node whose annotation is missing or not usable gets
    /// the index the allocator is going to give it, so the webhooks check what will actually
    /// run there.
    pub fn plan_nodes(&self) -> Vec<plan::Node> {
        let allocation = nodeindex::allocate(&self.nodes);
        let mut out: Vec<plan::Node> = self
            .nodes
            .iter()
            .filter_map(|n| {
                let index = *allocation.indexes.get(&n.name)?;
                Some(plan::Node { name: n.name.clone(), index, labels: n.labels.clone() })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }
}

impl ClusterState {
    /// The state with the object `kind` `namespace/name` replaced by `object` (removed when
    /// `None`).
    pub fn with(&self, kind: ResourceKind, namespace: &str, name: &str, object: Option<&Object>) -> ClusterState {
        let mut s = self.clone();
        s.objects.put(kind, namespace, name, object);
        s
    }

    /// `(namespace, selector)` of every existing object of `kind` named `name`.
    pub fn same_name(&self, kind: ResourceKind, name: &str) -> Vec<(String, Option<LabelSelector>)> {
        self.objects.same_name(kind, name)
    }
}
