//! The node agent: one reconcile loop shared by host mode and (later) the Kubernetes controller.
//!
//! A reconcile: read the inputs → plan for this node → make sure the router namespace exists →
//! apply FRR (first: bgpd must know an EVPN instance before its VXLAN device appears) → apply
//! the kernel state → record the status. It is triggered by input changes (debounced), by an
//! FRR restart, and periodically to repair drift. Each step is a diff against the live state,
//! so a reconcile of an unchanged configuration changes nothing.
//!
//! When the router namespace was deleted and created again, FRR is still running in the old
//! one: a managed FRR is restarted into the new namespace, and the kernel state is rebuilt.

pub mod identity;
pub mod metrics;
pub mod server;
pub mod source;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use api::{FailedResource, FailureReason, ResourceKind};
use dataplane::Datapath;
use frr::target::Target;
use frr::{Instance, InstanceSpec, NetnsRef};
use kernel::NetNs;

pub use identity::{NodeIdentity, WithoutIndex, hostname};
pub use metrics::Metrics;
pub use status::NodeStatus;

/// How the agent talks to FRR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrrMode {
    /// The agent runs FRR (zebra, bgpd, staticd, bfdd under watchfrr) in the router namespace,
    /// with its files in `run_dir` and `config_dir`.
    Managed {
        /// Sockets and pid files.
        run_dir: PathBuf,
        /// `frr.conf` and friends.
        config_dir: PathBuf,
        /// Hostname of FRR's own UTS namespace (None: the host's hostname).
        hostname: Option<String>,
    },
    /// FRR runs elsewhere as Debian's pathspace instance `frr@NAME` (`/etc/frr/NAME`,
    /// `/var/run/frr/NAME`); the agent only applies configurations to it.
    Pathspace(String),
    /// FRR runs in another container (the router pod in Kubernetes): the agent renders the
    /// configuration, writes it to `config_path` (mode 0600) and asks the reloader sidecar on
    /// its unix `socket` to apply it.
    Reloader {
        /// The reloader's unix socket.
        socket: PathBuf,
        /// The configuration file shared with the reloader.
        config_path: PathBuf,
        /// The hostname FRR prints (None: this host's UTS hostname, which FRR shares when it
        /// runs with the host's UTS namespace, as the router pod does).
        hostname: Option<String>,
    },
    /// FRR is not touched: only the kernel state is applied.
    None,
}

/// How the agent applies the kernel state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelMode {
    /// Create the router namespace and apply the kernel objects with netlink (needs root).
    #[default]
    Netlink,
    /// Skip the router namespace and the kernel objects (tests of the other steps without
    /// root; the status reports the kernel step as skipped).
    Skip,
}

/// The inputs of one reconcile when they come from elsewhere than files (the Kubernetes
/// controller's reflectors): the resources, the node, and the revision they represent.
#[derive(Debug, Clone)]
pub struct Input {
    /// The resources (all of them: planning selects the node's own).
    pub resources: plan::Resources,
    /// The node.
    pub node: plan::Node,
    /// An identifier of these inputs, shown as `appliedRevision`.
    pub revision: String,
}

/// Settings of an agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Files or directories with static files and/or manifests.
    pub inputs: Vec<PathBuf>,
    /// Node identity overrides.
    pub node: NodeIdentity,
    /// Name of the router namespace (`/run/netns/<name>`).
    pub router_netns: String,
    /// Path of the host namespace (None: the agent's own).
    pub host_netns: Option<PathBuf>,
    /// FRR handling.
    pub frr: FrrMode,
    /// Kernel handling.
    pub kernel: KernelMode,
    /// Periodic drift repair.
    pub resync: Duration,
    /// Quiet time after an input change before reconciling.
    pub debounce: Duration,
    /// Planner options.
    pub plan: plan::Options,
    /// File remembering which resources were applied, so that after a restart the resources
    /// already serving keep winning conflicts against newcomers.
    pub state_file: Option<PathBuf>,
}

impl AgentConfig {
    /// Defaults for a router namespace and inputs.
    pub fn new(inputs: Vec<PathBuf>, router_netns: impl Into<String>) -> AgentConfig {
        AgentConfig {
            inputs,
            node: NodeIdentity::default(),
            router_netns: router_netns.into(),
            host_netns: None,
            frr: FrrMode::None,
            kernel: KernelMode::Netlink,
            resync: Duration::from_secs(30),
            debounce: Duration::from_millis(500),
            plan: plan::Options::default(),
            state_file: None,
        }
    }
}

/// An error that stops the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The FRR instance could not be started.
    #[error("starting FRR in namespace {netns}: {message}")]
    Frr {
        /// The namespace.
        netns: String,
        /// What failed.
        message: String,
    },
}

/// The agent.
pub struct Agent {
    cfg: AgentConfig,
    /// Where the FRR configuration goes (`None`: FRR is not touched).
    frr: Option<Target>,
    datapath: Option<Datapath>,
    netns_inode: Option<u64>,
    /// The router namespace was made again and FRR still runs in the old one: restart it
    /// (kept until a restart succeeds).
    frr_restart_pending: bool,
    status: Arc<RwLock<NodeStatus>>,
    metrics: Arc<Metrics>,
    reconciles: u64,
    /// Resources applied by the last reconcile: they win conflicts with newcomers.
    incumbents: BTreeSet<(ResourceKind, String)>,
}

fn now_rfc3339() -> String {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn load_incumbents(path: Option<&std::path::Path>) -> BTreeSet<(ResourceKind, String)> {
    let Some(path) = path else { return BTreeSet::new() };
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeSet::new() };
    match serde_json::from_str::<Vec<(ResourceKind, String)>>(&text) {
        Ok(list) => list.into_iter().collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring unreadable state file: {e}");
            BTreeSet::new()
        }
    }
}

fn save_incumbents(path: Option<&std::path::Path>, incumbents: &BTreeSet<(ResourceKind, String)>) {
    let Some(path) = path else { return };
    let list: Vec<&(ResourceKind, String)> = incumbents.iter().collect();
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&list).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::warn!(path = %path.display(), "cannot record the applied resources: {e}");
    }
}

fn netns_inode(name: &str) -> Option<u64> {
    std::fs::metadata(NetNs::path_of(name)).ok().map(|m| m.ino())
}

impl Agent {
    /// Prepares an agent (nothing is touched until the first reconcile).
    pub fn new(cfg: AgentConfig) -> Agent {
        let cfg_state_file = cfg.state_file.clone();
        let frr = match &cfg.frr {
            FrrMode::Managed { run_dir, config_dir, hostname } => {
                let mut spec = InstanceSpec::private(
                    &cfg.router_netns,
                    NetnsRef::Name(cfg.router_netns.clone()),
                    run_dir,
                    config_dir,
                );
                spec.hostname = hostname.clone();
                // Keep the routes zebra installed for 60 s after a zebra restart, so that
                // forwarding goes on while BGP (graceful restart) relearns them.
                spec.daemon_args.entry("zebra".into()).or_default().extend(["-K".to_string(), "60".to_string()]);
                Some(Target::managed(Instance::new(spec)))
            }
            FrrMode::Pathspace(name) => Some(Target::external(Instance::new(InstanceSpec::pathspace(
                name,
                NetnsRef::Name(cfg.router_netns.clone()),
            )))),
            FrrMode::Reloader { socket, config_path, hostname: fixed } => {
                Some(Target::reloader(socket.clone(), config_path.clone(), fixed.clone().unwrap_or_else(hostname)))
            }
            FrrMode::None => None,
        };
        Agent {
            cfg,
            frr,
            datapath: None,
            netns_inode: None,
            frr_restart_pending: false,
            status: Arc::new(RwLock::new(NodeStatus::default())),
            metrics: Arc::new(Metrics::default()),
            reconciles: 0,
            incumbents: load_incumbents(cfg_state_file.as_deref()),
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

    fn node(&self, loaded: &api::load::Loaded) -> Result<plan::Node, String> {
        self.cfg.node.resolve(loaded, WithoutIndex::Refuse)
    }

    /// One reconcile of the files in [`AgentConfig::inputs`]. Never panics on bad input:
    /// everything ends up in the returned status.
    pub async fn reconcile(&mut self) -> NodeStatus {
        let started = Instant::now();
        self.reconciles += 1;
        let mut st = NodeStatus {
            reconciles: self.reconciles,
            applied_revision: source::digest(&self.cfg.inputs),
            ..NodeStatus::default()
        };

        let loaded = match source::load(&self.cfg.inputs) {
            Ok(l) => l,
            Err(e) => {
                let msg = format!("configuration not readable, nothing changed: {e}");
                tracing::error!("{msg}");
                st.input_error = Some(msg.clone());
                st.conditions = status::conditions(None, &[], Some(&msg));
                return self.finish(st, started, false);
            }
        };
        let node = match self.node(&loaded) {
            Ok(n) => n,
            Err(msg) => {
                st.input_error = Some(msg.clone());
                st.conditions = status::conditions(None, &[], Some(&msg));
                return self.finish(st, started, false);
            }
        };
        self.apply(st, plan::Resources::from(&loaded), node, started).await
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
            input_error: Some(message.to_string()),
            conditions: status::conditions(None, &[], Some(message)),
            ..NodeStatus::default()
        };
        self.finish(st, started, false)
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

        // The router namespace: create it when missing, notice when it was recreated.
        let kernel_enabled = self.cfg.kernel == KernelMode::Netlink;
        if !kernel_enabled {
            tracing::debug!("kernel step disabled: router namespace and kernel objects not touched");
        } else if let Err(e) = NetNs::ensure(&self.cfg.router_netns) {
            let msg = format!("router namespace {}: {e}", self.cfg.router_netns);
            st.conditions = status::conditions(Some(plan.verdict), &st.failed_resources, Some(&msg));
            return self.finish(st, started, false);
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
        }

        // FRR first.
        let mut hard_error: Option<String> = None;
        if let Some(target) = self.frr.as_mut() {
            let frr_started = Instant::now();
            let restart = self.frr_restart_pending;
            if restart && target.managed_instance().is_some() {
                tracing::warn!(netns = %self.cfg.router_netns, "router namespace was recreated: restarting FRR into it");
            }
            let applied = match target.ensure_running(restart).await {
                Ok(()) => {
                    self.frr_restart_pending = false;
                    target.apply(&frr_config).await
                }
                Err(e) => Err(e),
            };
            match applied {
                Ok(a) => {
                    refuse_snippets(&mut st, &plan.raw_names, &a.rejected_snippets);
                    st.frr = status::FrrOutcome {
                        lines_added: a.lines_added,
                        lines_removed: a.lines_removed,
                        reloaded: a.reloaded,
                        duration_ms: a.duration.as_millis() as u64,
                        error: None,
                        skipped: false,
                    };
                    self.metrics.frr_apply(true, frr_started.elapsed().as_secs_f64(), a.lines_added, a.lines_removed);
                }
                Err(msg) => hard_error = Some(self.frr_failed(&mut st, &node.name, msg, frr_started)),
            }
        } else {
            st.frr.skipped = true;
        }

        // Then the kernel (skipped when FRR failed: a VXLAN device must not appear before FRR
        // knows its VNI).
        if hard_error.is_none() && !kernel_enabled {
            st.kernel.skipped = true;
        } else if hard_error.is_none() {
            let kernel_started = Instant::now();
            match self.kernel(kernel).await {
                Ok(report) => {
                    st.kernel = status::KernelOutcome {
                        operations: report.ops.len(),
                        writes: report.writes,
                        failures: report.failures.len(),
                        duration_ms: kernel_started.elapsed().as_millis() as u64,
                        skipped: false,
                    };
                    self.metrics.kernel_apply(report.writes, report.failures.len());
                    for f in &report.failures {
                        tracing::warn!(object = %f.object, side = %f.side, "kernel: {}", f.message);
                    }
                    st.failed_resources.extend(status::kernel_failures(&report));
                    if let Some(desired) = &plan.kernel {
                        self.settle_addresses(desired, &report).await;
                    }
                }
                Err(e) => hard_error = Some(format!("kernel state: {e}")),
            }
        } else {
            st.kernel.skipped = true;
        }
        let verdict = match plan.verdict {
            plan::Verdict::ConfigurationSuccessful if !st.failed_resources.is_empty() => {
                plan::Verdict::ConfigurationFailed
            }
            v => v,
        };
        st.conditions = status::conditions(Some(verdict), &st.failed_resources, hard_error.as_deref());
        if let Some(kernel) = &plan.kernel {
            st.vnis = status::vnis_of(kernel, &frr_config, &st.failed_resources);
        }
        let ok = hard_error.is_none();
        if ok {
            let incumbents: BTreeSet<(ResourceKind, String)> =
                st.applied.iter().map(|a| (a.kind, a.name.clone())).collect();
            if incumbents != self.incumbents {
                save_incumbents(self.cfg.state_file.as_deref(), &incumbents);
                self.incumbents = incumbents;
            }
        }
        self.finish(st, started, ok)
    }

    /// Records a failed FRR apply (status, outcome, metrics) and returns the message.
    fn frr_failed(&self, st: &mut NodeStatus, node: &str, msg: String, started: Instant) -> String {
        st.frr.error = Some(msg.clone());
        st.failed_resources.push(FailedResource::new(
            ResourceKind::FrrConfiguration,
            node,
            FailureReason::FrrConfigurationFailed,
            &msg,
        ));
        self.metrics.frr_apply(false, started.elapsed().as_secs_f64(), 0, 0);
        msg
    }

    async fn kernel(&mut self, desired: dataplane::HostNetwork) -> Result<dataplane::Report, String> {
        let mut datapath = match self.datapath.take() {
            Some(d) => d,
            None => {
                let router = NetNs::open(&self.cfg.router_netns).map_err(|e| e.to_string())?;
                let host = match &self.cfg.host_netns {
                    Some(p) => NetNs::open_path(p),
                    None => NetNs::current(),
                }
                .map_err(|e| e.to_string())?;
                Datapath::new(router, host).map_err(|e| e.to_string())?
            }
        };
        let (datapath, result) = tokio::task::spawn_blocking(move || {
            let r = datapath.reconcile(&desired);
            (datapath, r)
        })
        .await
        .map_err(|e| format!("kernel task: {e}"))?;
        self.datapath = Some(datapath);
        result.map_err(|e| e.to_string())
    }

    /// Makes sure FRR learned the interface addresses the plan puts in place. FRR 8.4's zebra
    /// drops an address announced before it has processed the creation of its interface (see
    /// [`Datapath::announce_addresses`]), and a BGP session over that interface then waits for
    /// a next hop forever.
    ///
    /// * Router side, when this agent talks to FRR: zebra's interfaces are compared with the
    ///   planned router-side addresses; the missing ones are announced again until zebra holds
    ///   them all (a few seconds at most, then a warning: the next reconcile tries again).
    /// * Host side: the addresses this reconcile added are announced once more a second after
    ///   they were made, for a host BGP speaker with the same race (it cannot be asked).
    async fn settle_addresses(&mut self, desired: &dataplane::HostNetwork, report: &dataplane::Report) {
        use dataplane::{Action, Side, is_link_local};
        let done = Instant::now();
        let Some(datapath) = self.datapath.as_mut() else { return };
        let mut announced = 0usize;
        if let Some(vtysh) = self.frr.as_ref().and_then(Target::vtysh) {
            let wanted: Vec<(&str, Vec<ipnet::IpNet>)> = desired
                .links_in(Side::Router)
                .map(|l| {
                    let addrs = l.addresses.iter().copied().filter(|a| !is_link_local(a)).collect::<Vec<_>>();
                    (l.name.as_str(), addrs)
                })
                .filter(|(_, a)| !a.is_empty())
                .collect();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let known = match frr::state::interfaces(&vtysh).await {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::debug!("cannot read zebra's interfaces: {e}");
                        break;
                    }
                };
                let mut missing = Vec::new();
                let mut unknown = Vec::new();
                for (name, addrs) in &wanted {
                    match known.iter().find(|i| i.name == *name) {
                        Some(i) => {
                            let lacking: Vec<ipnet::IpNet> =
                                addrs.iter().copied().filter(|a| !i.addresses.contains(a)).collect();
                            if !lacking.is_empty() {
                                missing.push((*name, lacking));
                            }
                        }
                        // Not in the kernel either (its creation failed, reported already):
                        // nothing to wait for.
                        None if !datapath.has_link(Side::Router, name).unwrap_or(false) => {}
                        None => unknown.push(*name),
                    }
                }
                if missing.is_empty() && unknown.is_empty() {
                    break;
                }
                if Instant::now() > deadline {
                    let what: Vec<String> = missing
                        .iter()
                        .map(|(n, a)| format!("{n} {a:?}"))
                        .chain(unknown.iter().map(|n| format!("{n} (interface unknown)")))
                        .collect();
                    tracing::warn!(
                        "FRR still lacks interface addresses after announcing them again: {}",
                        what.join(", ")
                    );
                    break;
                }
                // Addresses of an interface zebra has not learned yet would be dropped again:
                // only those of known interfaces are announced.
                for (name, addrs) in &missing {
                    match datapath.announce_addresses(Side::Router, name, addrs) {
                        Ok(n) => {
                            announced += n;
                            tracing::warn!(link = %name, addresses = ?addrs, "FRR missed these addresses: announced them again");
                        }
                        Err(e) => tracing::debug!(link = %name, "cannot announce addresses: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        // The host-side addresses this reconcile added, per link.
        let mut host_added: BTreeMap<&str, Vec<ipnet::IpNet>> = BTreeMap::new();
        for op in report.ops.iter().filter(|op| op.side == Side::Host) {
            if let Action::AddAddress { link, address } = &op.action {
                host_added.entry(link.as_str()).or_default().push(*address);
            }
        }
        if !host_added.is_empty() {
            let settle = Duration::from_secs(1).saturating_sub(done.elapsed());
            tokio::time::sleep(settle).await;
            for (link, addresses) in host_added {
                match datapath.announce_addresses(Side::Host, link, &addresses) {
                    Ok(_) => tracing::debug!(%link, ?addresses, "host addresses announced again"),
                    Err(e) => tracing::debug!(%link, "cannot announce {addresses:?}: {e}"),
                }
            }
        }
        if announced > 0 {
            self.metrics.addresses_announced(announced);
        }
    }

    fn finish(&self, mut st: NodeStatus, started: Instant, ok: bool) -> NodeStatus {
        st.last_reconcile = now_rfc3339();
        let ok = ok && st.input_error.is_none();
        self.metrics.reconcile(ok, started.elapsed().as_secs_f64(), st.failed_resources.len(), st.ready());
        match self.status.write() {
            Ok(mut s) => *s = st.clone(),
            Err(e) => *e.into_inner() = st.clone(),
        }
        st
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
            // A step that failed (FRR, kernel, unreadable input) is retried soon, backing off.
            let hard_failure = st.frr.error.is_some()
                || st
                    .conditions
                    .iter()
                    .any(|c| c.kind == "Ready" && c.status != "True" && st.failed_resources.is_empty());
            failures = if hard_failure { failures.saturating_add(1) } else { 0 };
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
