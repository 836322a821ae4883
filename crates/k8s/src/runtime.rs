//! The long-running parts: reflectors that keep the cluster state for the webhooks, and the
//! nodemarker loop (leader election + node-index allocation).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{Future, StreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};

use crate::Error;
use crate::lease::{Elector, LeaseLock, LeaseSettings};
use crate::nodeindex::{self, ANNOTATION};
use crate::server::StateSource;
use crate::state::{ClusterState, NodeInfo};
use crate::watch::{KindStores, drive};

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

/// Reflector stores of everything the webhooks read: every planned kind ([`KindStores`]) and
/// the Nodes' metadata.
#[derive(Clone)]
pub struct Reflectors {
    kinds: KindStores,
    nodes: Store<PartialObjectMeta<Node>>,
    ready: Arc<AtomicBool>,
}

impl Reflectors {
    /// Starts watching (spawns the watch tasks on the current runtime). RawFRRConfigs are
    /// watched in `namespace` only, everything else cluster-wide.
    pub fn start(client: Client, namespace: &str) -> Reflectors {
        let ready = Arc::new(AtomicBool::new(false));
        let (kinds, _tasks) = KindStores::start(&client, namespace, || {});
        let (nodes, node_writer) = reflector::store::<PartialObjectMeta<Node>>();
        let node_watch = watcher(Api::<PartialObjectMeta<Node>>::all(client), watcher::Config::default());
        tokio::spawn(drive("nodes", node_writer, node_watch, |_| {}));
        let (k, n, flag) = (kinds.clone(), nodes.clone(), ready.clone());
        tokio::spawn(async move {
            if k.wait_ready().await && n.wait_until_ready().await.is_ok() {
                tracing::info!("cluster state synchronised");
                flag.store(true, Ordering::SeqCst);
            }
        });
        Reflectors { kinds, nodes, ready }
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
            objects: self.kinds.objects(),
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

/// Plain-HTTP probe endpoints: `/healthz` (the process serves) and `/readyz` (the nodemarker: a
/// Lease round succeeded; the controller: its first reconcile ran), and with `metrics` (the
/// controller) `/metrics`, the agent's counters in Prometheus text.
pub fn probe_router(ready: Arc<AtomicBool>, metrics: Option<Arc<agent::Metrics>>) -> axum::Router {
    use axum::http::{StatusCode, header};
    let router = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" })).route(
        "/readyz",
        axum::routing::get(move || {
            let ready = ready.load(Ordering::SeqCst);
            async move { if ready { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") } }
        }),
    );
    match metrics {
        Some(m) => router.route(
            "/metrics",
            axum::routing::get(move || {
                let text = m.render(None);
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        ),
        None => router,
    }
}

/// Serves [`probe_router`] on `listener` (plain HTTP) until the process ends.
pub async fn serve_probes(
    listener: tokio::net::TcpListener,
    ready: Arc<AtomicBool>,
    metrics: Option<Arc<agent::Metrics>>,
) -> std::io::Result<()> {
    axum::serve(listener, probe_router(ready, metrics)).await
}
