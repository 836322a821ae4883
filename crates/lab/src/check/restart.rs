//! Agent restart under traffic: node0's agent killed with SIGKILL, started again, then stopped
//! with SIGTERM and started again. FRR and the kernel state stay in place while no agent runs,
//! and the restarted agent finds nothing to change: no kernel write in node0's router and host
//! namespaces (watched with `ip monitor`, see [`crate::kernel_watch`] for what counts as a
//! write), no BGP session reset on either side, no probe lost on the L3VNI, L2VNI and
//! passthrough paths.

use std::time::{Duration, Instant};

use super::ctx::*;
use super::probe::Probe;
use crate::fabric::{l2pod_ip, node_host_ns, node_router_ns, pod_ip};
use crate::kernel_watch::{self, KernelWatch};
use crate::{pe, session_counters};

/// How long the restarted agent is watched once Ready: a periodic resync included.
const WATCH_AFTER_READY: Duration = Duration::from_secs(pe::AGENT_RESYNC_SECS as u64 + 2);
/// How long an agent may take to be Ready again.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// The canary address added and removed at the end on each watched namespace's `lo`.
const CANARY: &str = "198.51.100.254/32";

pub(super) async fn agent_restart(c: &Ctx<'_>) -> Option<Check> {
    let (a, b) = c.pairs()?;
    Some(run(c, a, b).await)
}

async fn run(c: &Ctx<'_>, node: u32, other: u32) -> Check {
    let dir = c.lab.options.dir();
    // Started again as `lab up` started it: the program the running agent is.
    let pid = pe::agent_pid(&dir, node).ok_or(format!("node{node}'s agent does not run"))?;
    let program = kernel::procs::cmdline(pid)
        .and_then(|argv| argv.into_iter().next())
        .map(std::path::PathBuf::from)
        .ok_or(format!("node{node}'s agent [{pid}]: no command line"))?;
    let (router_ns, host_ns) = (node_router_ns(&c.prefix, node), node_host_ns(&c.prefix, node));
    let watches = [KernelWatch::start(&router_ns)?, KernelWatch::start(&host_ns)?];
    // Three paths into node0, probed at once: L3VNI red and the passthrough to its pod (from the
    // fabric's hosts), and L2VNI 110 from the other node's L2 pod to node0's.
    let probes = [
        ("L3VNI red", Probe::start(&c.ns("hostA-red"), &pod_ip(node))?),
        ("passthrough", Probe::start(&c.ns("hostA-default"), &pod_ip(node))?),
        ("L2VNI 110", Probe::start(&c.ns(&format!("l2pod{other}")), &l2pod_ip(node))?),
    ];
    let started = Instant::now();
    let marks = kernel_watch::wait_quiet(&[&watches[0], &watches[1]], Duration::from_secs(90)).await?;
    let quiet = started.elapsed();
    // What the kernel announced before it was quiet (reported, not judged: the agent ran
    // untouched then), e.g. bridge ports announced again when their forward delay expired.
    let settling: Vec<kernel_watch::Event> =
        watches.iter().zip(&marks).flat_map(|(w, &m)| w.events().into_iter().take(m)).collect();
    let settling_writes: Vec<String> =
        kernel_watch::writes(&settling).iter().take(6).map(|e| format!("  {}: {}", e.ns, e.line)).collect();
    let judged =
        || -> Vec<kernel_watch::Event> { watches.iter().zip(&marks).flat_map(|(w, &m)| w.events_since(m)).collect() };
    let sides = sessions(c, node).await?;
    let before = session_counters::read_each(&sides).await?;

    // Probes sent before this (while the paths warmed up: ARP, EVPN MAC routes) are not judged.
    let drill = Instant::now();
    let mut figures = Vec::new();
    for signal in [kernel::procs::Signal::SIGKILL, kernel::procs::Signal::SIGTERM] {
        let pid = pe::agent_pid(&dir, node).ok_or(format!("node{node}'s agent does not run"))?;
        kernel::procs::signal(pid, signal);
        let t = Instant::now();
        while kernel::procs::is_running(pid) {
            if t.elapsed() > Duration::from_secs(10) {
                return Err(format!("node{node}'s agent [{pid}] still runs 10 s after {signal}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = pe::agent_dir(&dir, node).join("agent.log");
        let _ = std::fs::rename(&log, log.with_file_name(format!("agent-before-{signal}.log")));
        let restarted = Instant::now();
        pe::spawn_agent(&c.prefix, &dir, node, &program).map_err(|e| e.to_string())?;
        let ready = wait_ready(c, node, restarted).await?;
        tokio::time::sleep(WATCH_AFTER_READY).await;
        let counted = agent_writes(c, node).await?;
        let events = judged();
        figures.push(format!(
            "{signal}: restart → Ready {:.2} s, the agent counted {counted} kernel write(s) ({}), ip monitor so far: {}",
            ready.as_secs_f64(),
            first_reconcile(&log),
            kernel_watch::summary(&events)
        ));
        if counted != 0 || !kernel_watch::writes(&events).is_empty() {
            return Err(failure(&figures, &events));
        }
    }
    let stopped = Instant::now();
    let mut lost = Vec::new();
    for (path, probe) in probes {
        let o = probe.stop().await?;
        // The last probe may still be in flight when ping is interrupted.
        let n = o.lost_between(drill, stopped - Duration::from_secs(1));
        lost.push((path, n, o.describe(drill)));
    }
    let after = session_counters::read_each(&sides).await?;
    let events = judged();
    canary(&[&router_ns, &host_ns]).await?;
    let canary_seen = |events: &[kernel_watch::Event]| {
        kernel_watch::writes(events).iter().filter(|e| e.line.contains(CANARY.trim_end_matches("/32"))).count()
    };
    // ip monitor prints what it sees a moment later, longer with several labs in one emulated
    // VM: give both canary lines up to 10 s to show.
    let waited = Instant::now();
    while watches.iter().any(|w| canary_seen(&w.events()) < 2) && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let [rw, hw] = watches;
    for w in [rw, hw] {
        let all = w.stop();
        if canary_seen(&all) < 2 {
            return Err(format!("ip monitor missed the canary write: {}", kernel_watch::summary(&all)));
        }
    }

    let resets = session_counters::resets_each(&before, &after);
    let watched: Vec<String> = before.iter().map(|(who, b)| format!("{} on {who}", b.len())).collect();
    let lost_total: u32 = lost.iter().map(|(_, n, _)| n).sum();
    let detail = format!(
        "node{node}'s agent killed (SIGKILL), started, stopped (SIGTERM), started, under traffic; judged from \
         when the kernel was quiet (+{:.1} s; before that, with the first agent running: {}{})\n{}\n\
         ip monitor in {router_ns} and {host_ns}: {}\n\
         BGP sessions ({}): {} reset\n\
         probes every 300 ms, lost (sent at, from the first kill; judged from then on): {}",
        quiet.as_secs_f64(),
        kernel_watch::summary(&settling),
        if settling_writes.is_empty() { String::new() } else { format!(":\n{}\n", settling_writes.join("\n")) },
        figures.join("\n"),
        kernel_watch::summary(&events),
        watched.join(", "),
        resets.len(),
        lost.iter().map(|(p, _, d)| format!("{p} {d}")).collect::<Vec<_>>().join("; "),
    );
    if !kernel_watch::writes(&events).is_empty() {
        return Err(failure(&[detail], &events));
    }
    if !resets.is_empty() {
        return Err(format!("{detail}\nsessions reset: {}", resets.join("; ")));
    }
    if lost_total > 0 {
        return Err(format!("{detail}\n{lost_total} probe(s) lost"));
    }
    Ok(detail)
}

/// The FRRs whose session counters are compared: node0's PE, the ToR, and node0's host speaker
/// when it is FRR (its sessions to the PE are also on the PE's side).
async fn sessions(c: &Ctx<'_>, node: u32) -> Result<Vec<(String, frr::Vtysh)>, String> {
    let mut sides = vec![(format!("node{node}-pe"), c.pe_vtysh(node)), ("tor".to_string(), c.vtysh("tor")?)];
    if let Ok(v) = c.vtysh(&format!("node{node}")) {
        sides.push((format!("node{node} (host speaker)"), v));
    }
    Ok(sides)
}

async fn wait_ready(c: &Ctx<'_>, node: u32, since: Instant) -> Result<Duration, String> {
    loop {
        let prefix = c.prefix.clone();
        let ready = tokio::task::spawn_blocking(move || pe::http_get(&prefix, node, "/readyz", Duration::from_secs(2)))
            .await
            .map_err(|e| e.to_string())?;
        if matches!(ready, Ok((200, _))) {
            return Ok(since.elapsed());
        }
        if since.elapsed() > READY_WITHIN {
            return Err(format!("node{node}'s restarted agent not Ready within {READY_WITHIN:?}: {ready:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `openperouter_kernel_writes_total` of node `node`'s agent: the writes it counted itself.
/// The endpoint samples FRR live (vtysh), which can take seconds on a loaded machine: a slow
/// answer is asked for again, up to three times.
pub(super) async fn agent_writes(c: &Ctx<'_>, node: u32) -> Result<u64, String> {
    let mut tries = 0;
    let text = loop {
        let prefix = c.prefix.clone();
        let got = tokio::task::spawn_blocking(move || pe::http_get(&prefix, node, "/metrics", Duration::from_secs(15)))
            .await
            .map_err(|e| e.to_string())?;
        match got {
            Ok((_, text)) => break text,
            Err(e) if tries < 2 => {
                tries += 1;
                tracing::debug!("node{node}'s /metrics: {e}; asking again");
            }
            Err(e) => return Err(format!("node{node}'s /metrics, asked 3 times: {e}")),
        }
    };
    text.lines()
        .find_map(|l| l.strip_prefix("openperouter_kernel_writes_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .ok_or_else(|| format!("no openperouter_kernel_writes_total in node{node}'s metrics"))
}

/// The restarted agent's first reconcile, from its log: `FRR +N/-N lines, N kernel writes`.
fn first_reconcile(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.contains("reconcile #1:")) else {
        return "no first reconcile in its log".into();
    };
    // The log may be coloured: keep only the printable text.
    let mut plain = String::new();
    let mut escape = false;
    for ch in line.chars() {
        match (escape, ch) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, ch) => plain.push(ch),
        }
    }
    let field = |k: &str| plain.split_whitespace().find_map(|w| w.strip_prefix(k)).unwrap_or("?").to_string();
    format!(
        "first reconcile: FRR +{}/-{} lines, {} kernel writes",
        field("frr_added="),
        field("frr_removed="),
        field("kernel_writes=")
    )
}

/// A write the watches must see: [`CANARY`] added to and removed from `lo` in each namespace.
async fn canary(namespaces: &[&str]) -> Result<(), String> {
    let net: ipnet::IpNet = CANARY.parse().map_err(|e| format!("{e}"))?;
    for ns in namespaces {
        let ns = ns.to_string();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let mut sock = crate::build::socket_in(&ns).map_err(|e| e.to_string())?;
            let lo = 1; // `lo` is always the first link of a namespace
            for mut m in [
                kernel::rtnl::add_address(lo, &net, kernel::rtnl::AddrMode::Create),
                kernel::rtnl::delete_address(lo, &net),
            ] {
                sock.request(&mut m).map_err(|e| format!("{ns}: canary: {e}"))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())??;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

fn failure(figures: &[String], events: &[kernel_watch::Event]) -> String {
    let writes: Vec<String> =
        kernel_watch::writes(events).iter().take(12).map(|e| format!("  {}: {}", e.ns, e.line)).collect();
    format!("{}\nkernel writes seen:\n{}", figures.join("\n"), writes.join("\n"))
}
