//! A Node as the allocator and the webhooks see it, and the annotation holding its index.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

/// The Node annotation holding the node index (see [`crate::nodeindex`]).
pub const ANNOTATION: &str = "openpe.io/nodeindex";

/// What the allocator and the webhooks need to know about a Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`, matched against `nodeSelector`s.
    pub labels: BTreeMap<String, String>,
    /// The raw value of the [`ANNOTATION`] annotation, if any.
    pub index_annotation: Option<String>,
    /// `metadata.creationTimestamp`.
    pub created: Option<Timestamp>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

impl NodeInfo {
    /// Extracts the fields from a Node's metadata; `None` when the metadata has no name.
    pub fn from_meta(meta: &ObjectMeta) -> Option<NodeInfo> {
        let name = meta.name.clone().filter(|n| !n.is_empty())?;
        Some(NodeInfo {
            name,
            labels: meta.labels.clone().unwrap_or_default(),
            index_annotation: meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION)).cloned(),
            created: meta.creation_timestamp.as_ref().map(|t| t.0),
            resource_version: meta.resource_version.clone(),
        })
    }
}
