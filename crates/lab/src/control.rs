//! The fabric lab's life cycle: [`up`] builds the [`Topology`] (namespaces and links with
//! netlink, one FRR instance per routing namespace, started in parallel) and waits for every
//! fabric BGP session; [`status`] reads it back; [`down`] removes everything it made.
//!
//! # What a lab owns
//!
//! * the namespaces of its topology (`<prefix>-spine`, `<prefix>-leafA`, …, `<prefix>-node<i>`,
//!   `<prefix>-node<i>-pe`), with every link and address inside them;
//! * its run directory `<run root>/<prefix>` ([`DEFAULT_RUN_ROOT`] is `/run/openperouter-lab`:
//!   a tmpfs, gone at reboot like the namespaces; inside the VM it is the guest's own `/run`),
//!   holding `lab.conf` (the lab's settings, written before anything is built) and one directory
//!   per FRR instance (`<short>/run`: pid files, sockets, logs; `<short>/etc`: `frr.conf`);
//! * the FRR processes started from those directories (found by pid file and by a `/proc` scan
//!   for command lines naming the run directory).
//!
//! [`down`] removes exactly those, whatever state `up` left them in, and is idempotent. Nothing
//! else on the machine is touched.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use frr::instance::{DaemonState, Instance, InstanceSpec, NetnsRef, start_all, stop_all};
use frr::state::BgpNeighbor;

use crate::build::{self, BuildError};
use crate::fabric::{LabSpec, Role, Topology, is_pe_peer};
use crate::speaker::{Speaker, SpeakerKind};
use kernel::NetNs;

/// Where lab run directories live by default.
pub const DEFAULT_RUN_ROOT: &str = "/run/openperouter-lab";
const CONF_FILE: &str = "lab.conf";
/// The daemons of a lab router (watchfrr on top; the ToR adds bfdd): each daemon costs about
/// 0.5 s to start under the VM's TCG emulation, and the fabric needs no static routes.
const LAB_DAEMONS: &[&str] = &["zebra", "bgpd"];

/// What `up`, `status` and `down` work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Prefix, node count, VRFs.
    pub spec: LabSpec,
    /// Parent of the lab's run directory.
    pub run_root: PathBuf,
    /// How long [`up`] waits for every fabric session to be Established.
    pub wait_timeout: Duration,
    /// PE routers: one node agent per node filling the router namespace (None: left empty).
    pub pe: Option<crate::pe::PeOptions>,
    /// This `openperouter` program, which runs the route installer of GoBGP nodes (falls back
    /// to the PE options' program).
    pub program: Option<PathBuf>,
    /// Make [`up`] fail once FRR runs (tests its cleanup).
    #[doc(hidden)]
    pub fail_after_start: bool,
}

impl LabOptions {
    /// Options for a lab with default run root and timeout.
    pub fn new(spec: LabSpec) -> Self {
        LabOptions {
            spec,
            run_root: PathBuf::from(DEFAULT_RUN_ROOT),
            wait_timeout: Duration::from_secs(90),
            pe: None,
            program: None,
            fail_after_start: false,
        }
    }

    /// The lab's run directory.
    pub fn dir(&self) -> PathBuf {
        self.run_root.join(&self.spec.prefix)
    }
}

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab name {0:?} is invalid: use 1 to 12 ASCII letters and digits, starting with a letter")]
    BadName(String),
    #[error("a lab named {name} already exists ({what}); remove it with `openperouter lab down --name {name}`")]
    Exists { name: String, what: String },
    #[error("no lab named {0} (no {1})")]
    NotFound(String, String),
    #[error(
        "this kernel ({release}) cannot create VRF devices, which the leaves' tenant VRFs need.\n  \
         Run the lab in a VM with a stock kernel: openperouter lab up --vm\n  \
         or without tenant VRFs on this kernel:   openperouter lab up --no-vrf"
    )]
    NoVrf { release: String },
    #[error("{0}")]
    Prerequisite(String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Frr(#[from] frr::instance::InstanceError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fabric sessions not Established after {waited:?}:\n{pending}")]
    NotEstablished { waited: Duration, pending: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("failure injected after FRR started (LabOptions::fail_after_start)")]
    Injected,
    #[error("PE: {0}")]
    Pe(String),
    #[error("node speaker: {0}")]
    Speaker(String),
    #[error("cleanup left things behind: {0}")]
    Leftovers(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LabError {
    let path = path.to_path_buf();
    move |source| LabError::Io { what, path, source }
}

/// Checks a lab name (it prefixes namespace names, so it stays short and plain).
pub fn check_name(name: &str) -> Result<(), LabError> {
    let ok = !name.is_empty()
        && name.len() <= 12
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if ok { Ok(()) } else { Err(LabError::BadName(name.to_string())) }
}

/// A lab that [`up`] built (or that [`Lab::open`] found).
#[derive(Debug, Clone)]
pub struct Lab {
    /// The options it was built with (node count and VRFs from its `lab.conf`).
    pub options: LabOptions,
    /// Its topology.
    pub topology: Topology,
    /// Whether node agents run the PEs (from `lab.conf`: `pe yes`).
    pub with_pe: bool,
}

impl Lab {
    /// Node `index`'s BGP speaker.
    pub fn speaker(&self, index: u32) -> Speaker {
        Speaker::new(&self.options.spec, &self.options.dir(), index, self.instance(&format!("node{index}")))
    }

    fn from_options(options: LabOptions) -> Lab {
        Lab { topology: Topology::new(&options.spec), with_pe: options.pe.is_some(), options }
    }

    /// The lab named `prefix` under `run_root`, from its `lab.conf`.
    pub fn open(prefix: &str, run_root: &Path) -> Result<Lab, LabError> {
        check_name(prefix)?;
        let dir = run_root.join(prefix);
        let conf = dir.join(CONF_FILE);
        let text = std::fs::read_to_string(&conf)
            .map_err(|_| LabError::NotFound(prefix.to_string(), conf.display().to_string()))?;
        let mut spec = LabSpec { prefix: prefix.to_string(), ..LabSpec::default() };
        let mut with_pe = false;
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("nodes", n)) => spec.nodes = n.trim().parse().unwrap_or(spec.nodes),
                Some(("vrf", v)) => spec.vrf = v.trim() == "yes",
                Some(("pe", v)) => with_pe = v.trim() == "yes",
                Some(("speakers", v)) => {
                    spec.speakers = crate::speaker::parse_list(v.trim(), spec.nodes).unwrap_or_default();
                }
                _ => {}
            }
        }
        let mut options = LabOptions::new(spec);
        options.run_root = run_root.to_path_buf();
        let mut lab = Lab::from_options(options);
        lab.with_pe = with_pe;
        Ok(lab)
    }

    /// The FRR instance of a routing namespace, by short name (`spine`, `leafA`, `tor`, `node0`).
    pub fn instance(&self, short: &str) -> Option<Instance> {
        let ns = self.topology.namespace(short)?;
        ns.frr.as_ref()?;
        let dir = self.options.dir().join(short);
        let mut spec =
            InstanceSpec::private(ns.name.clone(), NetnsRef::Name(ns.name.clone()), dir.join("run"), dir.join("etc"));
        spec.hostname = Some(short.to_string());
        // The lab's daemons, plus mgmtd where the installed FRR needs it (FRR ≥ 9: without it
        // zebra never gets the `vrf X / vni N` configuration, so L3 VNIs stay L2).
        spec.daemons.retain(|d| LAB_DAEMONS.contains(&d.as_str()) || d == "mgmtd");
        // Under the VM's emulation on a busy machine a daemon can take 10+ s to start.
        spec.start_timeout = Duration::from_secs(120);
        if ns.role == Role::Tor {
            // BFD towards the PEs is a fabric feature worth testing; nothing else needs bfdd.
            spec.daemons.push("bfdd".to_string());
        }
        Some(Instance::new(spec))
    }

    /// Every FRR instance, `(short name, instance)`, in topology order.
    pub fn instances(&self) -> Vec<(String, Instance)> {
        self.topology.namespaces.iter().filter_map(|n| Some((n.short.clone(), self.instance(&n.short)?))).collect()
    }

    /// The full namespace name of a short name.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.options.spec.prefix)
    }
}

/// Why the lab cannot run on this machine, if it cannot (root, FRR, tools).
pub fn missing_prerequisite() -> Option<String> {
    let probe = InstanceSpec::private("probe", NetnsRef::Name("probe".into()), "/run/probe", "/run/probe");
    frr::instance::missing_prerequisite(&InstanceSpec { netns: NetnsRef::Current, ..probe })
}

/// Whether this kernel can create VRF devices.
pub async fn kernel_has_vrf() -> Result<bool, LabError> {
    Ok(build::kernel_has_vrf()?)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Builds the lab, starts its FRR instances and waits until every fabric BGP session is
/// Established (see the module documentation). `progress` gets one line per step. On any failure
/// everything made so far is removed ([`down`]) before the error is returned. Call it on a
/// multi-threaded tokio runtime.
pub async fn up(options: &LabOptions, progress: &mut (dyn FnMut(&str) + Send)) -> Result<Lab, LabError> {
    check_name(&options.spec.prefix)?;
    if let Some(problem) = missing_prerequisite() {
        return Err(LabError::Prerequisite(problem));
    }
    let lab = Lab::from_options(options.clone());
    let dir = options.dir();
    if dir.exists() {
        return Err(LabError::Exists { name: options.spec.prefix.clone(), what: dir.display().to_string() });
    }
    if let Some(ns) = lab.topology.namespaces.iter().find(|n| NetNs::exists(&n.name)) {
        return Err(LabError::Exists { name: options.spec.prefix.clone(), what: format!("namespace {}", ns.name) });
    }
    if options.spec.vrf && !kernel_has_vrf().await? {
        return Err(LabError::NoVrf { release: kernel_release() });
    }
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let speakers: Vec<&str> = (0..options.spec.nodes).map(|i| options.spec.speaker(i).name()).collect();
    let conf = format!(
        "# openperouter lab {}\nnodes {}\nvrf {}\npe {}\nspeakers {}\n",
        options.spec.prefix,
        options.spec.nodes,
        if options.spec.vrf { "yes" } else { "no" },
        if options.pe.is_some() { "yes" } else { "no" },
        speakers.join(",")
    );
    let conf_path = dir.join(CONF_FILE);
    let result = match std::fs::write(&conf_path, conf).map_err(io("cannot write", &conf_path)) {
        Ok(()) => bring_up(&lab, progress).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(lab),
        Err(e) => {
            progress(&format!("failed ({e}); removing what was built"));
            let lab_for_down = lab.clone();
            let cleanup = tokio::task::spawn_blocking(move || down_lab(&lab_for_down)).await;
            match cleanup {
                Ok(Ok(_)) => {}
                Ok(Err(d)) => progress(&format!("cleanup: {d}")),
                Err(j) => progress(&format!("cleanup panicked: {j}")),
            }
            Err(e)
        }
    }
}

async fn bring_up(lab: &Lab, progress: &mut (dyn FnMut(&str) + Send)) -> Result<(), LabError> {
    let start = Instant::now();
    let topology = &lab.topology;
    let mut sockets = build::create_namespaces(topology, &|_| {})?;
    progress(&format!("{} namespaces created ({:.2} s)", topology.namespaces.len(), start.elapsed().as_secs_f64()));
    build::build_objects(topology, &mut sockets)?;
    drop(sockets);
    progress(&format!(
        "{} veth pairs, {} VRFs, {} bridges, {} VXLANs built ({:.2} s)",
        topology.veths.len(),
        topology.namespaces.iter().map(|n| n.vrfs.len()).sum::<usize>(),
        topology.namespaces.iter().map(|n| n.bridges.len()).sum::<usize>(),
        topology.namespaces.iter().map(|n| n.vxlans.len()).sum::<usize>(),
        start.elapsed().as_secs_f64()
    ));
    let instances = lab.instances();
    for (short, inst) in &instances {
        let conf = lab.topology.namespace(short).and_then(|n| n.frr.clone()).unwrap_or_default();
        let etc = &inst.spec().config_dir;
        std::fs::create_dir_all(etc).map_err(io("cannot create", etc))?;
        let path = inst.config_path();
        std::fs::write(&path, conf).map_err(io("cannot write", &path))?;
    }
    let to_start: Vec<Instance> = instances.iter().map(|(_, i)| i.clone()).collect();
    let results = tokio::task::spawn_blocking(move || {
        let refs: Vec<&Instance> = to_start.iter().collect();
        start_all(&refs)
    })
    .await
    .map_err(|e| BuildError::Join(e.to_string()))?;
    for r in results {
        r?;
    }
    progress(&format!("{} FRR instances started ({:.2} s)", instances.len(), start.elapsed().as_secs_f64()));
    let started = start_speakers(lab).await?;
    if !started.is_empty() {
        progress(&format!("node speakers started: {} ({:.2} s)", started.join(", "), start.elapsed().as_secs_f64()));
    }
    if lab.options.fail_after_start {
        return Err(LabError::Injected);
    }
    let waited = wait_established(lab, lab.options.wait_timeout).await?;
    progress(&format!(
        "every fabric BGP session Established ({:.2} s; waited {:.2} s for BGP)",
        start.elapsed().as_secs_f64(),
        waited.as_secs_f64()
    ));
    if let Some(pe) = &lab.options.pe {
        start_pes(lab, pe, start, progress).await?;
    }
    Ok(())
}

/// Starts the BIRD and GoBGP node speakers (FRR ones are FRR instances); `["node0 bird", …]`.
async fn start_speakers(lab: &Lab) -> Result<Vec<String>, LabError> {
    let program = lab.options.program.clone().or_else(|| lab.options.pe.as_ref().map(|p| p.program.clone()));
    let speakers: Vec<Speaker> = (0..lab.options.spec.nodes)
        .map(|i| lab.speaker(i))
        .filter(|s| s.kind != crate::speaker::SpeakerKind::Frr)
        .collect();
    let names = speakers.iter().map(|s| format!("node{} {}", s.index, s.kind)).collect();
    tokio::task::spawn_blocking(move || speakers.iter().try_for_each(|s| s.start(program.as_deref())))
        .await
        .map_err(|e| BuildError::Join(e.to_string()))?
        .map_err(|e| LabError::Speaker(e.to_string()))?;
    Ok(names)
}

/// Starts one agent per node, waits until each is Ready, attaches the L2 pods to the host
/// bridges the PEs made, and waits for every PE session (ToR and host speakers).
async fn start_pes(
    lab: &Lab,
    pe: &crate::pe::PeOptions,
    start: Instant,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), LabError> {
    let prefix = &lab.options.spec.prefix;
    let dir = lab.options.dir();
    let nodes = lab.options.spec.nodes;
    for i in 0..nodes {
        let pid = crate::pe::start_agent(prefix, &dir, i, pe).map_err(|e| LabError::Pe(e.to_string()))?;
        tracing::debug!(node = i, pid, "agent started");
    }
    progress(&format!("{nodes} node agents started ({:.2} s)", start.elapsed().as_secs_f64()));
    let deadline = Instant::now() + lab.options.wait_timeout;
    let mut pending: Vec<u32> = (0..nodes).collect();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for i in pending {
            if crate::pe::agent_pid(&dir, i).is_none() {
                let log = std::fs::read_to_string(crate::pe::agent_dir(&dir, i).join("agent.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(LabError::Pe(format!("the agent of node{i} exited:\n{}", tail.join("\n"))));
            }
            let (p, idx) = (prefix.clone(), i);
            let ready =
                tokio::task::spawn_blocking(move || crate::pe::http_get(&p, idx, "/readyz", Duration::from_secs(2)))
                    .await
                    .map_err(|e| BuildError::Join(e.to_string()))?;
            if !matches!(ready, Ok((200, _))) {
                still.push(i);
            }
        }
        pending = still;
        if !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(LabError::Pe(format!("agents of nodes {pending:?} not Ready in time")));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    progress(&format!("{nodes} PEs Ready ({:.2} s)", start.elapsed().as_secs_f64()));
    attach_pods(lab).await?;
    // Sessions that stay down are reported, not fatal: `lab status` and `lab check` show them.
    match wait_pe_sessions(lab, deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(30))).await {
        Ok(waited) => progress(&format!(
            "every PE session Established: ToR and host speakers ({:.2} s; waited {:.2} s)",
            start.elapsed().as_secs_f64(),
            waited.as_secs_f64()
        )),
        Err(e) => progress(&format!("WARNING: {e}")),
    }
    Ok(())
}

/// Enslaves each node's L2 pod veths to the host bridges the PE made (`br-hs-110`,
/// `br-hs-300`), waiting for them to appear.
pub async fn attach_pods(lab: &Lab) -> Result<(), LabError> {
    for i in 0..lab.options.spec.nodes {
        let ns = crate::fabric::node_host_ns(&lab.options.spec.prefix, i);
        let mut sock = build::socket_in(&ns)?;
        for (port, bridge) in [(crate::fabric::L2POD_NODE_IF, "br-hs-110"), (crate::fabric::EWPOD_NODE_IF, "br-hs-300")]
        {
            let deadline = Instant::now() + Duration::from_secs(30);
            let master = loop {
                match build::index(&mut sock, &ns, bridge) {
                    Ok(idx) => break idx,
                    Err(e) if Instant::now() > deadline => return Err(e.into()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            build::attach(&mut sock, &ns, port, master)?;
        }
    }
    Ok(())
}

/// Waits until every session of the lab, PE sessions included, is Established.
pub async fn wait_pe_sessions(lab: &Lab, timeout: Duration) -> Result<Duration, LabError> {
    // The 6 fabric sessions, plus per node the ToR's session and three host-speaker sessions
    // (red, blue, passthrough).
    let expected = FABRIC_SESSIONS + 4 * lab.options.spec.nodes as usize;
    wait_sessions(lab, timeout, expected, |_| true).await
}

/// Sessions between fabric routers: spine 3 peers, leaves 1 each, the ToR 1 towards the spine.
const FABRIC_SESSIONS: usize = 6;

/// Polls until at least `expected` sessions pass `include` and all of them are Established;
/// returns the time waited, or the sessions still pending when `timeout` runs out.
async fn wait_sessions(
    lab: &Lab,
    timeout: Duration,
    expected: usize,
    include: impl Fn(&Session) -> bool,
) -> Result<Duration, LabError> {
    let start = Instant::now();
    loop {
        let (sessions, errors) = sessions(lab).await;
        let counted: Vec<&Session> = sessions.iter().filter(|s| include(s)).collect();
        let up = counted.iter().filter(|s| s.neighbor.is_established()).count();
        if errors.is_empty() && counted.len() >= expected && up == counted.len() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let mut pending: Vec<String> = counted
                .iter()
                .filter(|s| !s.neighbor.is_established())
                .map(|s| format!("  {} → {}: {}", s.ns, s.neighbor.peer, s.neighbor.state))
                .collect();
            pending.extend(errors.into_iter().map(|e| format!("  {e}")));
            return Err(LabError::NotEstablished { waited: start.elapsed(), pending: pending.join("\n") });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One BGP session as seen from a lab namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Short name of the namespace.
    pub ns: String,
    /// The neighbor as FRR reports it.
    pub neighbor: BgpNeighbor,
    /// A session towards a node's PE router: expected down until a PE runs there.
    pub towards_pe: bool,
    /// The lab runs PEs: sessions towards them must be Established too.
    pub pe_running: bool,
}

impl Session {
    /// Down and not excused by a missing PE.
    pub fn unhealthy(&self) -> bool {
        !self.neighbor.is_established() && (!self.towards_pe || self.pe_running)
    }
}

/// Every BGP session of every FRR instance of the lab (an instance that does not answer is
/// reported in the error list).
pub async fn sessions(lab: &Lab) -> (Vec<Session>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let nodes = lab.options.spec.nodes;
    let queries = lab.instances().into_iter().map(|(short, inst)| async move {
        let vtysh = inst.vtysh().with_timeout(Duration::from_secs(10));
        (short, frr::state::bgp_neighbors(&vtysh).await.map_err(|e| e.to_string()))
    });
    let mut results = futures_util::future::join_all(queries).await;
    // Node speakers that are not FRR instances (BIRD, GoBGP).
    let others = (0..nodes).map(|i| lab.speaker(i)).filter(|s| s.kind != SpeakerKind::Frr);
    let others = others.map(|s| async move { (format!("node{}", s.index), s.neighbors().await) });
    results.extend(futures_util::future::join_all(others).await);
    for (short, result) in results {
        match result {
            Ok(neighbors) => out.extend(neighbors.into_iter().map(|n| Session {
                towards_pe: is_pe_peer(&n.peer, nodes),
                pe_running: lab.with_pe,
                ns: short.clone(),
                neighbor: n,
            })),
            Err(e) => errors.push(format!("{short}: {e}")),
        }
    }
    (out, errors)
}

/// Waits until every fabric session (not towards a PE) is Established; returns the time waited.
pub async fn wait_established(lab: &Lab, timeout: Duration) -> Result<Duration, LabError> {
    wait_sessions(lab, timeout, FABRIC_SESSIONS, |s| !s.towards_pe).await
}

/// One namespace in [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceStatus {
    pub name: String,
    pub short: String,
    pub role: Role,
    pub exists: bool,
    /// `(daemon, state)` of its FRR instance, watchfrr first; empty when it runs no FRR.
    pub daemons: Vec<(String, DaemonState)>,
}

/// What [`status`] found.
#[derive(Debug, Clone)]
pub struct LabStatus {
    pub lab: Lab,
    pub namespaces: Vec<NamespaceStatus>,
    pub sessions: Vec<Session>,
    /// Instances that did not answer.
    pub errors: Vec<String>,
    /// The node agents (with PEs): `(node index, pid when running, readiness)`.
    pub agents: Vec<(u32, Option<u32>, String)>,
    /// Each node's BGP speaker.
    pub speakers: Vec<SpeakerStatus>,
}

/// A node's BGP speaker in [`LabStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerStatus {
    pub node: u32,
    pub kind: SpeakerKind,
    /// Its own processes (BIRD; GoBGP and its route installer) with their pids when running.
    pub processes: Vec<(&'static str, Option<u32>)>,
}

impl LabStatus {
    /// What is wrong; empty when healthy.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ns in &self.namespaces {
            if !ns.exists {
                out.push(format!("namespace {} is missing", ns.name));
            }
            for (d, s) in &ns.daemons {
                if !matches!(s, DaemonState::Running { .. }) {
                    out.push(format!("{}: {d} is not running", ns.short));
                }
            }
        }
        for s in self.sessions.iter().filter(|s| s.unhealthy()) {
            out.push(format!("{}: BGP session with {} is {}", s.ns, s.neighbor.peer, s.neighbor.state));
        }
        out.extend(self.errors.iter().cloned());
        for s in &self.speakers {
            for (what, pid) in &s.processes {
                if pid.is_none() {
                    out.push(format!("node{}: {what} ({} speaker) is not running", s.node, s.kind));
                }
            }
        }
        for (i, pid, ready) in &self.agents {
            if pid.is_none() {
                out.push(format!("node{i}: the agent is not running"));
            } else if ready != "Ready" {
                out.push(format!("node{i}: the agent is not Ready ({ready})"));
            }
        }
        out
    }

    /// Nothing is wrong.
    pub fn healthy(&self) -> bool {
        self.problems().is_empty()
    }
}

/// Reads the state of the lab: namespaces, FRR daemons, BGP sessions.
pub async fn status(lab: &Lab) -> LabStatus {
    let instances: BTreeMap<String, Instance> = lab.instances().into_iter().collect();
    let namespaces = lab
        .topology
        .namespaces
        .iter()
        .map(|n| NamespaceStatus {
            name: n.name.clone(),
            short: n.short.clone(),
            role: n.role,
            exists: NetNs::exists(&n.name),
            daemons: instances.get(&n.short).map(|i| i.status().daemons).unwrap_or_default(),
        })
        .collect();
    let (sessions, errors) = sessions(lab).await;
    let mut agents = Vec::new();
    if lab.with_pe {
        let dir = lab.options.dir();
        for i in 0..lab.options.spec.nodes {
            let pid = crate::pe::agent_pid(&dir, i);
            let prefix = lab.options.spec.prefix.clone();
            let ready =
                tokio::task::spawn_blocking(move || crate::pe::http_get(&prefix, i, "/readyz", Duration::from_secs(3)))
                    .await;
            let ready = match ready {
                Ok(Ok((200, _))) => "Ready".to_string(),
                Ok(Ok((_, body))) => format!("not ready: {}", body.trim()),
                Ok(Err(e)) => format!("no answer: {e}"),
                Err(e) => format!("no answer: {e}"),
            };
            agents.push((i, pid, ready));
        }
    }
    let speakers = (0..lab.options.spec.nodes)
        .map(|i| {
            let s = lab.speaker(i);
            SpeakerStatus { node: i, kind: s.kind, processes: s.processes() }
        })
        .collect();
    LabStatus { lab: lab.clone(), namespaces, sessions, errors, agents, speakers }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Spine => "spine",
        Role::Leaf => "leaf",
        Role::Tor => "tor",
        Role::Switch => "switch (bridge)",
        Role::ExternalHost => "external host",
        Role::NodeHost => "node host",
        Role::NodeRouter => "node router (PE)",
        Role::Pod => "pod",
    }
}

fn uptime(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

impl fmt::Display for LabStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.lab.options.spec;
        writeln!(
            f,
            "lab {}: {} nodes, tenant VRFs {}, run directory {}",
            spec.prefix,
            spec.nodes,
            if spec.vrf { "red/blue" } else { "off (--no-vrf)" },
            self.lab.options.dir().display()
        )?;
        writeln!(f)?;
        writeln!(f, "{:<22} {:<18} FRR", "NAMESPACE", "ROLE")?;
        for ns in &self.namespaces {
            let frr = if !ns.exists {
                "MISSING NAMESPACE".to_string()
            } else if ns.daemons.is_empty() {
                match ns.role {
                    Role::NodeRouter if self.lab.with_pe => "run by the node agent (see AGENTS)".to_string(),
                    Role::NodeRouter => "- (empty, reserved for the PE)".to_string(),
                    _ => "-".to_string(),
                }
            } else if ns.daemons.iter().all(|(_, s)| matches!(s, DaemonState::Running { .. })) {
                format!("running ({})", ns.daemons.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(" "))
            } else {
                let mut s = String::new();
                for (d, st) in &ns.daemons {
                    let word = match st {
                        DaemonState::Running { .. } => "up",
                        DaemonState::Stopped => "STOPPED",
                        DaemonState::Stale { .. } => "DEAD",
                    };
                    let _ = write!(s, "{d}:{word} ");
                }
                s.trim_end().to_string()
            };
            writeln!(f, "{:<22} {:<18} {frr}", ns.name, role_name(ns.role))?;
        }
        writeln!(f)?;
        writeln!(f, "{:<8} {:<8} {:<22} PROCESSES", "NODE", "SPEAKER", "NAMESPACE")?;
        for SpeakerStatus { node: i, kind, processes } in &self.speakers {
            let procs = if *kind == SpeakerKind::Frr {
                "FRR instance (see above)".to_string()
            } else {
                let words: Vec<String> = processes
                    .iter()
                    .map(|(what, pid)| format!("{what}[{}]", pid.map_or("DEAD".to_string(), |p| p.to_string())))
                    .collect();
                words.join(" ")
            };
            writeln!(
                f,
                "{:<8} {:<8} {:<22} {procs}",
                format!("node{i}"),
                kind.name(),
                crate::fabric::node_host_ns(&spec.prefix, *i)
            )?;
        }
        if !self.agents.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<8} {:<8} {:<22} READY (agent at 127.0.0.1:{} in the node's namespace)",
                "AGENT",
                "PID",
                "ROUTER NS",
                crate::pe::AGENT_PORT
            )?;
            for (i, pid, ready) in &self.agents {
                writeln!(
                    f,
                    "{:<8} {:<8} {:<22} {ready}",
                    format!("node{i}"),
                    pid.map_or("DEAD".to_string(), |p| p.to_string()),
                    crate::fabric::node_router_ns(&spec.prefix, *i)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:<8} {:<15} {:<7} {:<12} {:<9} {:<17} NOTE",
            "ROUTER", "VRF", "PEER", "AS", "STATE", "UPTIME", "PFX RCVD v4/evpn"
        )?;
        for s in &self.sessions {
            let n = &s.neighbor;
            let count =
                |af: &str| n.af(af).and_then(|a| a.prefixes_received).map_or("-".to_string(), |c| c.to_string());
            let pfx = format!("{}/{}", count("ipv4Unicast"), count("l2VpnEvpn"));
            let note = if n.is_established() {
                ""
            } else if s.towards_pe && !s.pe_running {
                "waiting for PE"
            } else {
                "DOWN"
            };
            let state = if n.is_established() { "Established" } else { n.state.as_str() };
            writeln!(
                f,
                "{:<8} {:<8} {:<15} {:<7} {:<12} {:<9} {:<17} {note}",
                s.ns,
                n.vrf,
                n.peer,
                n.remote_as.map_or("-".to_string(), |a| a.to_string()),
                state,
                uptime(n.uptime.filter(|_| n.is_established())),
                pfx
            )?;
        }
        writeln!(f)?;
        let fabric = self.sessions.iter().filter(|s| !s.towards_pe).count();
        let fabric_up = self.sessions.iter().filter(|s| !s.towards_pe && s.neighbor.is_established()).count();
        let waiting = self.sessions.iter().filter(|s| s.towards_pe && !s.neighbor.is_established()).count();
        let pe = self.sessions.iter().filter(|s| s.towards_pe).count();
        let pe_up = self.sessions.iter().filter(|s| s.towards_pe && s.neighbor.is_established()).count();
        let problems = self.problems();
        if problems.is_empty() && self.lab.with_pe {
            writeln!(
                f,
                "HEALTHY: {fabric_up}/{fabric} fabric sessions and {pe_up}/{pe} PE sessions Established, {} agents Ready",
                self.agents.len()
            )
        } else if problems.is_empty() {
            writeln!(f, "HEALTHY: {fabric_up}/{fabric} fabric sessions Established, {waiting} waiting for a PE")
        } else {
            writeln!(f, "UNHEALTHY: {fabric_up}/{fabric} fabric sessions Established")?;
            for p in problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

/// What [`down`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Pids of the node agents stopped.
    pub agents: Vec<u32>,
    /// Pids of the BIRD/GoBGP node speakers (and route installers) stopped.
    pub speakers: Vec<u32>,
    pub namespaces: Vec<String>,
    pub instances: usize,
    pub stray_processes: Vec<u32>,
    pub run_dir: Option<PathBuf>,
}

impl DownReport {
    /// Whether there was anything to remove.
    pub fn removed_anything(&self) -> bool {
        !self.agents.is_empty()
            || !self.speakers.is_empty()
            || !self.namespaces.is_empty()
            || self.instances > 0
            || !self.stray_processes.is_empty()
            || self.run_dir.is_some()
    }
}

/// Removes the lab named `prefix`: its FRR processes, namespaces and run directory (see the
/// module documentation). Node count and VRF mode come from its `lab.conf`; without one (it was
/// never written, or was removed) `nodes` is used and `/run/netns` is scanned for the lab's
/// node namespace names. Idempotent; blocking.
pub fn down(prefix: &str, run_root: &Path, nodes: u32) -> Result<DownReport, LabError> {
    check_name(prefix)?;
    let lab = Lab::open(prefix, run_root).unwrap_or_else(|_| {
        let mut options = LabOptions::new(LabSpec { prefix: prefix.to_string(), nodes, ..LabSpec::default() });
        options.run_root = run_root.to_path_buf();
        Lab::from_options(options)
    });
    down_lab(&lab)
}

/// Whether `name` is a node namespace of the lab `prefix` (`<prefix>-node<i>` or
/// `<prefix>-node<i>-pe`), for labs whose node count is unknown.
fn is_node_namespace(prefix: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix("-node")) else { return false };
    let digits = rest.strip_suffix("-pe").unwrap_or(rest);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

fn down_lab(lab: &Lab) -> Result<DownReport, LabError> {
    let prefix = &lab.options.spec.prefix;
    let dir = lab.options.dir();
    let mut report = DownReport::default();
    // 0. The node agents (by pid), before the FRR instances they run.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = name.strip_prefix("agent").and_then(|n| n.parse::<u32>().ok())
                && let Some(pid) = crate::pe::stop_agent(&dir, i)
            {
                report.agents.push(pid);
            }
        }
    }
    // 0b. BIRD and GoBGP node speakers (and GoBGP's route installer), by pid; whatever kind a
    //     node had, its pid files say what ran.
    for i in 0..lab.options.spec.nodes {
        for kind in [SpeakerKind::Bird, SpeakerKind::Gobgp] {
            let mut speaker = lab.speaker(i);
            speaker.kind = kind;
            report.speakers.extend(speaker.stop());
        }
    }
    // 1. FRR: every instance the topology defines, plus node instances beyond its node count.
    let mut instances: Vec<Instance> = lab.instances().into_iter().map(|(_, i)| i).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let short = e.file_name().to_string_lossy().into_owned();
            if e.path().join("run").is_dir() && !instances.iter().any(|i| i.spec().run_dir == e.path().join("run")) {
                let ns = format!("{prefix}-{short}");
                instances.push(Instance::new(InstanceSpec::private(
                    ns.clone(),
                    NetnsRef::Name(ns),
                    e.path().join("run"),
                    e.path().join("etc"),
                )));
            }
        }
    }
    report.instances = instances.iter().filter(|i| !i.status().all_stopped()).count();
    let refs: Vec<&Instance> = instances.iter().collect();
    let mut failures: Vec<String> =
        stop_all(&refs).into_iter().filter_map(|r| r.err().map(|e| e.to_string())).collect();
    // 2. Anything else still running from the lab's directory (e.g. a control script).
    report.stray_processes = kill_processes_under(&dir);
    // 3. Namespaces: the topology's, and node namespaces of a bigger lab of the same name.
    let mut names: Vec<String> = lab.topology.namespaces.iter().map(|n| n.name.clone()).collect();
    names.extend(NetNs::list().into_iter().filter(|n| is_node_namespace(prefix, n)));
    names.sort();
    names.dedup();
    for name in names.iter().filter(|n| NetNs::exists(n)) {
        match NetNs::delete(name) {
            Ok(()) => report.namespaces.push(name.clone()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    // 4. The run directory.
    if dir.exists() {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => report.run_dir = Some(dir.clone()),
            Err(e) => failures.push(format!("cannot remove {}: {e}", dir.display())),
        }
    }
    let _ = std::fs::remove_dir(&lab.options.run_root); // only when no other lab uses it
    if failures.is_empty() { Ok(report) } else { Err(LabError::Leftovers(failures.join("; "))) }
}

/// Processes whose command line names a path under `dir`.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    kernel::procs::under(dir)
}

fn kill_processes_under(dir: &Path) -> Vec<u32> {
    let pids = processes_under(dir);
    for pid in &pids {
        kernel::procs::signal(*pid, kernel::procs::Signal::SIGKILL);
    }
    kernel::procs::wait_gone(&pids, Duration::from_secs(5));
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("opr").is_ok());
        assert!(check_name("t123ab").is_ok());
        for bad in ["", "1abc", "a-b", "abcdefghijklm", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_namespaces_of_a_lab() {
        assert!(is_node_namespace("opr", "opr-node0"));
        assert!(is_node_namespace("opr", "opr-node12-pe"));
        assert!(!is_node_namespace("opr", "opr-node"));
        assert!(!is_node_namespace("opr", "opr2-node0"));
        assert!(!is_node_namespace("opr", "opr-nodex-pe"));
        assert!(!is_node_namespace("opr", "opr-spine"));
    }
}
