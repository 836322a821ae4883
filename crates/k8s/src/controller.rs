//! `openperouter controller`: the per-node agent in Kubernetes mode.
//!
//! Reflectors keep the five configuration kinds (RawFRRConfig in the operator namespace only),
//! this node's metadata and the router pod of this node. Their changes feed one debounced
//! trigger; each reconcile takes a snapshot of the stores and runs the shared agent loop
//! ([`agent::Agent::reconcile_with`]: plan → router namespace → FRR through the reloader →
//! kernel), then writes `RouterNodeConfigurationStatus` when it differs from the stored one and
//! emits an Event for every newly failed resource.
//!
//! What triggers a reconcile:
//! * a change of any watched resource (debounced): the reconcile is skipped when what this node
//!   selects is unchanged ([`Selection`]), so changes for other nodes cost nothing here;
//! * a change of this Node's labels or of its `openpe.io/nodeindex` annotation (status
//!   heartbeats and other annotations are ignored before they reach the trigger: kube's
//!   debounce can otherwise hide updates behind a stream of heartbeats);
//! * the router pod of this node becoming ready (FRR restarted with its bootstrap
//!   configuration): a forced re-apply;
//! * the periodic resync (drift repair): a forced re-apply.
//!
//! With readiness gating on ([`crate::readiness`]), every turn of the loop also brings the Node's
//! taint and condition in line with the router's readiness (the last reconcile's Ready and the
//! router pod's), and the loop wakes up when a grace period ends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use agent::{Agent, AgentConfig, NodeStatus};
use api::{AppliedResource, BgpSessionState, ResourceKind, RouterNodeConfigurationStatus};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::Error;
pub use crate::controller_watch::{NodeMeta, ROUTER_POD_LABEL, Selection, Snapshot, pod_ready};
use crate::controller_watch::{Trigger, Watches};
use crate::node_status::applied_resources;
pub use crate::node_status::{desired_status, status_patch};
use crate::nodeindex::ANNOTATION;
use crate::readiness::{self, Gate, GateConfig, Readiness};

/// Field manager and Event reporter name of the controller.
pub const FIELD_MANAGER: &str = "openperouter-controller";

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// This node's name.
    pub node_name: String,
    /// The operator namespace: RawFRRConfigs, router pods and the status object live there.
    pub namespace: String,
    /// The agent (FRR mode [`agent::FrrMode::Reloader`] in a cluster; the kernel mode).
    pub agent: AgentConfig,
    /// Quiet time after a change before reconciling.
    pub debounce: Duration,
    /// A forced re-apply runs at least this often (drift repair).
    pub resync: Duration,
    /// How often the BGP session states are sampled into the status (written only on a change).
    pub sessions_every: Duration,
    /// The clock of condition transition times (tests pin it).
    pub now: fn() -> Timestamp,
    /// Readiness gating of the Node (off unless asked for).
    pub gate: GateConfig,
    /// Where the agent records its counters (served on `/metrics`).
    pub metrics: Arc<agent::Metrics>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The node is unknown (not listed yet, or deleted): nothing done.
    NoNode,
    /// The selection is unchanged since the last successful reconcile: nothing done.
    Unchanged,
    /// The node has no usable index: nothing applied; the status says why.
    NoIndex {
        /// Whether the status object was written.
        status_written: bool,
    },
    /// The agent ran.
    Reconciled {
        /// The agent's status.
        status: Box<NodeStatus>,
        /// Whether the status object was written.
        status_written: bool,
    },
}

/// The reconcile logic, independent of how changes are noticed.
pub struct NodeController {
    client: Client,
    cfg: ControllerConfig,
    agent: Agent,
    /// Selection of the last reconcile that ended without a step failure.
    last: Option<Selection>,
    /// Failures already reported as Events (kind, namespace, name, message).
    reported: BTreeSet<(ResourceKind, String, String, String)>,
    recorder: Recorder,
    /// The readiness history, when gating is on.
    gate: Option<Gate>,
    /// The last reconcile's outcome and applied resources (what a session refresh rewrites).
    last_status: Option<(NodeMeta, NodeStatus, Vec<AppliedResource>)>,
    /// The session states last sampled.
    sessions: Vec<BgpSessionState>,
    /// Whether the incumbents were read back from the status object (once, before the first
    /// reconcile that plans).
    incumbents_read: bool,
}

impl NodeController {
    /// A controller for `cfg.node_name`.
    pub fn new(client: Client, cfg: ControllerConfig) -> NodeController {
        let reporter = Reporter { controller: FIELD_MANAGER.to_string(), instance: Some(cfg.node_name.clone()) };
        let gate = cfg.gate.enabled().then(|| Gate::new(cfg.gate.clone(), std::time::Instant::now()));
        NodeController {
            gate,
            last_status: None,
            sessions: Vec::new(),
            incumbents_read: false,
            recorder: Recorder::new(client.clone(), reporter),
            agent: Agent::with_metrics(cfg.agent.clone(), cfg.metrics.clone()),
            client,
            cfg,
            last: None,
            reported: BTreeSet::new(),
        }
    }

    /// The router's readiness: the last reconcile left the node Ready and the router pod of the
    /// node is ready (`None`: no router pod seen).
    pub fn readiness(&self, router_pod_ready: Option<bool>) -> Readiness {
        let st = self.agent.status();
        let st = st.read().unwrap_or_else(|e| e.into_inner());
        let ready = st.conditions.iter().find(|c| c.kind == "Ready");
        match (ready, router_pod_ready) {
            (None, _) => Readiness {
                ready: false,
                reason: "NotReconciled".into(),
                message: "the router has not been configured yet".into(),
            },
            (Some(c), _) if c.status != "True" => {
                Readiness { ready: false, reason: c.reason.clone(), message: c.message.clone() }
            }
            (Some(_), Some(true)) => Readiness {
                ready: true,
                reason: "RouterReady".into(),
                message: "the router is configured and running".into(),
            },
            (Some(_), pod) => Readiness {
                ready: false,
                reason: "RouterPodNotReady".into(),
                message: if pod.is_none() {
                    "no router pod runs on this node".into()
                } else {
                    "the router pod of this node is not ready".into()
                },
            },
        }
    }

    /// Brings the Node's taint and condition in line with the router's readiness (nothing when
    /// gating is off). Returns when the gate wants to look again (a grace period ending).
    pub async fn gate_node(&mut self, router_pod_ready: Option<bool>) -> Option<std::time::Instant> {
        let readiness = self.readiness(router_pod_ready);
        let gate = self.gate.as_mut()?;
        let now = std::time::Instant::now();
        let desired = gate.observe(&readiness, now);
        let deadline = gate.deadline(now);
        match readiness::apply(&self.client, &self.cfg.node_name, &desired, (self.cfg.now)()).await {
            Ok(done) => {
                if let Some((taints, _)) = &done.taints {
                    let on = taints.iter().any(|t| t.key == readiness::TAINT_KEY);
                    tracing::info!(taint = readiness::TAINT_KEY, tainted = on, reason = %readiness.reason, "node readiness taint changed");
                }
                if let Some(c) = &done.condition {
                    tracing::info!(condition = readiness::CONDITION_TYPE, status = %c.status, reason = %readiness.reason, "node readiness condition changed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "readiness gating: the Node was not updated; retrying"),
        }
        deadline
    }

    /// The agent's shared status (for a status endpoint).
    pub fn agent_status(&self) -> Arc<std::sync::RwLock<NodeStatus>> {
        self.agent.status()
    }

    /// One reconcile of `snapshot`. `force` re-applies even when the selection is unchanged
    /// (router pod restart, resync). Errors are API errors of the status write.
    pub async fn reconcile(&mut self, snapshot: &Snapshot, force: bool) -> Result<Outcome, Error> {
        let Some(node) = snapshot.node.clone() else { return Ok(Outcome::NoNode) };
        let selection = Selection::of(snapshot);
        if !force && self.last.as_ref() == Some(&selection) {
            return Ok(Outcome::Unchanged);
        }
        let revision = selection.digest();
        let index = match node.index.as_deref().map(|s| s.trim().parse::<u32>()) {
            Some(Ok(i)) => i,
            other => {
                let message = match other {
                    None => format!(
                        "node {} has no {ANNOTATION} annotation yet (the nodemarker assigns it): nothing applied",
                        self.cfg.node_name
                    ),
                    Some(_) => format!(
                        "node {} has an unusable {ANNOTATION} annotation {:?}: nothing applied",
                        self.cfg.node_name,
                        node.index.as_deref().unwrap_or_default()
                    ),
                };
                tracing::warn!("{message}");
                let st = self.agent.report_input_error(revision, &self.cfg.node_name, &message);
                let status_written = self.write_status(&node, &st, Vec::new()).await?;
                self.last_status = Some((node.clone(), st, Vec::new()));
                self.last = Some(selection);
                return Ok(Outcome::NoIndex { status_written });
            }
        };
        if !self.incumbents_read {
            self.read_incumbents().await?;
        }
        let mut labels = node.labels.clone();
        labels.entry("kubernetes.io/hostname".into()).or_insert_with(|| self.cfg.node_name.clone());
        let passwords = crate::secrets::read(&self.client, snapshot.objects.password_refs(), &self.cfg.namespace).await;
        let input = agent::Input {
            resources: plan::Resources {
                objects: snapshot.objects.clone(),
                rejected: Vec::new(),
                incumbents: Default::default(),
                passwords: Some(passwords),
            },
            node: plan::Node { name: self.cfg.node_name.clone(), index, labels },
            revision,
        };
        let st = self.agent.reconcile_with(input).await;
        agent::log_summary(&st);
        let applied = applied_resources(&st, &selection);
        self.sample_sessions().await;
        let status_written = self.write_status(&node, &st, applied.clone()).await?;
        self.last_status = Some((node.clone(), st.clone(), applied));
        self.emit_events(snapshot, &st).await;
        let step_failed = st.error.is_some();
        self.last = if step_failed { None } else { Some(selection) };
        Ok(Outcome::Reconciled { status: Box::new(st), status_written })
    }

    /// The resources this node applied before the controller (re)started, from its status
    /// object's `appliedResources`: they keep winning conflicts against resources that appeared
    /// meanwhile, as they would have without the restart.
    async fn read_incumbents(&mut self) -> Result<(), Error> {
        let api: Api<RouterNodeConfigurationStatus> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let existing = api
            .get_opt(&self.cfg.node_name)
            .await
            .map_err(|e| Error::Kube("reading RouterNodeConfigurationStatus", e))?;
        let applied: agent::incumbents::Incumbents = existing
            .and_then(|o| o.status)
            .map(|s| s.applied_resources.into_iter().map(|a| (a.kind, a.name)).collect())
            .unwrap_or_default();
        if !applied.is_empty() {
            tracing::info!(resources = applied.len(), "resources applied before this start win conflicts");
        }
        self.agent.adopt_incumbents(applied);
        self.incumbents_read = true;
        Ok(())
    }

    /// Samples the router's session states; `true` when they changed. A failed sample keeps the
    /// last ones (FRR restarting is seen in the conditions, not as sessions vanishing).
    async fn sample_sessions(&mut self) -> bool {
        let sampled = match self.agent.sessions().await {
            None => Vec::new(),
            Some(Ok(s)) => {
                s.into_iter().map(|s| BgpSessionState { vrf: s.vrf, peer: s.peer, state: s.state }).collect()
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "cannot sample the BGP sessions");
                return false;
            }
        };
        let changed = sampled != self.sessions;
        self.sessions = sampled;
        changed
    }

    /// Samples the session states and rewrites the status when they changed since the last
    /// write. Returns whether anything was written.
    pub async fn refresh_sessions(&mut self) -> Result<bool, Error> {
        if !self.sample_sessions().await {
            return Ok(false);
        }
        let Some((node, st, applied)) = self.last_status.clone() else { return Ok(false) };
        let states: Vec<String> = self.sessions.iter().map(|s| format!("{}/{} {}", s.vrf, s.peer, s.state)).collect();
        tracing::info!(sessions = ?states, "BGP sessions changed");
        self.write_status(&node, &st, applied).await
    }

    /// Writes the status object when its status differs from `st` (creating the object, owned
    /// by the Node, when missing). Returns whether anything was written.
    async fn write_status(
        &self,
        node: &NodeMeta,
        st: &NodeStatus,
        applied: Vec<AppliedResource>,
    ) -> Result<bool, Error> {
        let api: Api<RouterNodeConfigurationStatus> = Api::namespaced(self.client.clone(), &self.cfg.namespace);
        let name = &self.cfg.node_name;
        let existing = api.get_opt(name).await.map_err(|e| Error::Kube("reading RouterNodeConfigurationStatus", e))?;
        let previous = existing.as_ref().and_then(|o| o.status.clone());
        let mut desired = desired_status(st, applied, previous.as_ref(), (self.cfg.now)());
        desired.sessions = self.sessions.clone();
        if existing.is_none() {
            let mut object = RouterNodeConfigurationStatus::new(name, Default::default());
            object.metadata.namespace = Some(self.cfg.namespace.clone());
            object.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: name.clone(),
                uid: node.uid.clone(),
                ..OwnerReference::default()
            }]);
            let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
            match api.create(&params, &object).await {
                Ok(_) => tracing::info!(name = %name, "created RouterNodeConfigurationStatus"),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(Error::Kube("creating RouterNodeConfigurationStatus", e)),
            }
        } else if previous.as_ref() == Some(&desired) {
            return Ok(false);
        }
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        api.patch_status(name, &params, &Patch::Merge(status_patch(&desired)))
            .await
            .map_err(|e| Error::Kube("patching RouterNodeConfigurationStatus status", e))?;
        Ok(true)
    }

    /// One Warning Event per newly failed resource (regarding the resource; FRR failures
    /// regarding the Node). A failure that persists is not reported again.
    async fn emit_events(&mut self, snapshot: &Snapshot, st: &NodeStatus) {
        let mut now = BTreeSet::new();
        for f in &st.failed_resources {
            let references = references_of(snapshot, f.kind, &f.name, &self.cfg.node_name);
            for reference in references {
                let key = (f.kind, reference.namespace.clone().unwrap_or_default(), f.name.clone(), f.message.clone());
                now.insert(key.clone());
                if self.reported.contains(&key) {
                    continue;
                }
                let event = KubeEvent {
                    type_: EventType::Warning,
                    reason: f.reason.to_string(),
                    note: Some(format!("node {}: {}", self.cfg.node_name, f.message)),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                if let Err(e) = self.recorder.publish(&event, &reference).await {
                    tracing::warn!(error = %e, resource = %format!("{}/{}", f.kind, f.name), "cannot emit an Event");
                }
            }
        }
        self.reported = now;
    }
}

/// The object references a failed resource is reported on.
fn references_of(snapshot: &Snapshot, kind: ResourceKind, name: &str, node: &str) -> Vec<ObjectReference> {
    match kind {
        ResourceKind::Underlay
        | ResourceKind::L3VNI
        | ResourceKind::L2VNI
        | ResourceKind::L3Passthrough
        | ResourceKind::RawFRRConfig => {
            snapshot.objects.entries().filter(|e| e.kind == kind && e.name() == name).map(|e| e.object_ref()).collect()
        }
        ResourceKind::FrrConfiguration | ResourceKind::L3VPN => {
            let uid = snapshot.node.as_ref().map(|n| n.uid.clone()).filter(|u| !u.is_empty());
            vec![ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.to_string()),
                uid,
                ..ObjectReference::default()
            }]
        }
    }
}

/// Runs the controller until `shutdown`. `ready` is set after the first reconcile.
pub async fn run_controller(
    client: Client,
    cfg: ControllerConfig,
    shutdown: impl std::future::Future<Output = ()>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), Error> {
    if cfg.node_name.is_empty() {
        return Err(Error::Settings("the node name is empty (--node-name / $NODE_NAME)".into()));
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watches = Watches::start(&client, &cfg.node_name, &cfg.namespace, tx);
    let mut controller = NodeController::new(client, cfg.clone());
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => return Ok(()),
        _ = watches.wait_synced() => {}
    }
    tracing::info!(node = %cfg.node_name, "caches synchronised");
    let mut force = true;
    loop {
        // Coalesce everything that arrives within the debounce window.
        while let Ok(t) = rx.try_recv() {
            force |= t == Trigger::RouterReady;
        }
        match controller.reconcile(&watches.snapshot(), force).await {
            Ok(Outcome::Unchanged) => tracing::debug!("selection unchanged: nothing to do"),
            Ok(Outcome::NoNode) => tracing::warn!(node = %cfg.node_name, "this Node is not known: nothing applied"),
            Ok(_) => ready.store(true, std::sync::atomic::Ordering::SeqCst),
            Err(e) => tracing::warn!(error = %e, "writing the node status failed; retrying at the next change"),
        }
        let gate_deadline = controller.gate_node(watches.router_ready()).await;
        let resync = tokio::time::sleep(cfg.resync);
        tokio::pin!(resync);
        let gate_due = async move {
            match gate_deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(gate_due);
        let mut sessions = tokio::time::interval(cfg.sessions_every);
        sessions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sessions.tick().await;
        force = loop {
            tokio::select! {
                _ = sessions.tick() => {
                    if let Err(e) = controller.refresh_sessions().await {
                        tracing::warn!(error = %e, "writing the session states failed; retrying");
                    }
                    continue;
                }
                _ = &mut shutdown => return Ok(()),
                _ = &mut resync => break true,
                _ = &mut gate_due => break false,
                t = rx.recv() => match t {
                    Some(t) => {
                        tokio::time::sleep(cfg.debounce).await;
                        break t == Trigger::RouterReady;
                    }
                    None => return Ok(()),
                },
            }
        };
    }
}
