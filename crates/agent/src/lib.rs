//! The node agent: one reconcile loop shared by host mode and (later) the Kubernetes controller.
//!
//! A reconcile: read the inputs → plan for this node → make sure the router namespace exists →
//! apply FRR (first: bgpd must know an EVPN instance before its VXLAN device appears) → apply
//! the kernel state → record the status. It is triggered by input changes (debounced), by an
//! FRR restart, and periodically to repair drift. Each step is a diff against the live state,
//! so a reconcile of an unchanged configuration changes nothing.
//!
//! When the router namespace's name was deleted, the namespace itself lives on (the agent holds
//! it, and FRR runs in it): the agent names it again and nothing is rebuilt or lost. When the
//! name was given to another namespace, FRR is still running in the old one: a managed FRR (or
//! the systemd unit named with `--frr-restart-unit`) is restarted into the new namespace, and
//! the kernel state is rebuilt.

pub mod cni_step;
pub mod config;
pub mod error;
pub mod identity;
pub mod incumbents;
pub mod metrics;
mod ovs_step;
pub mod secrets;
pub mod server;
mod settle;
pub mod source;
pub mod status;
mod steps;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use api::{FailedResource, FailureReason, ResourceKind};
use dataplane::Datapath;
use frr::Instance;
use frr::target::Target;
use kernel::NetNs;

pub use config::{AgentConfig, DEFAULT_CNI_CACHE_DIR, FrrMode, Input, KernelMode};
pub use error::ReconcileError;
pub use identity::{NodeIdentity, WithoutIndex, hostname};
pub use metrics::Metrics;
pub use status::NodeStatus;

/// The agent.
pub struct Agent {
    cfg: AgentConfig,
    /// Where the FRR configuration goes (`None`: FRR is not touched).
    frr: Option<Target>,
    datapath: Option<Datapath>,
    /// The router namespace, held open: it outlives its name, which can then be given back.
    router_ns: Option<NetNs>,
    netns_inode: Option<u64>,
    /// The router namespace was made again and FRR still runs in the old one: restart it
    /// (kept until a restart succeeds).
    frr_restart_pending: bool,
    /// This agent started FRR since the last apply: its Idle sessions get a nudge once the
    /// configuration is in. (Not after watchfrr restarted daemons: in the lab on FRR 8.4 that
    /// made the sessions return later and lose more traffic under graceful restart.)
    frr_fresh: bool,
    status: Arc<RwLock<NodeStatus>>,
    metrics: Arc<Metrics>,
    reconciles: u64,
    /// Resources applied by the last reconcile: they win conflicts with newcomers.
    incumbents: incumbents::Incumbents,
    /// The CNI DHCP daemon this agent started, when a CNI underlay uses DHCP addressing.
    dhcp_daemon: Option<std::process::Child>,
    /// FRR still lacked router-side interface addresses after the last reconcile's repair:
    /// the next one checks again even when it changes nothing there.
    router_addresses_unsettled: bool,
}

/// FRR being restarted into a new router namespace, in the background.
type FrrStart = tokio::task::JoinHandle<Result<(), String>>;

/// Now, as RFC 3339 in UTC to the second.
fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now).to_string()
}

fn netns_inode(name: &str) -> Option<u64> {
    std::fs::metadata(NetNs::path_of(name)).ok().map(|m| m.ino())
}

impl Agent {
    /// Prepares an agent that records into `metrics` (shared with whoever serves them).
    pub fn with_metrics(cfg: AgentConfig, metrics: Arc<Metrics>) -> Agent {
        Agent { metrics, ..Agent::new(cfg) }
    }

    /// Prepares an agent (nothing is touched until the first reconcile).
    pub fn new(cfg: AgentConfig) -> Agent {
        kernel::procs::map_large_allocations_apart();
        let cfg_state_file = cfg.state_file.clone();
        let frr = match &cfg.frr {
            FrrMode::Managed { run_dir, config_dir, hostname } => {
                Some(Target::private_instance(&cfg.router_netns, run_dir, config_dir, hostname.clone()))
            }
            FrrMode::Pathspace { name, restart_unit } => {
                Some(Target::pathspace(name, &cfg.router_netns, restart_unit.clone()))
            }
            FrrMode::Reloader { socket, config_path, hostname: fixed } => {
                Some(Target::reloader(socket.clone(), config_path.clone(), fixed.clone().unwrap_or_else(hostname)))
            }
            FrrMode::None => None,
        };
        Agent {
            cfg,
            frr,
            datapath: None,
            router_ns: None,
            netns_inode: None,
            frr_restart_pending: false,
            frr_fresh: false,
            status: Arc::new(RwLock::new(NodeStatus::default())),
            metrics: Arc::new(Metrics::default()),
            reconciles: 0,
            incumbents: incumbents::load(cfg_state_file.as_deref()),
            dhcp_daemon: None,
            router_addresses_unsettled: false,
        }
    }

    /// The shared status (read by the HTTP server).
    pub fn status(&self) -> Arc<RwLock<NodeStatus>> {
        self.status.clone()
    }

    /// The shared metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// vtysh of the FRR instance, when FRR is used.
    pub fn vtysh(&self) -> Option<frr::Vtysh> {
        self.frr.as_ref().and_then(Target::vtysh)
    }

    /// The managed FRR instance, if any.
    pub fn frr_instance(&self) -> Option<&Instance> {
        self.frr.as_ref().and_then(Target::managed_instance)
    }

    /// Takes `incumbents` as the resources applied last, unless this agent already knows its
    /// own (from its state file or an earlier reconcile): how the Kubernetes controller carries
    /// them across a restart, from the node's status object.
    pub fn adopt_incumbents(&mut self, incumbents: incumbents::Incumbents) {
        if self.incumbents.is_empty() {
            self.incumbents = incumbents;
        }
    }

    /// The state of every BGP session of the router (`None`: FRR is not used).
    pub async fn sessions(&self) -> Option<Result<Vec<frr::state::SessionState>, String>> {
        Some(self.frr.as_ref()?.sessions().await)
    }

    fn node(&self, loaded: &api::load::Loaded) -> Result<plan::Node, String> {
        self.cfg.node.resolve(loaded, WithoutIndex::Refuse)
    }

    /// One reconcile of the files in [`AgentConfig::inputs`]. Never panics on bad input:
    /// everything ends up in the returned status.
    pub async fn reconcile(&mut self) -> NodeStatus {
        let started = Instant::now();
        self.reconciles += 1;
        let st = NodeStatus {
            reconciles: self.reconciles,
            applied_revision: source::digest(&self.cfg.inputs),
            ..NodeStatus::default()
        };

        let loaded = match source::load(&self.cfg.inputs) {
            Ok(l) => l,
            Err(e) => {
                let error = ReconcileError::Input(e.to_string());
                tracing::error!("{error}");
                return self.stopped(st, started, None, error);
            }
        };
        let node = match self.node(&loaded) {
            Ok(n) => n,
            Err(msg) => return self.stopped(st, started, None, ReconcileError::Node(msg)),
        };
        let mut resources = plan::Resources::from(&loaded);
        resources.passwords = Some(secrets::from_dir(&self.cfg.secrets_dir, loaded.objects().password_refs()));
        self.apply(st, resources, node, started).await
    }

    /// One reconcile of inputs given by the caller (the Kubernetes controller) instead of
    /// files; otherwise the same steps as [`Agent::reconcile`].
    pub async fn reconcile_with(&mut self, input: Input) -> NodeStatus {
        let started = Instant::now();
        self.reconciles += 1;
        let st = NodeStatus { reconciles: self.reconciles, applied_revision: input.revision, ..NodeStatus::default() };
        self.apply(st, input.resources, input.node, started).await
    }

    /// Records a reconcile that could not start (e.g. the node has no index yet): nothing is
    /// applied, and the status says why.
    pub fn report_input_error(&mut self, revision: String, node: &str, message: &str) -> NodeStatus {
        let started = Instant::now();
        self.reconciles += 1;
        let st = NodeStatus {
            node: node.to_string(),
            reconciles: self.reconciles,
            applied_revision: revision,
            ..NodeStatus::default()
        };
        self.stopped(st, started, None, ReconcileError::Node(message.to_string()))
    }

    /// Plans `resources` for `node` and applies the plan: router namespace, FRR, kernel.
    async fn apply(
        &mut self,
        mut st: NodeStatus,
        mut resources: plan::Resources,
        node: plan::Node,
        started: Instant,
    ) -> NodeStatus {
        st.node = node.name.clone();
        st.node_index = node.index;
        resources.incumbents = self.incumbents.clone();
        let plan = plan::plan_node(&resources, &node, &self.cfg.plan);
        st.failed_resources = plan.failed_resources.clone();
        st.applied = plan.applied.clone();
        let (Some(frr_config), Some(kernel)) = (plan.frr.clone(), plan.kernel.clone()) else {
            st.frr.skipped = true;
            st.kernel.skipped = true;
            st.conditions = status::conditions(Some(plan.verdict), &st.failed_resources, None);
            return self.finish(st, started, false);
        };

        // The router namespace: name it again or create it when missing, notice when it was
        // replaced.
        let kernel_enabled = self.cfg.kernel == KernelMode::Netlink;
        if !kernel_enabled {
            tracing::debug!("kernel step disabled: router namespace and kernel objects not touched");
        } else if let Err(e) = self.ensure_router_ns() {
            let error = ReconcileError::Namespace { netns: self.cfg.router_netns.clone(), message: e.to_string() };
            return self.stopped(st, started, Some(plan.verdict), error);
        }
        // The namespace's identity (its inode) right after `ensure`: a namespace deleted and
        // made again has another one. (A namespace held open by FRR or the datapath cannot be
        // destroyed, so its inode number cannot be reused by the new one.)
        let inode = if kernel_enabled { netns_inode(&self.cfg.router_netns) } else { None };
        let netns_changed = match (self.netns_inode, inode) {
            (Some(before), Some(now)) => before != now,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if inode.is_some() {
            self.netns_inode = inode;
        }
        if netns_changed {
            self.datapath = None;
            self.frr_restart_pending = true;
            // Not Ready while FRR restarts and the kernel state is rebuilt (seconds), rather than
            // the last reconcile's Ready until this one ends.
            let why = "the router namespace was replaced: FRR restarts and the kernel state is rebuilt in the new one";
            self.publish(|s| s.conditions = status::rebuilding(why));
        }

        // FRR first (bgpd must know an EVPN instance before its VXLAN device appears), then the
        // kernel, skipped when FRR failed. When the router namespace was made again, FRR still
        // holds the old one, and with it the NICs moved there: when this agent may restart FRR
        // (its own, or a unit the operator named), FRR is restarted in the new namespace (it
        // boots from its last configuration file, so it knows its VNIs) while the kernel state
        // is built there once the NICs are back, then configured.
        let restarting =
            if netns_changed && kernel_enabled { self.restart_frr_for_new_namespace(&kernel).await } else { None };
        let hard_error = if let Some(starting) = restarting {
            // FRR starts (from its last configuration file) while the kernel state is built:
            // starting it is the slowest part of the recovery.
            let kernel_error = self.kernel_step(&mut st, &plan, kernel).await;
            match starting.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("starting FRR in the new router namespace: {e}"),
                Err(e) => tracing::warn!("starting FRR in the new router namespace: {e}"),
            }
            let frr_error = self.frr_step(&mut st, &plan, &frr_config, &node.name).await;
            kernel_error.or(frr_error)
        } else {
            let frr_error = self.frr_step(&mut st, &plan, &frr_config, &node.name).await;
            if frr_error.is_none() && kernel_enabled {
                self.kernel_step(&mut st, &plan, kernel).await
            } else {
                st.kernel.skipped = true;
                frr_error
            }
        };
        let verdict = match plan.verdict {
            plan::Verdict::ConfigurationSuccessful if !st.failed_resources.is_empty() => {
                plan::Verdict::ConfigurationFailed
            }
            v => v,
        };
        let hard_text = hard_error.as_ref().map(ToString::to_string);
        st.conditions = status::conditions(Some(verdict), &st.failed_resources, hard_text.as_deref());
        if let Some(kernel) = &plan.kernel {
            st.vnis = status::vnis_of(kernel, &frr_config, &st.failed_resources);
        }
        if hard_error.is_none() {
            let applied: incumbents::Incumbents = st.applied.iter().map(|a| (a.kind, a.name.clone())).collect();
            if applied != self.incumbents {
                incumbents::save(self.cfg.state_file.as_deref(), &applied);
                self.incumbents = applied;
            }
        }
        st.error = hard_error;
        self.finish(st, started, true)
    }

    /// Ends a reconcile that `error` stopped before anything was applied.
    fn stopped(
        &self,
        mut st: NodeStatus,
        started: Instant,
        verdict: Option<plan::Verdict>,
        error: ReconcileError,
    ) -> NodeStatus {
        st.conditions = status::conditions(verdict, &st.failed_resources, Some(&error.to_string()));
        st.error = Some(error);
        self.finish(st, started, false)
    }

    /// Records the status and the metrics of a reconcile (`ok`: it applied a plan without a
    /// step failing).
    fn finish(&self, mut st: NodeStatus, started: Instant, ok: bool) -> NodeStatus {
        st.last_reconcile = now_rfc3339();
        st.input_error = st.error.as_ref().filter(|e| e.is_input()).map(ToString::to_string);
        let ok = ok && st.error.is_none();
        self.metrics.reconcile(ok, started.elapsed().as_secs_f64(), st.failed_resources.len(), st.ready());
        self.publish(|s| *s = st.clone());
        // A reconcile reads the whole kernel and FRR state (thousands of links at scale): what
        // it freed goes back to the system instead of staying in the allocator's free lists.
        kernel::procs::release_free_memory();
        st
    }

    /// Changes the status the endpoints serve.
    fn publish(&self, change: impl FnOnce(&mut NodeStatus)) {
        match self.status.write() {
            Ok(mut s) => change(&mut s),
            Err(e) => change(&mut e.into_inner()),
        }
    }

    /// Reconciles until `shutdown` resolves: on input changes (debounced), FRR restarts, and
    /// every `resync`.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut fingerprint = source::fingerprint(&self.cfg.inputs);
        let mut failures: u32 = 0;
        loop {
            let st = self.reconcile().await;
            log_summary(&st);
            // A restart of the managed FRR's daemons (they come back without our configuration).
            let watcher = self.frr_instance().map(|i| i.watch_restarts(Duration::from_millis(500)));
            let restarted = async move {
                match watcher {
                    Some(mut w) => w.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(restarted);
            // A step that failed (FRR, kernel, unreadable input), or kernel objects that could not
            // be made, are retried soon, backing off.
            failures = if st.retry_soon() { failures.saturating_add(1) } else { 0 };
            let wait = if failures == 0 {
                self.cfg.resync
            } else {
                self.cfg.resync.min(Duration::from_secs(1u64 << failures.min(5)))
            };
            let resync = tokio::time::sleep(wait);
            tokio::pin!(resync);
            let mut poll = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = &mut resync => break,
                    restart = &mut restarted => {
                        tracing::warn!(daemons = ?restart.daemons, "FRR restarted: re-applying");
                        break;
                    }
                    _ = poll.tick() => {
                        // The router namespace's name deleted (give it back) or given to another
                        // namespace (rebuild): now rather than at the next resync.
                        if self.cfg.kernel == KernelMode::Netlink
                            && self.netns_inode.is_some()
                            && netns_inode(&self.cfg.router_netns) != self.netns_inode
                        {
                            tracing::warn!(netns = %self.cfg.router_netns, "the router namespace's name is gone or was given to another namespace: reconciling now");
                            break;
                        }
                        let now = source::fingerprint(&self.cfg.inputs);
                        if now != fingerprint {
                            tokio::time::sleep(self.cfg.debounce).await;
                            fingerprint = source::fingerprint(&self.cfg.inputs);
                            tracing::info!("configuration changed: reconciling");
                            break;
                        }
                    }
                }
            }
        }
    }
}

impl Agent {
    /// Opens the router namespace, creating it when missing. A name deleted while the namespace
    /// lives on (this agent holds it, FRR runs in it) is given back to it: FRR, the NICs, the
    /// sessions and every kernel object are still there and still forwarding, so nothing is
    /// rebuilt and no packet is lost.
    fn ensure_router_ns(&mut self) -> Result<(), kernel::NetnsError> {
        let name = &self.cfg.router_netns;
        if NetNs::exists(name) {
            self.router_ns = Some(NetNs::open(name)?);
            return Ok(());
        }
        // An agent started after the name was deleted holds nothing: the managed FRR it finds
        // running still lives in the namespace.
        let held = self.router_ns.take().or_else(|| self.managed_frr_netns());
        if let Some(held) = held {
            match held.attach(name) {
                Ok(_) => {
                    self.metrics.router_netns_renamed();
                    tracing::warn!(netns = %name, "the router namespace's name was deleted while the namespace lived on: named it again, nothing to rebuild");
                }
                Err(e) => {
                    tracing::warn!(netns = %name, "cannot name the router namespace again ({e}): making a new one")
                }
            }
        }
        self.router_ns = Some(NetNs::ensure(name)?);
        Ok(())
    }

    /// The namespace the managed FRR's zebra runs in, unless it is this agent's own.
    fn managed_frr_netns(&self) -> Option<NetNs> {
        let Some(frr::instance::DaemonState::Running { pid }) = self.frr_instance()?.status().state("zebra") else {
            return None;
        };
        let ns = NetNs::open_path(format!("/proc/{pid}/ns/net")).ok()?;
        let own = NetNs::current().ok()?;
        (!ns.same_as(&own)).then_some(ns)
    }
}

/// Marks the RawFRRConfigs whose snippets FRR refused (`(index in frr.raw, why)`) as failed:
/// the rest of the configuration was applied without them.
fn refuse_snippets(st: &mut NodeStatus, raw_names: &[String], refused: &[(usize, String)]) {
    for (index, why) in refused {
        let Some(name) = raw_names.get(*index) else { continue };
        st.applied.retain(|a| !(a.kind == ResourceKind::RawFRRConfig && &a.name == name));
        let mut message = why.clone();
        if message.chars().count() > 480 {
            message = format!("{}…", message.chars().take(480).collect::<String>());
        }
        tracing::warn!(raw_frr_config = %name, %message, "FRR refused a RawFRRConfig: applied the rest without it");
        st.failed_resources.push(FailedResource::new(
            ResourceKind::RawFRRConfig,
            name,
            FailureReason::ValidationFailed,
            message,
        ));
    }
}

/// Logs one line per reconcile and one per failed resource.
pub fn log_summary(st: &NodeStatus) {
    let ready = st.conditions.first().map(|c| format!("{}={} ({})", c.kind, c.status, c.reason)).unwrap_or_default();
    tracing::info!(
        node = %st.node,
        revision = %st.applied_revision,
        frr_added = st.frr.lines_added,
        frr_removed = st.frr.lines_removed,
        kernel_writes = st.kernel.writes,
        "reconcile #{}: {ready}",
        st.reconciles
    );
    for f in &st.failed_resources {
        tracing::warn!("{f}");
    }
    if let Some(c) = st.conditions.iter().find(|c| c.kind == "Ready" && c.status != "True")
        && st.failed_resources.is_empty()
        && st.input_error.is_none()
    {
        tracing::error!("{}: {}", c.reason, c.message);
    }
    if let Some(e) = &st.input_error {
        tracing::error!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
        assert!(s.starts_with("20"), "{s}");
    }
}
