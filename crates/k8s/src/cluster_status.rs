//! The cluster at a glance: every node's router as its `RouterNodeConfigurationStatus` and its
//! Node report it (`openperouter status --cluster`). This reads; the binary prints.

use std::collections::BTreeMap;

use api::{BgpSessionState, FailedResource, RouterNodeConfigurationStatus};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, PartialObjectMeta};

use crate::Error;
use crate::nodeindex::ANNOTATION;

/// One node's router.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    /// The node's name.
    pub node: String,
    /// Its `openpe.io/nodeindex` annotation, when it has one.
    pub index: Option<String>,
    /// Whether a status object exists (a node without one has not been reconciled: no controller
    /// runs there, or it has not started).
    pub reported: bool,
    /// The `Ready` condition: `True`, `False`, or `Unknown` without one.
    pub ready: String,
    /// Its reason and message.
    pub reason: String,
    /// Its message.
    pub message: String,
    /// When it last changed.
    pub since: Option<Timestamp>,
    /// The applied revision.
    pub revision: Option<String>,
    /// The BGP sessions as last sampled.
    pub sessions: Vec<BgpSessionState>,
    /// How many resources the node applied.
    pub applied: usize,
    /// The resources that failed there, with their reasons.
    pub failed: Vec<FailedResource>,
    /// The Node is gone but its status object is not (yet) collected.
    pub node_missing: bool,
}

impl NodeRow {
    /// `Ready=True`.
    pub fn is_ready(&self) -> bool {
        self.ready == "True"
    }
}

/// Reads every Node and every status object in `namespace`: one row per node (nodes without a
/// status object included), sorted by name.
pub async fn fetch(client: &Client, namespace: &str) -> Result<Vec<NodeRow>, Error> {
    let statuses: Api<RouterNodeConfigurationStatus> = Api::namespaced(client.clone(), namespace);
    let nodes: Api<PartialObjectMeta<Node>> = Api::all(client.clone());
    let statuses = statuses
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::Kube("listing RouterNodeConfigurationStatuses", e))?;
    let nodes = nodes.list_metadata(&ListParams::default()).await.map_err(|e| Error::Kube("listing Nodes", e))?;
    let mut rows: BTreeMap<String, NodeRow> = BTreeMap::new();
    for n in &nodes.items {
        let name = n.metadata.name.clone().unwrap_or_default();
        let index = n.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION)).cloned();
        rows.insert(name.clone(), empty_row(name, index, false));
    }
    for s in statuses.items {
        let name = s.metadata.name.clone().unwrap_or_default();
        let row = rows.entry(name.clone()).or_insert_with(|| empty_row(name, None, true));
        row.reported = true;
        let Some(st) = s.status else { continue };
        if let Some(c) = st.conditions.iter().find(|c| c.type_ == "Ready") {
            row.ready = c.status.clone();
            row.reason = c.reason.clone();
            row.message = c.message.clone();
            row.since = Some(c.last_transition_time.0);
        }
        row.revision = st.applied_revision;
        row.sessions = st.sessions;
        row.applied = st.applied_resources.len();
        row.failed = st.failed_resources;
    }
    Ok(rows.into_values().collect())
}

fn empty_row(node: String, index: Option<String>, node_missing: bool) -> NodeRow {
    NodeRow {
        node,
        index,
        reported: false,
        ready: "Unknown".into(),
        reason: String::new(),
        message: String::new(),
        since: None,
        revision: None,
        sessions: Vec::new(),
        applied: 0,
        failed: Vec::new(),
        node_missing,
    }
}
