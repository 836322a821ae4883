//! Building the lab and starting what runs in it.

use std::time::{Duration, Instant};

use frr::instance::{Instance, InstanceSpec, NetnsRef, start_all};
use kernel::NetNs;

use super::down::down_lab;
use super::lab::*;
use super::sessions::*;
use crate::build::{self, BuildError};
use crate::speaker::Speaker;

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
    kernel::sysctl::read("kernel/osrelease").ok().flatten().unwrap_or_default()
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
    if options.spec.srv6 && options.spec.ipv6 {
        return Err(LabError::Prerequisite("the SRv6 fabric has an IPv4 underlay: pick one fabric".into()));
    }
    if options.spec.srv6 {
        if !options.spec.vrf {
            return Err(LabError::Prerequisite("the SRv6 fabric needs VRFs: drop --no-vrf".into()));
        }
        let version = frr::FrrVersion::installed(std::path::Path::new("/usr/lib/frr"));
        if !version.is_some_and(|v| v.at_least(10, 0)) {
            return Err(LabError::Prerequisite(format!(
                "the SRv6 fabric needs FRR 10 or later (SRv6 micro-SIDs); this FRR is {}",
                version.map(|v| v.to_string()).unwrap_or_else(|| "unknown".into())
            )));
        }
    }
    std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let speakers: Vec<&str> = (0..options.spec.nodes).map(|i| options.spec.speaker(i).name()).collect();
    let conf = format!(
        "# openperouter lab {}\nnodes {}\nvrf {}\npe {}\nspeakers {}\nsrv6 {}\nipv6 {}\n",
        options.spec.prefix,
        options.spec.nodes,
        if options.spec.vrf { "yes" } else { "no" },
        if options.pe.is_some() { "yes" } else { "no" },
        speakers.join(","),
        if options.spec.srv6 { "yes" } else { "no" },
        if options.spec.ipv6 { "yes" } else { "no" },
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

/// Starts each node's Open vSwitch (when installed), then one agent per node, waits until each is Ready, attaches the L2 pods to the host
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
    start_ovs(lab, start, progress).await?;
    for i in 0..nodes {
        let pid = crate::pe::start_agent(prefix, &dir, i, pe, &crate::pe::node_config(&lab.options.spec, i))
            .map_err(|e| LabError::Pe(e.to_string()))?;
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

/// Starts each node's Open vSwitch (`crate::ovs`) when it is installed. One that does not
/// start is reported, not fatal: the lab works without it and its Open vSwitch scenario fails.
async fn start_ovs(lab: &Lab, start: Instant, progress: &mut (dyn FnMut(&str) + Send)) -> Result<(), LabError> {
    if let Some(why) = crate::ovs::missing() {
        progress(&format!("no Open vSwitch on the nodes: {why}"));
        return Ok(());
    }
    let (prefix, dir, nodes) = (lab.options.spec.prefix.clone(), lab.options.dir(), lab.options.spec.nodes);
    let results = tokio::task::spawn_blocking(move || {
        let datapath = crate::ovs::choose_datapath();
        // The nodes side by side: each start is a few short processes, mostly waiting.
        let started: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..nodes)
                .map(|i| {
                    s.spawn({
                        let (p, d) = (&prefix, &dir);
                        move || crate::ovs::start(p, d, i, datapath)
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(0..nodes)
                .map(|(h, index)| {
                    h.join()
                        .unwrap_or_else(|_| Err(crate::ovs::OvsError { index, message: "its start panicked".into() }))
                })
                .collect()
        });
        (datapath, started)
    })
    .await
    .map_err(|e| BuildError::Join(e.to_string()))?;
    let (datapath, started) = results;
    let mut ok = 0;
    for r in started {
        match r {
            Ok(_) => ok += 1,
            Err(e) => progress(&format!("WARNING: {e}")),
        }
    }
    progress(&format!(
        "Open vSwitch started on {ok} of {nodes} nodes, {} datapath ({:.2} s)",
        datapath.unwrap_or("kernel"),
        start.elapsed().as_secs_f64()
    ));
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
