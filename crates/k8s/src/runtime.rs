//! The long-running parts: reflectors that keep the cluster state for the webhooks, and the
//! nodemarker loop (leader election + node-index allocation).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::{L2VNI, L3Passthrough, L3VNI, RawFRRConfig, Underlay};
use futures::{Future, StreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::Error;
use crate::lease::{Elector, LeaseLock, LeaseSettings};
use crate::nodeindex::{self, ANNOTATION};
use crate::server::StateSource;
use crate::state::{ClusterState, NodeInfo};

/// Field manager name of the nodemarker's writes.
pub const FIELD_MANAGER: &str = "openperouter-nodemarker";

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                futures::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                futures::future::pending::<()>().await;
            }
        }
    }
}

/// Drives a watch stream into a store, logging errors (the watcher retries with backoff).
fn drive<K>(
    what: &'static str,
    writer: Writer<K>,
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    reflector::reflector(writer, stream.default_backoff()).for_each(move |event| {
        if let Err(e) = event {
            tracing::warn!(resource = what, error = %e, "watch failed; retrying");
        }
        futures::future::ready(())
    })
}

/// Reflector stores of everything the webhooks read. Objects are kept untyped and decoded on
/// use, so one object the current types cannot read is skipped (with a warning) instead of
/// breaking the whole watch.
#[derive(Clone)]
pub struct Reflectors {
    underlays: Store<DynamicObject>,
    l3vnis: Store<DynamicObject>,
    l2vnis: Store<DynamicObject>,
    passthroughs: Store<DynamicObject>,
    raw_configs: Store<DynamicObject>,
    nodes: Store<PartialObjectMeta<Node>>,
    ready: Arc<AtomicBool>,
    reported: Arc<Mutex<BTreeSet<String>>>,
}

impl Reflectors {
    /// Starts watching (spawns the watch tasks on the current runtime). RawFRRConfigs are
    /// watched in `namespace` only, everything else cluster-wide.
    pub fn start(client: Client, namespace: &str) -> Reflectors {
        let ready = Arc::new(AtomicBool::new(false));
        let mut waits = Vec::new();
        let mut store = |what: &'static str, ar: ApiResource, api: Api<DynamicObject>| {
            let writer = Writer::new(ar);
            let reader = writer.as_reader();
            tokio::spawn(drive(what, writer, watcher(api, watcher::Config::default())));
            let r = reader.clone();
            waits.push(tokio::spawn(async move { r.wait_until_ready().await.is_ok() }));
            reader
        };
        let ar_u = ApiResource::erase::<Underlay>(&());
        let ar_l3 = ApiResource::erase::<L3VNI>(&());
        let ar_l2 = ApiResource::erase::<L2VNI>(&());
        let ar_p = ApiResource::erase::<L3Passthrough>(&());
        let ar_r = ApiResource::erase::<RawFRRConfig>(&());
        let underlays = store("underlays", ar_u.clone(), Api::all_with(client.clone(), &ar_u));
        let l3vnis = store("l3vnis", ar_l3.clone(), Api::all_with(client.clone(), &ar_l3));
        let l2vnis = store("l2vnis", ar_l2.clone(), Api::all_with(client.clone(), &ar_l2));
        let passthroughs = store("l3passthroughs", ar_p.clone(), Api::all_with(client.clone(), &ar_p));
        let raw_configs = store("rawfrrconfigs", ar_r.clone(), Api::namespaced_with(client.clone(), namespace, &ar_r));
        let (nodes, node_writer) = reflector::store::<PartialObjectMeta<Node>>();
        tokio::spawn(drive(
            "nodes",
            node_writer,
            watcher(Api::<PartialObjectMeta<Node>>::all(client), watcher::Config::default()),
        ));
        let n = nodes.clone();
        waits.push(tokio::spawn(async move { n.wait_until_ready().await.is_ok() }));
        let flag = ready.clone();
        tokio::spawn(async move {
            for w in waits {
                if !matches!(w.await, Ok(true)) {
                    return;
                }
            }
            tracing::info!("cluster state synchronised");
            flag.store(true, Ordering::SeqCst);
        });
        Reflectors {
            underlays,
            l3vnis,
            l2vnis,
            passthroughs,
            raw_configs,
            nodes,
            ready,
            reported: Arc::new(Mutex::new(BTreeSet::new())),
        }
    }

    fn decode<T: DeserializeOwned>(&self, kind: &str, store: &Store<DynamicObject>) -> Vec<T> {
        let mut out = Vec::new();
        for object in store.state() {
            let decoded = serde_json::to_value(object.as_ref()).and_then(serde_json::from_value::<T>);
            match decoded {
                Ok(t) => out.push(t),
                Err(e) => {
                    let key = format!(
                        "{kind}/{}/{}@{}",
                        object.metadata.namespace.as_deref().unwrap_or_default(),
                        object.metadata.name.as_deref().unwrap_or_default(),
                        object.metadata.resource_version.as_deref().unwrap_or_default()
                    );
                    // A poisoned lock only loses the de-duplication of this warning.
                    let first = self.reported.lock().map(|mut s| s.insert(key.clone())).unwrap_or(true);
                    if first {
                        tracing::warn!(object = %key, error = %e, "cannot read an existing object; the webhooks ignore it");
                    }
                }
            }
        }
        out
    }
}

impl StateSource for Reflectors {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    fn snapshot(&self) -> Option<ClusterState> {
        if !self.ready() {
            return None;
        }
        Some(ClusterState {
            underlays: self.decode("Underlay", &self.underlays),
            l3vnis: self.decode("L3VNI", &self.l3vnis),
            l2vnis: self.decode("L2VNI", &self.l2vnis),
            passthroughs: self.decode("L3Passthrough", &self.passthroughs),
            raw_configs: self.decode("RawFRRConfig", &self.raw_configs),
            nodes: self.nodes.state().iter().filter_map(|n| NodeInfo::from_meta(&n.metadata)).collect(),
        })
    }
}

/// What an allocation round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Nodes listed.
    pub nodes: usize,
    /// Annotations written.
    pub patched: usize,
    /// Patches refused because the Node changed since it was listed (the round must be
    /// repeated).
    pub conflicts: usize,
    /// True when the round stopped early because this process stopped leading.
    pub interrupted: bool,
}

/// One allocation round: lists the Nodes (a consistent snapshot, not a cache), computes the
/// indexes ([`nodeindex::allocate`]) and writes the missing ones. Every patch carries the
/// Node's resourceVersion, so a Node that changed since the list is not overwritten (counted
/// as a conflict). `still_leader` is checked before every write.
pub async fn allocation_round(api: &Api<Node>, still_leader: impl Fn() -> bool) -> Result<RoundReport, Error> {
    let list = api.list_metadata(&ListParams::default()).await.map_err(|e| Error::Kube("listing Nodes", e))?;
    let infos: Vec<NodeInfo> = list.items.iter().filter_map(|n| NodeInfo::from_meta(&n.metadata)).collect();
    let allocation = nodeindex::allocate(&infos);
    let mut report = RoundReport { nodes: infos.len(), ..RoundReport::default() };
    let params = PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() };
    for p in allocation.patches {
        if !still_leader() {
            report.interrupted = true;
            break;
        }
        let body = serde_json::json!({
            "metadata": {
                "resourceVersion": p.resource_version,
                "annotations": { ANNOTATION: p.index.to_string() }
            }
        });
        match api.patch_metadata(&p.node, &params, &Patch::Merge(&body)).await {
            Ok(_) => {
                tracing::info!(node = %p.node, index = p.index, reason = %p.reason, "node index assigned");
                report.patched += 1;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                tracing::info!(node = %p.node, "node changed since it was listed; will retry");
                report.conflicts += 1;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tracing::info!(node = %p.node, "node deleted meanwhile");
            }
            Err(e) => return Err(Error::Kube("annotating a Node", e)),
        }
    }
    Ok(report)
}

/// Settings of the nodemarker.
#[derive(Debug, Clone)]
pub struct NodemarkerConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This process's identity in the Lease (the pod name).
    pub identity: String,
    /// Election timing.
    pub lease: LeaseSettings,
    /// A full allocation round runs at least this often while leading, even without events.
    pub resync: Duration,
}

/// Runs the nodemarker until `shutdown`: contends for the Lease, and while leading assigns
/// node indexes whenever Nodes appear or their annotations change (and every `resync`). On
/// shutdown the Lease is released. `ready` is set once a Lease round succeeded.
pub async fn run_nodemarker(
    client: Client,
    config: NodemarkerConfig,
    shutdown: impl Future<Output = ()> + Send,
    ready: Arc<AtomicBool>,
) -> Result<(), Error> {
    config.lease.validate().map_err(Error::Settings)?;
    let mut lock = LeaseLock::new(
        client.clone(),
        &config.namespace,
        &config.lease_name,
        Elector::new(config.identity.clone(), config.lease),
    );
    let nodes: Api<Node> = Api::all(client.clone());
    let changed = Arc::new(tokio::sync::Notify::new());
    let notifier = changed.clone();
    let watch = tokio::spawn(
        watcher(Api::<PartialObjectMeta<Node>>::all(client), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .predicate_filter(predicates::annotations, Default::default())
            .for_each(move |event| {
                match event {
                    Ok(_) => notifier.notify_one(),
                    Err(e) => tracing::warn!(error = %e, "watching Nodes failed; retrying"),
                }
                futures::future::ready(())
            }),
    );
    let mut tick = tokio::time::interval(config.lease.retry_period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut last_round: Option<Instant> = None;
    let mut was_leader = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                match lock.tick().await {
                    Ok(_) => ready.store(true, Ordering::SeqCst),
                    Err(e) => tracing::warn!(error = %e, "leader election round failed"),
                }
            }
            _ = changed.notified() => dirty = true,
        }
        let leader = lock.is_leader();
        if leader != was_leader {
            if leader {
                tracing::info!(identity = %config.identity, "became the leader: assigning node indexes");
                dirty = true;
            } else {
                tracing::info!(identity = %config.identity, "no longer the leader");
            }
            was_leader = leader;
        }
        let resync_due = last_round.is_none_or(|t| t.elapsed() >= config.resync);
        if leader && (dirty || resync_due) {
            match allocation_round(&nodes, || lock.is_leader()).await {
                Ok(report) => {
                    dirty = report.conflicts > 0 || report.interrupted;
                    last_round = Some(Instant::now());
                    if report.patched > 0 {
                        tracing::info!(nodes = report.nodes, patched = report.patched, "allocation round done");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "allocation round failed; retrying"),
            }
        }
    }
    watch.abort();
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "could not release the Lease; the next leader takes over after it expires");
    }
    Ok(())
}

/// Plain-HTTP probe endpoints of the nodemarker: `/healthz` (the process serves) and
/// `/readyz` (a Lease round succeeded: the API server is reachable and the RBAC works).
pub fn probe_router(ready: Arc<AtomicBool>) -> axum::Router {
    use axum::http::StatusCode;
    axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" })).route(
        "/readyz",
        axum::routing::get(move || {
            let ready = ready.load(Ordering::SeqCst);
            async move { if ready { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") } }
        }),
    )
}

/// Serves [`probe_router`] on `listener` (plain HTTP) until the process ends.
pub async fn serve_probes(listener: tokio::net::TcpListener, ready: Arc<AtomicBool>) -> std::io::Result<()> {
    axum::serve(listener, probe_router(ready)).await
}
