//! The resources of the API held together: one typed list per kind, declared here once. Planning,
//! the webhooks' view of the cluster and the node controller's snapshot all hold an [`Objects`],
//! and code that treats every kind alike goes through [`Object`] (one resource of any kind) and
//! [`Objects::entries`] instead of repeating itself per kind.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::Resource;

use crate::{L2VNI, L3Passthrough, L3VNI, L3VPN, RawFRRConfig, ResourceKind, Underlay};

/// The kinds an [`Objects`] holds (the API's kinds that are planned), in planning order.
pub const KINDS: [ResourceKind; 6] = [
    ResourceKind::Underlay,
    ResourceKind::L3VNI,
    ResourceKind::L3VPN,
    ResourceKind::L2VNI,
    ResourceKind::L3Passthrough,
    ResourceKind::RawFRRConfig,
];

/// Resources of every planned kind.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    /// Underlays.
    pub underlays: Vec<Underlay>,
    /// L3VNIs.
    pub l3vnis: Vec<L3VNI>,
    /// L3VPNs.
    pub l3vpns: Vec<L3VPN>,
    /// L2VNIs.
    pub l2vnis: Vec<L2VNI>,
    /// L3Passthroughs.
    pub passthroughs: Vec<L3Passthrough>,
    /// RawFRRConfigs.
    pub raw_configs: Vec<RawFRRConfig>,
}

/// One resource of any planned kind.
#[derive(Debug, Clone)]
pub enum Object {
    /// An Underlay.
    Underlay(Underlay),
    /// An L3VNI.
    L3VNI(L3VNI),
    /// An L3VPN.
    L3VPN(L3VPN),
    /// An L2VNI.
    L2VNI(L2VNI),
    /// An L3Passthrough.
    L3Passthrough(L3Passthrough),
    /// A RawFRRConfig.
    RawFRRConfig(RawFRRConfig),
}

/// A resource as code that treats every kind alike sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The kind.
    pub kind: ResourceKind,
    /// The metadata.
    pub meta: &'a ObjectMeta,
    /// The spec's `nodeSelector`.
    pub node_selector: Option<&'a LabelSelector>,
    spec: &'a dyn SpecJson,
}

impl Entry<'_> {
    /// The spec as JSON.
    pub fn spec_json(&self) -> serde_json::Value {
        self.spec.json()
    }

    /// `metadata.name` (empty when absent).
    pub fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace` (empty when absent).
    pub fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or_default()
    }

    /// A reference to the resource (what Events are reported on).
    pub fn object_ref(&self) -> ObjectReference {
        ObjectReference {
            name: self.meta.name.clone(),
            namespace: self.meta.namespace.clone(),
            uid: self.meta.uid.clone(),
            api_version: Some(format!("{}/{}", crate::GROUP, crate::VERSION)),
            kind: Some(self.kind.as_str().to_string()),
            ..ObjectReference::default()
        }
    }
}

trait SpecJson: std::fmt::Debug {
    fn json(&self) -> serde_json::Value;
}

impl<T: serde::Serialize + std::fmt::Debug> SpecJson for T {
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A password kept in a Secret, as a neighbor of an Underlay refers to it: the Underlay's
/// namespace (empty for static files), the Secret's name and the key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PasswordRef {
    /// Namespace of the Underlay (and so of the Secret).
    pub namespace: String,
    /// Secret name.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

impl std::fmt::Display for PasswordRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "Secret {} key {:?}", self.name, self.key)
        } else {
            write!(f, "Secret {}/{} key {:?}", self.namespace, self.name, self.key)
        }
    }
}

impl PasswordRef {
    /// The reference a neighbor of `underlay` makes, if it takes its password from a Secret.
    pub fn of(underlay: &Underlay, neighbor: &crate::Neighbor) -> Option<PasswordRef> {
        let secret = neighbor.password_secret.as_ref()?;
        Some(PasswordRef {
            namespace: underlay.metadata.namespace.clone().unwrap_or_default(),
            name: secret.name.clone(),
            key: secret.key().to_string(),
        })
    }
}

impl Objects {
    /// Every password the Underlays take from Secrets.
    pub fn password_refs(&self) -> std::collections::BTreeSet<PasswordRef> {
        self.underlays.iter().flat_map(|u| u.spec.neighbors.iter().filter_map(move |n| PasswordRef::of(u, n))).collect()
    }

    /// Every resource, kind by kind in [`KINDS`] order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        fn of<'a, T: Resource<DynamicType = ()>>(
            kind: ResourceKind,
            list: &'a [T],
            parts: impl Fn(&'a T) -> (Option<&'a LabelSelector>, &'a dyn SpecJson) + 'a,
        ) -> impl Iterator<Item = Entry<'a>> + 'a {
            list.iter().map(move |o| {
                let (node_selector, spec) = parts(o);
                Entry { kind, meta: o.meta(), node_selector, spec }
            })
        }
        of(ResourceKind::Underlay, &self.underlays, |o| (o.spec.node_selector.as_ref(), &o.spec))
            .chain(of(ResourceKind::L3VNI, &self.l3vnis, |o| (o.spec.node_selector.as_ref(), &o.spec)))
            .chain(of(ResourceKind::L3VPN, &self.l3vpns, |o| (o.spec.node_selector.as_ref(), &o.spec)))
            .chain(of(ResourceKind::L2VNI, &self.l2vnis, |o| (o.spec.node_selector.as_ref(), &o.spec)))
            .chain(of(ResourceKind::L3Passthrough, &self.passthroughs, |o| (o.spec.node_selector.as_ref(), &o.spec)))
            .chain(of(ResourceKind::RawFRRConfig, &self.raw_configs, |o| (o.spec.node_selector.as_ref(), &o.spec)))
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.underlays.len()
            + self.l3vnis.len()
            + self.l3vpns.len()
            + self.l2vnis.len()
            + self.passthroughs.len()
            + self.raw_configs.len()
    }

    /// No resource at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `object` to the list of its kind.
    pub fn push(&mut self, object: Object) {
        match object {
            Object::Underlay(o) => self.underlays.push(o),
            Object::L3VNI(o) => self.l3vnis.push(o),
            Object::L3VPN(o) => self.l3vpns.push(o),
            Object::L2VNI(o) => self.l2vnis.push(o),
            Object::L3Passthrough(o) => self.passthroughs.push(o),
            Object::RawFRRConfig(o) => self.raw_configs.push(o),
        }
    }

    /// Replaces the resource `kind` `namespace/name` by `object` (removes it when `None`; an
    /// `object` of another kind is ignored).
    pub fn put(&mut self, kind: ResourceKind, namespace: &str, name: &str, object: Option<&Object>) {
        fn put_in<T: Resource + Clone>(list: &mut Vec<T>, namespace: &str, name: &str, object: Option<&T>) {
            list.retain(|o| {
                let m = o.meta();
                m.namespace.as_deref().unwrap_or_default() != namespace || m.name.as_deref().unwrap_or_default() != name
            });
            list.extend(object.cloned());
        }
        match (kind, object) {
            (ResourceKind::Underlay, Some(Object::Underlay(o))) => {
                put_in(&mut self.underlays, namespace, name, Some(o))
            }
            (ResourceKind::Underlay, _) => put_in(&mut self.underlays, namespace, name, None),
            (ResourceKind::L3VNI, Some(Object::L3VNI(o))) => put_in(&mut self.l3vnis, namespace, name, Some(o)),
            (ResourceKind::L3VNI, _) => put_in(&mut self.l3vnis, namespace, name, None),
            (ResourceKind::L3VPN, Some(Object::L3VPN(o))) => put_in(&mut self.l3vpns, namespace, name, Some(o)),
            (ResourceKind::L3VPN, _) => put_in(&mut self.l3vpns, namespace, name, None),
            (ResourceKind::L2VNI, Some(Object::L2VNI(o))) => put_in(&mut self.l2vnis, namespace, name, Some(o)),
            (ResourceKind::L2VNI, _) => put_in(&mut self.l2vnis, namespace, name, None),
            (ResourceKind::L3Passthrough, Some(Object::L3Passthrough(o))) => {
                put_in(&mut self.passthroughs, namespace, name, Some(o))
            }
            (ResourceKind::L3Passthrough, _) => put_in(&mut self.passthroughs, namespace, name, None),
            (ResourceKind::RawFRRConfig, Some(Object::RawFRRConfig(o))) => {
                put_in(&mut self.raw_configs, namespace, name, Some(o))
            }
            (ResourceKind::RawFRRConfig, _) => put_in(&mut self.raw_configs, namespace, name, None),
            (ResourceKind::FrrConfiguration, _) => {}
        }
    }

    /// `(namespace, nodeSelector)` of every resource of `kind` named `name`.
    pub fn same_name(&self, kind: ResourceKind, name: &str) -> Vec<(String, Option<LabelSelector>)> {
        self.entries()
            .filter(|e| e.kind == kind && e.name() == name)
            .map(|e| (e.namespace().to_string(), e.node_selector.cloned()))
            .collect()
    }
}

impl Object {
    /// Reads a resource of `kind` from its JSON form (as the API server serves it).
    pub fn from_json(kind: ResourceKind, value: serde_json::Value) -> Result<Object, String> {
        let read = |e: serde_json::Error| e.to_string();
        Ok(match kind {
            ResourceKind::Underlay => Object::Underlay(serde_json::from_value(value).map_err(read)?),
            ResourceKind::L3VNI => Object::L3VNI(serde_json::from_value(value).map_err(read)?),
            ResourceKind::L3VPN => Object::L3VPN(serde_json::from_value(value).map_err(read)?),
            ResourceKind::L2VNI => Object::L2VNI(serde_json::from_value(value).map_err(read)?),
            ResourceKind::L3Passthrough => Object::L3Passthrough(serde_json::from_value(value).map_err(read)?),
            ResourceKind::RawFRRConfig => Object::RawFRRConfig(serde_json::from_value(value).map_err(read)?),
            ResourceKind::FrrConfiguration => {
                return Err(format!("{} is not a planned kind", kind.as_str()));
            }
        })
    }

    /// The kind.
    pub fn kind(&self) -> ResourceKind {
        self.entry().kind
    }

    /// The metadata.
    pub fn meta(&self) -> &ObjectMeta {
        self.entry().meta
    }

    /// The spec's `nodeSelector`.
    pub fn node_selector(&self) -> Option<&LabelSelector> {
        self.entry().node_selector
    }

    /// `metadata.name` (empty when absent).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace` (empty when absent).
    pub fn namespace(&self) -> &str {
        self.meta().namespace.as_deref().unwrap_or_default()
    }

    /// The resource as an [`Entry`].
    pub fn entry(&self) -> Entry<'_> {
        let (kind, meta, node_selector, spec): (_, _, _, &dyn SpecJson) = match self {
            Object::Underlay(o) => (ResourceKind::Underlay, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
            Object::L3VNI(o) => (ResourceKind::L3VNI, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
            Object::L3VPN(o) => (ResourceKind::L3VPN, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
            Object::L2VNI(o) => (ResourceKind::L2VNI, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
            Object::L3Passthrough(o) => (ResourceKind::L3Passthrough, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
            Object::RawFRRConfig(o) => (ResourceKind::RawFRRConfig, o.meta(), o.spec.node_selector.as_ref(), &o.spec),
        };
        Entry { kind, meta, node_selector, spec }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l3vni(ns: &str, name: &str, vni: u32) -> Object {
        let value = serde_json::json!({
            "apiVersion": "network.openperouter.io/v1alpha1", "kind": "L3VNI",
            "metadata": {"name": name, "namespace": ns}, "spec": {"vrf": "red", "vni": vni}
        });
        Object::from_json(ResourceKind::L3VNI, value).unwrap()
    }

    #[test]
    fn objects_are_put_replaced_removed_and_listed_alike() {
        let mut all = Objects::default();
        all.push(l3vni("a", "red", 100));
        all.put(ResourceKind::L3VNI, "b", "red", Some(&l3vni("b", "red", 200)));
        assert_eq!(all.len(), 2);
        assert_eq!(all.same_name(ResourceKind::L3VNI, "red").len(), 2);
        all.put(ResourceKind::L3VNI, "a", "red", Some(&l3vni("a", "red", 300)));
        let specs: Vec<serde_json::Value> = all.entries().map(|e| e.spec_json()["vni"].clone()).collect();
        assert_eq!(specs, [serde_json::json!(200), serde_json::json!(300)]);
        let Object::L3VNI(typed) = l3vni("b", "red", 200) else { unreachable!() };
        assert_eq!(all.entries().next().unwrap().object_ref(), typed.object_ref(&()));
        // An object of another kind is not added; None removes.
        all.put(ResourceKind::Underlay, "a", "red", Some(&l3vni("a", "red", 1)));
        assert!(all.underlays.is_empty());
        all.put(ResourceKind::L3VNI, "a", "red", None);
        assert_eq!(all.entries().map(|e| e.namespace().to_string()).collect::<Vec<_>>(), ["b"]);
        assert!(Object::from_json(ResourceKind::FrrConfiguration, serde_json::json!({})).is_err());
        assert!(Object::from_json(ResourceKind::L2VNI, serde_json::json!({"spec": 1})).is_err());
    }
}
