//! What the node controller watches: the configuration kinds (through [`KindStores`]), its own
//! Node's metadata and the router pod of its node, kept in stores that a reconcile snapshots, and
//! the triggers their changes send.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use api::{Objects, ResourceKind};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, ObjectMeta, PartialObjectMeta};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use crate::nodeindex::ANNOTATION;
use crate::watch::KindStores;

type Key = (ResourceKind, String, String);

/// What this node selects: the node's identity and, per selected resource, its generation and
/// spec. Two equal selections plan to the same result, so a change that leaves the selection
/// equal (a label no selector looks at, a resource of another node) needs no reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    index: Option<String>,
    pub(crate) resources: BTreeMap<Key, (Option<i64>, serde_json::Value)>,
}

impl Selection {
    /// The selection of `snapshot` for a node with `labels` and the raw index annotation.
    pub fn of(snapshot: &Snapshot) -> Selection {
        let Some(node) = &snapshot.node else { return Selection::default() };
        let mut resources = BTreeMap::new();
        for e in snapshot.objects.entries() {
            if plan::select::matches(e.node_selector, &node.labels).unwrap_or(true) {
                let key = (e.kind, e.namespace().to_string(), e.name().to_string());
                resources.insert(key, (e.meta.generation, e.spec_json()));
            }
        }
        Selection { index: node.index.clone(), resources }
    }

    /// A short stable digest (FNV-1a of the serialized selection), shown as the revision.
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        feed(self.index.as_deref().unwrap_or("-").as_bytes());
        for ((kind, ns, name), (generation, spec)) in &self.resources {
            feed(format!("{kind}/{ns}/{name}@{generation:?}:{spec}").as_bytes());
        }
        format!("{h:016x}")
    }
}

/// Label of the router pods (upstream's `app=router`).
pub const ROUTER_POD_LABEL: &str = "app=router";

/// What the controller knows of its Node: only what planning reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeMeta {
    /// `metadata.uid` (for the status object's owner reference).
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The raw `openpe.io/nodeindex` annotation.
    pub index: Option<String>,
}

impl NodeMeta {
    fn of(meta: &ObjectMeta) -> NodeMeta {
        NodeMeta {
            uid: meta.uid.clone().unwrap_or_default(),
            labels: meta.labels.clone().unwrap_or_default(),
            index: meta.annotations.as_ref().and_then(|a| a.get(ANNOTATION)).cloned(),
        }
    }
}

/// The cluster as one reconcile sees it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The resources (RawFRRConfigs of the operator namespace only).
    pub objects: Objects,
    /// This node (None: not seen yet, or deleted).
    pub node: Option<NodeMeta>,
}

/// Why a reconcile was triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A resource or this Node's labels/index changed, or the router pod stopped being ready.
    Changed,
    /// The router pod became ready: FRR runs its bootstrap configuration.
    RouterReady,
}

/// The reflector stores and the trigger channel.
pub(crate) struct Watches {
    kinds: KindStores,
    node: Arc<Mutex<Option<NodeMeta>>>,
    node_seen: Arc<tokio::sync::Notify>,
    /// Whether a router pod of this node is ready (`None`: none seen).
    router_ready: Arc<Mutex<Option<bool>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watches {
    pub(crate) fn start(
        client: &Client,
        node_name: &str,
        namespace: &str,
        tx: mpsc::UnboundedSender<Trigger>,
    ) -> Watches {
        let changed = tx.clone();
        let (kinds, mut tasks) = KindStores::start(client, namespace, move || {
            let _ = changed.send(Trigger::Changed);
        });

        // This Node, metadata only; only labels and the index annotation matter.
        let node = Arc::new(Mutex::new(None::<NodeMeta>));
        let node_seen = Arc::new(tokio::sync::Notify::new());
        let (shared, seen, node_tx) = (node.clone(), node_seen.clone(), tx.clone());
        let by_name = format!("metadata.name={node_name}");
        tasks.push(tokio::spawn(
            watcher(Api::<PartialObjectMeta<Node>>::all(client.clone()), watcher::Config::default().fields(&by_name))
                .default_backoff()
                .for_each(move |event| {
                    let update = match event {
                        Ok(watcher::Event::Apply(n) | watcher::Event::InitApply(n)) => Some(Some(NodeMeta::of(&n.metadata))),
                        Ok(watcher::Event::Delete(_)) => Some(None),
                        Ok(_) => None,
                        Err(e) => {
                            tracing::warn!(error = %e, "watching the Node failed; retrying");
                            None
                        }
                    };
                    if let Some(new) = update {
                        // A poisoned lock only means a panicking writer; the value is still whole.
                        let mut current = shared.lock().unwrap_or_else(|e| e.into_inner());
                        if *current != new {
                            tracing::info!(labels = ?new.as_ref().map(|n| &n.labels), index = ?new.as_ref().and_then(|n| n.index.as_ref()), "node changed");
                            *current = new;
                            let _ = node_tx.send(Trigger::Changed);
                        }
                        seen.notify_one();
                    }
                    futures::future::ready(())
                }),
        ));

        // The router pod of this node: a re-apply when it becomes ready.
        let by_node = format!("spec.nodeName={node_name}");
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let mut ready: BTreeMap<String, bool> = BTreeMap::new();
        let router_ready = Arc::new(Mutex::new(None::<bool>));
        let shared_ready = router_ready.clone();
        // The first listing is no change: the first reconcile after start applies anyway (a
        // trigger from it would race that reconcile and apply the same thing twice).
        let mut listed = false;
        tasks.push(tokio::spawn(
            watcher(pods, watcher::Config::default().labels(ROUTER_POD_LABEL).fields(&by_node))
                .default_backoff()
                .for_each(move |event| {
                    match event {
                        Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                            let name = p.metadata.name.clone().unwrap_or_default();
                            let now = pod_ready(&p);
                            let before = ready.insert(name.clone(), now);
                            if before != Some(now) {
                                tracing::info!(pod = %name, ready = now, "router pod readiness changed");
                                if listed {
                                    let _ = tx.send(if now { Trigger::RouterReady } else { Trigger::Changed });
                                }
                            }
                        }
                        Ok(watcher::Event::InitDone) => listed = true,
                        Ok(watcher::Event::Delete(p)) => {
                            ready.remove(p.metadata.name.as_deref().unwrap_or_default());
                            let _ = tx.send(Trigger::Changed);
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "watching the router pod failed; retrying"),
                    }
                    let any = (!ready.is_empty()).then(|| ready.values().any(|r| *r));
                    *shared_ready.lock().unwrap_or_else(|e| e.into_inner()) = any;
                    futures::future::ready(())
                }),
        ));
        Watches { kinds, node, node_seen, router_ready, tasks }
    }

    pub(crate) async fn wait_synced(&self) {
        self.kinds.wait_ready().await;
        if self.node.lock().unwrap_or_else(|e| e.into_inner()).is_none() {
            self.node_seen.notified().await;
        }
    }

    pub(crate) fn router_ready(&self) -> Option<bool> {
        *self.router_ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot { objects: self.kinds.objects(), node: self.node.lock().unwrap_or_else(|e| e.into_inner()).clone() }
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Upstream's `PodIsReady`: not terminating, `Ready` and `ContainersReady` true.
pub fn pod_ready(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    let is_true = |t: &str| conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"));
    is_true("Ready") && is_true("ContainersReady")
}
