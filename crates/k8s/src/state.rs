//! The cluster as the webhooks and the allocator see it: every resource of the API and the
//! Nodes (name, labels, index annotation, creation time).

use api::{L2VNI, L3Passthrough, L3VNI, RawFRRConfig, ResourceKind, Underlay};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Resource;

pub use crate::node::NodeInfo;
use crate::nodeindex;

/// Every existing resource and every Node.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// Underlays (all namespaces).
    pub underlays: Vec<Underlay>,
    /// L3VNIs (all namespaces).
    pub l3vnis: Vec<L3VNI>,
    /// L2VNIs (all namespaces).
    pub l2vnis: Vec<L2VNI>,
    /// L3Passthroughs (all namespaces).
    pub passthroughs: Vec<L3Passthrough>,
    /// RawFRRConfigs (all namespaces; only those of the operator namespace are planned, as the
    /// node controller reads no other).
    pub raw_configs: Vec<RawFRRConfig>,
    /// Nodes.
    pub nodes: Vec<NodeInfo>,
}

impl ClusterState {
    /// The resources as planning sees them.
    pub fn resources(&self, operator_namespace: &str) -> plan::Resources {
        plan::Resources {
            underlays: self.underlays.clone(),
            l3vnis: self.l3vnis.clone(),
            l2vnis: self.l2vnis.clone(),
            passthroughs: self.passthroughs.clone(),
            raw_configs: self
                .raw_configs
                .iter()
                .filter(|r| r.metadata.namespace.as_deref() == Some(operator_namespace))
                .cloned()
                .collect(),
            rejected: Vec::new(),
            incumbents: Default::default(),
        }
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

/// One object of any of the five kinds.
#[derive(Debug, Clone)]
pub enum Object {
    /// An Underlay.
    Underlay(Underlay),
    /// An L3VNI.
    L3VNI(L3VNI),
    /// An L2VNI.
    L2VNI(L2VNI),
    /// An L3Passthrough.
    L3Passthrough(L3Passthrough),
    /// A RawFRRConfig.
    RawFRRConfig(RawFRRConfig),
}

impl Object {
    /// The kind.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Object::Underlay(_) => ResourceKind::Underlay,
            Object::L3VNI(_) => ResourceKind::L3VNI,
            Object::L2VNI(_) => ResourceKind::L2VNI,
            Object::L3Passthrough(_) => ResourceKind::L3Passthrough,
            Object::RawFRRConfig(_) => ResourceKind::RawFRRConfig,
        }
    }

    /// The metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Underlay(o) => o.meta(),
            Object::L3VNI(o) => o.meta(),
            Object::L2VNI(o) => o.meta(),
            Object::L3Passthrough(o) => o.meta(),
            Object::RawFRRConfig(o) => o.meta(),
        }
    }

    /// The `nodeSelector` of the spec.
    pub fn node_selector(&self) -> Option<&LabelSelector> {
        match self {
            Object::Underlay(o) => o.spec.node_selector.as_ref(),
            Object::L3VNI(o) => o.spec.node_selector.as_ref(),
            Object::L2VNI(o) => o.spec.node_selector.as_ref(),
            Object::L3Passthrough(o) => o.spec.node_selector.as_ref(),
            Object::RawFRRConfig(o) => o.spec.node_selector.as_ref(),
        }
    }

    /// `metadata.name` (empty when absent).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace` (empty when absent).
    pub fn namespace(&self) -> &str {
        self.meta().namespace.as_deref().unwrap_or_default()
    }
}

fn same_key(meta: &ObjectMeta, namespace: &str, name: &str) -> bool {
    meta.namespace.as_deref().unwrap_or_default() == namespace && meta.name.as_deref().unwrap_or_default() == name
}

fn put<T: Resource + Clone>(list: &mut Vec<T>, namespace: &str, name: &str, object: Option<&T>) {
    list.retain(|o| !same_key(o.meta(), namespace, name));
    if let Some(o) = object {
        list.push(o.clone());
    }
}

impl ClusterState {
    /// The state with the object `kind` `namespace/name` replaced by `object` (removed when
    /// `None`).
    pub fn with(&self, kind: ResourceKind, namespace: &str, name: &str, object: Option<&Object>) -> ClusterState {
        let mut s = self.clone();
        match kind {
            ResourceKind::Underlay => {
                let o = match object {
                    Some(Object::Underlay(o)) => Some(o),
                    _ => None,
                };
                put(&mut s.underlays, namespace, name, o);
            }
            ResourceKind::L3VNI => {
                let o = match object {
                    Some(Object::L3VNI(o)) => Some(o),
                    _ => None,
                };
                put(&mut s.l3vnis, namespace, name, o);
            }
            ResourceKind::L2VNI => {
                let o = match object {
                    Some(Object::L2VNI(o)) => Some(o),
                    _ => None,
                };
                put(&mut s.l2vnis, namespace, name, o);
            }
            ResourceKind::L3Passthrough => {
                let o = match object {
                    Some(Object::L3Passthrough(o)) => Some(o),
                    _ => None,
                };
                put(&mut s.passthroughs, namespace, name, o);
            }
            ResourceKind::RawFRRConfig => {
                let o = match object {
                    Some(Object::RawFRRConfig(o)) => Some(o),
                    _ => None,
                };
                put(&mut s.raw_configs, namespace, name, o);
            }
            ResourceKind::L3VPN | ResourceKind::FrrConfiguration => {}
        }
        s
    }

    /// `(namespace, selector)` of every existing object of `kind` named `name`.
    pub fn same_name(&self, kind: ResourceKind, name: &str) -> Vec<(String, Option<LabelSelector>)> {
        fn pick<T: Resource>(
            list: &[T],
            name: &str,
            sel: impl Fn(&T) -> Option<&LabelSelector>,
        ) -> Vec<(String, Option<LabelSelector>)> {
            list.iter()
                .filter(|o| o.meta().name.as_deref() == Some(name))
                .map(|o| (o.meta().namespace.clone().unwrap_or_default(), sel(o).cloned()))
                .collect()
        }
        match kind {
            ResourceKind::Underlay => pick(&self.underlays, name, |o| o.spec.node_selector.as_ref()),
            ResourceKind::L3VNI => pick(&self.l3vnis, name, |o| o.spec.node_selector.as_ref()),
            ResourceKind::L2VNI => pick(&self.l2vnis, name, |o| o.spec.node_selector.as_ref()),
            ResourceKind::L3Passthrough => pick(&self.passthroughs, name, |o| o.spec.node_selector.as_ref()),
            ResourceKind::RawFRRConfig => pick(&self.raw_configs, name, |o| o.spec.node_selector.as_ref()),
            ResourceKind::L3VPN | ResourceKind::FrrConfiguration => Vec::new(),
        }
    }
}
