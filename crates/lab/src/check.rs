//! `openperouter lab check`: the scenarios of the e2e suite against a lab whose PEs run, with
//! real state (FRR's JSON, the kernel's) and real packets (ping between namespaces). Every
//! assertion polls until it holds or its timeout passes (upstream's `Eventually`).
//!
//! Scenarios, in order (the destructive ones last): underlay sessions, host sessions, VTEP
//! reachability, type-5 import into the right VRF only, EVPN routes → host speaker, type-5
//! export, L3 pod ↔ external hosts, stretched L2, anycast gateway, disconnected L2VNI,
//! passthrough, kernel conformance, invalid resource, type-5 withdrawal, VNI and Underlay removed
//! from the configuration, FRR killed, router namespace deleted.
//! A scenario that cannot run (fewer than two nodes) is reported as SKIP, never as PASS.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use frr::state::{EvpnRouteKey, EvpnRouteType};
use serde_json::Value;

use crate::control::Lab;
use crate::fabric::{ewpod_ip, l2pod_ip, node_host_ns, node_nic, node_router_ns, pod_ip};
use crate::pe;
use crate::speaker::{Speaker, SpeakerRoute};

/// The result of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

/// One scenario's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    pub verdict: Verdict,
    pub took: Duration,
    /// What was seen (on success) or what was missing (on failure).
    pub detail: String,
}

/// The whole run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// No scenario failed.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.verdict != Verdict::Fail)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<4} {:<34} {:<6} {:>8}  DETAIL", "#", "SCENARIO", "RESULT", "TIME")?;
        for (n, o) in self.outcomes.iter().enumerate() {
            let v = match o.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "SKIP",
            };
            let mut lines = o.detail.lines();
            writeln!(
                f,
                "{:<4} {:<34} {:<6} {:>7.1}s  {}",
                n + 1,
                o.name,
                v,
                o.took.as_secs_f64(),
                lines.next().unwrap_or("")
            )?;
            for l in lines {
                writeln!(f, "{:<58}  {l}", "")?;
            }
        }
        let count = |v: Verdict| self.outcomes.iter().filter(|o| o.verdict == v).count();
        writeln!(
            f,
            "{}: {} passed, {} failed, {} skipped ({:.1} s)",
            if self.passed() { "PASS" } else { "FAIL" },
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Skip),
            self.outcomes.iter().map(|o| o.took.as_secs_f64()).sum::<f64>()
        )
    }
}

type Check = Result<String, String>;

/// Runs `ip netns exec NS ARGV…` (up to 30 s); `(success, stdout + stderr)`.
async fn sh(ns: &str, argv: &[&str]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Ok(Err(e)) => (false, format!("cannot run ip netns exec {ns}: {e}")),
        Err(_) => (false, format!("ip netns exec {ns} {argv:?} timed out")),
    }
}

/// Polls `f` every 500 ms until it succeeds or `timeout` passes (then its last error).
async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> Check
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() >= timeout => return Err(format!("after {:.0} s: {e}", timeout.as_secs_f64())),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

async fn ping(ns: &str, dst: &str) -> Check {
    let (ok, out) = sh(ns, &["ping", "-c1", "-W1", "-n", dst]).await;
    if ok { Ok(format!("{ns}→{dst}")) } else { Err(format!("ping {ns} → {dst} failed: {}", last_line(&out))) }
}

fn last_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// Pings every `(namespace, destination)` until each answered once.
async fn pings(pairs: &[(String, String)], timeout: Duration) -> Check {
    let mut done = Vec::new();
    for (ns, dst) in pairs {
        eventually(timeout, || ping(ns, dst)).await?;
        done.push(format!("{}→{dst}", ns.split_once('-').map_or(ns.as_str(), |(_, s)| s)));
    }
    Ok(format!("ping {}", done.join(", ")))
}

struct Ctx<'a> {
    lab: &'a Lab,
    prefix: String,
    nodes: u32,
}

impl Ctx<'_> {
    fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    fn pe_vtysh(&self, i: u32) -> frr::Vtysh {
        pe::pe_instance(&self.prefix, &self.lab.options.dir(), i).vtysh().with_timeout(Duration::from_secs(15))
    }

    fn vtysh(&self, short: &str) -> Result<frr::Vtysh, String> {
        self.lab
            .instance(short)
            .map(|i| i.vtysh().with_timeout(Duration::from_secs(15)))
            .ok_or_else(|| format!("no FRR in {short}"))
    }

    async fn established(&self, vtysh: &frr::Vtysh, who: &str, peers: &[String]) -> Check {
        let neighbors = frr::state::bgp_neighbors(vtysh).await.map_err(|e| format!("{who}: {e}"))?;
        for p in peers {
            match neighbors.iter().find(|n| &n.peer == p) {
                Some(n) if n.is_established() => {}
                Some(n) => return Err(format!("{who} → {p}: {}", n.state)),
                None => return Err(format!("{who} has no session with {p}")),
            }
        }
        Ok(String::new())
    }

    async fn evpn_type5(&self, vtysh: &frr::Vtysh, who: &str) -> Result<Vec<(String, Vec<IpAddr>, Vec<u32>)>, String> {
        let routes =
            frr::state::evpn_routes(vtysh, Some(EvpnRouteType::Prefix)).await.map_err(|e| format!("{who}: {e}"))?;
        Ok(routes
            .into_iter()
            .filter_map(|r| match r.key {
                EvpnRouteKey::Prefix { prefix, .. } => Some((
                    prefix.to_string(),
                    r.paths.iter().flat_map(|p| p.next_hops.clone()).collect(),
                    r.paths.iter().flat_map(|p| p.vnis.clone()).collect(),
                )),
                _ => None,
            })
            .collect())
    }

    /// Node `i`'s host speaker (FRR, BIRD or GoBGP), for sessions and routes.
    fn speaker(&self, i: u32) -> Speaker {
        self.lab.speaker(i)
    }

    fn pairs(&self) -> Option<(u32, u32)> {
        (self.nodes >= 2).then_some((0, 1))
    }
}

async fn underlay_sessions(c: &Ctx<'_>) -> Check {
    let tor = c.vtysh("tor")?;
    eventually(Duration::from_secs(60), || async {
        let peers: Vec<String> = (0..c.nodes).map(crate::fabric::node_underlay_ip).collect();
        c.established(&tor, "tor", &peers).await?;
        for i in 0..c.nodes {
            c.established(&c.pe_vtysh(i), &format!("node{i}-pe"), &["192.168.11.2".to_string()]).await?;
        }
        Ok(format!("ToR ↔ {} PEs Established (both sides)", c.nodes))
    })
    .await
}

async fn host_sessions(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        let mut kinds = Vec::new();
        for i in 0..c.nodes {
            let speaker = c.speaker(i);
            let neighbors = speaker.neighbors().await?;
            for p in crate::fabric::PE_HOST_SESSION_IPS {
                match neighbors.iter().find(|n| n.peer == p) {
                    Some(n) if n.is_established() => {}
                    Some(n) => return Err(format!("node{i} ({}) → {p}: {}", speaker.kind, n.state)),
                    None => return Err(format!("node{i} ({}) has no session with {p}", speaker.kind)),
                }
            }
            kinds.push(format!("node{i} {}", speaker.kind));
        }
        Ok(format!("host speakers ({}) ↔ PE red/blue/passthrough Established", kinds.join(", ")))
    })
    .await
}

async fn vteps(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        let pe_ns = node_router_ns(&c.prefix, i);
        for dst in ["100.64.0.1".to_string(), "100.64.0.2".to_string()]
            .into_iter()
            .chain((0..c.nodes).filter(|j| *j != i).map(|j| format!("100.65.0.{j}")))
        {
            pairs.push((pe_ns.clone(), dst));
        }
    }
    // ping from the VTEP address (lo) of each PE.
    let mut seen = Vec::new();
    for (ns, dst) in &pairs {
        let i = ns.trim_end_matches("-pe").rsplit("node").next().unwrap_or("0").to_string();
        let src = format!("100.65.0.{i}");
        eventually(Duration::from_secs(30), || async {
            let (ok, out) = sh(ns, &["ping", "-c1", "-W1", "-n", "-I", &src, dst]).await;
            if ok { Ok(String::new()) } else { Err(format!("{src} → {dst}: {}", last_line(&out))) }
        })
        .await?;
        seen.push(format!("{src}→{dst}"));
    }
    Ok(format!("VTEP pings {}", seen.join(" ")))
}

async fn type5_import(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let who = format!("node{i}-pe");
            let t5 = c.evpn_type5(&c.pe_vtysh(i), &who).await?;
            for (prefix, vtep, vni) in [
                ("192.168.20.0/24", "100.64.0.1", 100),
                ("192.169.20.0/24", "100.64.0.2", 100),
                ("192.168.21.0/24", "100.64.0.1", 200),
                ("192.169.21.0/24", "100.64.0.2", 200),
            ] {
                let vtep: IpAddr = vtep.parse().map_err(|e| format!("{e}"))?;
                if !t5.iter().any(|(p, nh, v)| p == prefix && nh.contains(&vtep) && v.contains(&vni)) {
                    return Err(format!("{who}: no type-5 {prefix} via {vtep} VNI {vni}"));
                }
            }
            let pe_ns = node_router_ns(&c.prefix, i);
            for (vrf, want, never) in [
                ("red", ["192.168.20.0/24", "192.169.20.0/24"], ["192.168.21.0/24", "192.169.21.0/24"]),
                ("blue", ["192.168.21.0/24", "192.169.21.0/24"], ["192.168.20.0/24", "192.169.20.0/24"]),
            ] {
                let (_, routes) = sh(&pe_ns, &["ip", "route", "show", "vrf", vrf]).await;
                for w in want {
                    if !routes.lines().any(|l| l.starts_with(w)) {
                        return Err(format!("{who}: VRF {vrf} lacks {w}:\n{routes}"));
                    }
                }
                for n in never {
                    if routes.lines().any(|l| l.starts_with(n)) {
                        return Err(format!("{who}: VRF {vrf} has {n}, which belongs to another VRF"));
                    }
                }
            }
        }
        Ok("leafA/leafB type-5 on every PE (right VTEP and VNI); red routes only in red, blue only in blue".into())
    })
    .await
}

fn next_hops(routes: &[SpeakerRoute], prefix: &str) -> Vec<String> {
    routes.iter().find(|r| r.prefix == prefix).map(|r| r.next_hops.clone()).unwrap_or_default()
}

async fn evpn_to_host(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let routes = c.speaker(i).routes().await?;
            for (prefix, nh) in [
                ("192.168.20.0/24", "192.169.10.1"),
                ("192.169.20.0/24", "192.169.10.1"),
                ("192.168.21.0/24", "192.169.11.1"),
                ("192.169.21.0/24", "192.169.11.1"),
            ] {
                let hops = next_hops(&routes, prefix);
                if !hops.iter().any(|h| h == nh) {
                    return Err(format!("node{i} host speaker: {prefix} not via {nh} (next hops {hops:?})"));
                }
            }
        }
        Ok("host speakers learn red routes via 192.169.10.1, blue via 192.169.11.1".into())
    })
    .await
}

async fn type5_export(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        for leaf in ["leafA", "leafB"] {
            let t5 = c.evpn_type5(&c.vtysh(leaf)?, leaf).await?;
            for i in 0..c.nodes {
                let prefix = crate::fabric::pod_prefix(i);
                let vtep: IpAddr = format!("100.65.0.{i}").parse().map_err(|e| format!("{e}"))?;
                for vni in [100, 200] {
                    if !t5.iter().any(|(p, nh, v)| p == &prefix && nh.contains(&vtep) && v.contains(&vni)) {
                        return Err(format!("{leaf}: no type-5 {prefix} via {vtep} VNI {vni}"));
                    }
                }
            }
        }
        Ok("pod prefixes 10.244.<i>.0/24 as type-5 (VNI 100 and 200, node VTEP) on leafA and leafB".into())
    })
    .await
}

async fn l3_pods(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("pod{i}")), "192.168.20.2".to_string()));
        pairs.push((c.ns(&format!("pod{i}")), "192.169.21.2".to_string()));
        pairs.push((c.ns("hostA-red"), pod_ip(i)));
        pairs.push((c.ns("hostB-blue"), pod_ip(i)));
    }
    pings(&pairs, Duration::from_secs(30)).await
}

async fn l2_stretch(c: &Ctx<'_>) -> Option<Check> {
    let (a, b) = c.pairs()?;
    Some(
        async {
            // Each pod also talks to its anycast gateway, as real workloads do: that is how the
            // PE learns the pod's IP (its neighbour on br-pe-110) and advertises a type-2 MAC+IP
            // route; pod-to-pod traffic alone only yields MAC routes.
            let pairs = vec![
                (c.ns(&format!("l2pod{a}")), "192.171.24.1".to_string()),
                (c.ns(&format!("l2pod{b}")), "192.171.24.1".to_string()),
                (c.ns(&format!("l2pod{a}")), l2pod_ip(b)),
                (c.ns(&format!("l2pod{b}")), l2pod_ip(a)),
            ];
            let pinged = pings(&pairs, Duration::from_secs(30)).await?;
            let other_vtep: IpAddr = format!("100.65.0.{b}").parse().map_err(|e| format!("{e}"))?;
            let want_ip: IpAddr = l2pod_ip(b).parse().map_err(|e| format!("{e}"))?;
            let pe_ns = node_router_ns(&c.prefix, a);
            let mac = eventually(Duration::from_secs(30), || async {
                let routes = frr::state::evpn_routes(&c.pe_vtysh(a), Some(EvpnRouteType::MacIp))
                    .await
                    .map_err(|e| e.to_string())?;
                routes
                    .iter()
                    .find_map(|r| match &r.key {
                        EvpnRouteKey::MacIp { ip: Some(ip), mac, .. }
                            if *ip == want_ip
                                && r.paths
                                    .iter()
                                    .any(|p| p.next_hops.contains(&other_vtep) && p.vnis.contains(&110)) =>
                        {
                            Some(mac.clone())
                        }
                        _ => None,
                    })
                    .ok_or_else(|| format!("node{a}-pe: no type-2 for {want_ip} via {other_vtep} VNI 110"))
            })
            .await?;
            eventually(Duration::from_secs(30), || async {
                let (_, fdb) = sh(&pe_ns, &["bridge", "fdb", "show", "dev", "vni110"]).await;
                if fdb.lines().any(|l| l.contains(&mac) && l.contains(&format!("dst {other_vtep}"))) {
                    Ok(String::new())
                } else {
                    Err(format!("node{a}-pe vni110 FDB lacks {mac} dst {other_vtep}:\n{fdb}"))
                }
            })
            .await?;
            Ok(format!(
                "{pinged}; type-2 {want_ip} ({mac}) via {other_vtep} VNI 110; FDB vni110 {mac} dst {other_vtep}"
            ))
        }
        .await,
    )
}

async fn anycast_gateway(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("l2pod{i}")), "192.168.20.2".to_string()));
        pairs.push((c.ns("hostA-red"), l2pod_ip(i)));
    }
    let pinged = pings(&pairs, Duration::from_secs(30)).await?;
    for i in 0..c.nodes {
        let (_, neigh) = sh(&c.ns(&format!("l2pod{i}")), &["ip", "neigh", "show", crate::fabric::L2_GATEWAY]).await;
        if !neigh.contains("00:f3:00:00:00:6f") {
            return Err(format!("l2pod{i}: gateway {} is not 00:f3:00:00:00:6f: {neigh}", crate::fabric::L2_GATEWAY));
        }
    }
    Ok(format!("{pinged}; gateway MAC 00:f3:00:00:00:6f on every node"))
}

async fn disconnected_l2(c: &Ctx<'_>) -> Option<Check> {
    let (a, b) = c.pairs()?;
    Some(
        async {
            let pairs = vec![(c.ns(&format!("ewpod{a}")), ewpod_ip(b)), (c.ns(&format!("ewpod{b}")), ewpod_ip(a))];
            let pinged = pings(&pairs, Duration::from_secs(30)).await?;
            for who in ["leafA"] {
                let t5 = c.evpn_type5(&c.vtysh(who)?, who).await?;
                if let Some((p, _, _)) = t5.iter().find(|(p, _, _)| p.starts_with("10.30.0.")) {
                    return Err(format!("{who} has a type-5 {p} for the disconnected segment"));
                }
            }
            for i in 0..c.nodes {
                let t5 = c.evpn_type5(&c.pe_vtysh(i), "pe").await?;
                if let Some((p, _, _)) = t5.iter().find(|(p, _, _)| p.starts_with("10.30.0.")) {
                    return Err(format!("node{i}-pe has a type-5 {p} for the disconnected segment"));
                }
            }
            Ok(format!("{pinged}; no type-5 for 10.30.0.0/24 on leafA or the PEs"))
        }
        .await,
    )
}

async fn passthrough(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let hops = c.speaker(i).next_hops("192.168.22.0/24").await?;
            if !hops.iter().any(|h| h == "192.169.30.1") {
                return Err(format!("node{i}: 192.168.22.0/24 not via 192.169.30.1 ({hops:?})"));
            }
        }
        Ok(String::new())
    })
    .await?;
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("pod{i}")), "192.168.22.2".to_string()));
        pairs.push((c.ns("hostA-default"), pod_ip(i)));
    }
    let pinged = pings(&pairs, Duration::from_secs(30)).await?;
    Ok(format!("hostA-default's 192.168.22.0/24 via 192.169.30.1 on the host speakers; {pinged}"))
}

async fn conformance(c: &Ctx<'_>) -> Check {
    let mut seen = 0;
    for i in 0..c.nodes {
        let pe_ns = node_router_ns(&c.prefix, i);
        let (ok, out) = sh(&pe_ns, &["ip", "-d", "-j", "link", "show"]).await;
        if !ok {
            return Err(format!("node{i}-pe: {out}"));
        }
        let links: Vec<Value> = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
        let by_name = |n: &str| links.iter().find(|l| l.get("ifname").and_then(Value::as_str) == Some(n));
        let kind = |l: &Value| l.pointer("/linkinfo/info_kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let master = |l: &Value| l.get("master").and_then(Value::as_str).unwrap_or_default().to_string();
        let underlay_mtu =
            by_name("toswitch").and_then(|l| l.get("mtu")).and_then(Value::as_u64).ok_or("toswitch not in the PE")?;
        let vtep = format!("100.65.0.{i}");
        for (vrf, vnis) in [("red", &[100u32, 110][..]), ("blue", &[200][..]), ("", &[300][..])] {
            if !vrf.is_empty() {
                let l = by_name(vrf).ok_or(format!("node{i}-pe: no VRF {vrf}"))?;
                if kind(l) != "vrf" {
                    return Err(format!("{vrf} is a {}", kind(l)));
                }
            }
            for vni in vnis {
                let br = format!("br-pe-{vni}");
                let vx = format!("vni{vni}");
                let b = by_name(&br).ok_or(format!("node{i}-pe: no {br}"))?;
                let x = by_name(&vx).ok_or(format!("node{i}-pe: no {vx}"))?;
                if kind(b) != "bridge" || master(b) != vrf {
                    return Err(format!(
                        "node{i}-pe: {br} kind {} master {:?}, want bridge in {vrf:?}",
                        kind(b),
                        master(b)
                    ));
                }
                let data = x.pointer("/linkinfo/info_data").cloned().unwrap_or_default();
                let checks = [
                    (kind(x) == "vxlan", "kind vxlan"),
                    (data.get("id").and_then(Value::as_u64) == Some(u64::from(*vni)), "VNI id"),
                    (data.get("port").and_then(Value::as_u64) == Some(4789), "port 4789"),
                    (data.get("learning").and_then(Value::as_bool) == Some(false), "learning off"),
                    (data.get("local").and_then(Value::as_str) == Some(vtep.as_str()), "local VTEP"),
                    (master(x) == br, "master bridge"),
                ];
                if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
                    return Err(format!("node{i}-pe: {vx} fails {what}: {x}"));
                }
                seen += 2;
            }
        }
        let gw = by_name("br-pe-110").and_then(|l| l.get("address")).and_then(Value::as_str).unwrap_or_default();
        if gw != "00:f3:00:00:00:6f" {
            return Err(format!("node{i}-pe: br-pe-110 MAC {gw}, want 00:f3:00:00:00:6f"));
        }
        // VNI veths carry VXLAN-encapsulated traffic: underlay MTU − 50. The passthrough veth
        // (`pt-ns`) is routed without encapsulation and keeps the kernel's MTU, as upstream does.
        for l in links.iter().filter(|l| {
            let name = l.get("ifname").and_then(Value::as_str);
            kind(l) == "veth" && name != Some("toswitch") && name != Some("pt-ns")
        }) {
            let mtu = l.get("mtu").and_then(Value::as_u64).unwrap_or_default();
            if mtu + 50 != underlay_mtu {
                return Err(format!(
                    "node{i}-pe: veth {} MTU {mtu}, want underlay {underlay_mtu} − 50",
                    l.get("ifname").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            seen += 1;
        }
        let (_, lo) = sh(&pe_ns, &["ip", "-4", "addr", "show", "dev", "lo"]).await;
        if !lo.contains(&format!("{vtep}/32")) {
            return Err(format!("node{i}-pe: lo lacks the VTEP {vtep}/32"));
        }
        let (_, host) = sh(&node_host_ns(&c.prefix, i), &["ip", "-4", "-br", "addr"]).await;
        for addr in
            [format!("192.169.10.{}/24", 2 + i), format!("192.169.11.{}/24", 2 + i), format!("192.169.30.{}/24", 2 + i)]
        {
            if !host.contains(&addr) {
                return Err(format!("node{i}: host side lacks {addr}:\n{host}"));
            }
        }
    }
    Ok(format!(
        "{seen} objects: VRFs, br-pe-N/vniN (id, port 4789, learning off, local VTEP, master), gateway MAC, veth MTU = underlay − 50, VTEP on lo, host-side addresses"
    ))
}

const INVALID_FILE: &str = "openpe_zz_lab_check_invalid.yaml";
const INVALID: &str = "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: lab-check-invalid, namespace: openperouter-system}\nspec:\n  vrf: invalid\n  vni: 100\n";

async fn agent_status(c: &Ctx<'_>, i: u32) -> Result<Value, String> {
    let prefix = c.prefix.clone();
    let (code, body) = tokio::task::spawn_blocking(move || pe::http_get(&prefix, i, "/status", Duration::from_secs(5)))
        .await
        .map_err(|e| e.to_string())??;
    if code != 200 {
        return Err(format!("/status answered {code}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("/status: {e}"))
}

async fn invalid_resource(c: &Ctx<'_>) -> Check {
    let path = pe::config_dir(&c.lab.options.dir(), 0).join(INVALID_FILE);
    std::fs::write(&path, INVALID).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let result = async {
        let reason = eventually(Duration::from_secs(30), || async {
            let st = agent_status(c, 0).await?;
            let failed = st.get("failedResources").cloned().unwrap_or_default();
            let text = failed.to_string();
            if text.contains("lab-check-invalid") { Ok(text) } else { Err(format!("not reported yet: {text}")) }
        })
        .await?;
        // Everything else untouched: sessions, pod traffic, L2.
        underlay_sessions(c).await?;
        pings(
            &[(c.ns("pod0"), "192.168.20.2".into()), (c.ns("l2pod0"), "192.168.20.2".into())],
            Duration::from_secs(10),
        )
        .await?;
        Ok::<String, String>(format!("reported in node0's /status: {}", truncate(&reason, 140)))
    }
    .await;
    let _ = std::fs::remove_file(&path);
    let cleared = eventually(Duration::from_secs(30), || async {
        let st = agent_status(c, 0).await?;
        let text = st.get("failedResources").cloned().unwrap_or_default().to_string();
        if text.contains("lab-check-invalid") { Err("still reported after removal".into()) } else { Ok(String::new()) }
    })
    .await;
    let r = result?;
    cleared?;
    Ok(format!("{r}; cleared after removal"))
}

/// A prefix only this scenario uses: a connected subnet on leafA's VRF red side.
const WITHDRAW_PREFIX: &str = "192.168.120.0/24";

/// The kernel route for `prefix` in `ns` (in `vrf` when given), if any.
async fn kernel_route(ns: &str, vrf: Option<&str>, prefix: &str) -> String {
    let mut argv = vec!["ip", "route", "show"];
    if let Some(v) = vrf {
        argv.extend(["vrf", v]);
    }
    argv.push(prefix);
    sh(ns, &argv).await.1.trim().to_string()
}

async fn type5_withdraw(c: &Ctx<'_>) -> Check {
    let leaf = c.ns("leafA");
    let gateway = "192.168.120.1/24";
    let (ok, out) = sh(&leaf, &["ip", "addr", "add", gateway, "dev", "ethred"]).await;
    if !ok {
        return Err(format!("cannot add {gateway} on leafA: {}", last_line(&out)));
    }
    let appeared = eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let pe = kernel_route(&node_router_ns(&c.prefix, i), Some("red"), WITHDRAW_PREFIX).await;
            if !pe.contains("via 100.64.0.1") {
                return Err(format!("node{i}-pe VRF red: no route {WITHDRAW_PREFIX} via leafA's VTEP ({pe:?})"));
            }
            let host = kernel_route(&node_host_ns(&c.prefix, i), None, WITHDRAW_PREFIX).await;
            if !host.contains("via 192.169.10.1") {
                return Err(format!("node{i}'s host speaker: no route {WITHDRAW_PREFIX} via the PE ({host:?})"));
            }
            let blue = kernel_route(&node_router_ns(&c.prefix, i), Some("blue"), WITHDRAW_PREFIX).await;
            if !blue.is_empty() {
                return Err(format!("node{i}-pe: {WITHDRAW_PREFIX} leaked into VRF blue ({blue:?})"));
            }
        }
        Ok(String::new())
    })
    .await;
    let start = Instant::now();
    let (ok, out) = sh(&leaf, &["ip", "addr", "del", gateway, "dev", "ethred"]).await;
    appeared?;
    if !ok {
        return Err(format!("cannot remove {gateway} from leafA: {}", last_line(&out)));
    }
    eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let pe = kernel_route(&node_router_ns(&c.prefix, i), Some("red"), WITHDRAW_PREFIX).await;
            let host = kernel_route(&node_host_ns(&c.prefix, i), None, WITHDRAW_PREFIX).await;
            if !pe.is_empty() || !host.is_empty() {
                return Err(format!("node{i}: {WITHDRAW_PREFIX} still routed (PE {pe:?}, host {host:?})"));
            }
        }
        Ok(String::new())
    })
    .await?;
    Ok(format!(
        "leafA's new {WITHDRAW_PREFIX} reached every PE's VRF red (not blue) and host speaker; withdrawn everywhere {:.1} s after leafA dropped it",
        start.elapsed().as_secs_f64()
    ))
}

/// `name → ifindex` of the links in `ns`.
async fn ifindexes(ns: &str) -> std::collections::BTreeMap<String, u32> {
    let (_, out) = sh(ns, &["ip", "-o", "link", "show"]).await;
    out.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            let index = parts.next()?.trim().parse().ok()?;
            let name = parts.next()?.split('@').next()?.to_string();
            Some((name, index))
        })
        .collect()
}

/// The lab's PE configuration without the documents of the given kinds/names.
fn config_without(drop: &[(&str, &str)]) -> String {
    pe::DEFAULT_PE_CONFIG
        .split("\n---\n")
        .filter(|doc| {
            !drop.iter().any(|(kind, name)| {
                doc.lines().any(|l| l.trim() == format!("kind: {kind}"))
                    && doc.lines().any(|l| l.contains(&format!("name: {name},")) || l.trim() == format!("name: {name}"))
            })
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

async fn config_removal(c: &Ctx<'_>) -> Option<Check> {
    // The last node: the scenarios after this one (FRR killed, namespace deleted) use node0.
    let i = c.nodes.checked_sub(1).filter(|i| *i > 0)?;
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let run = async {
        let before_router = ifindexes(&router).await;
        let before_host = ifindexes(&host).await;
        // 1. The disconnected L2VNI goes: exactly its five objects leave.
        let write = |text: String| std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()));
        write(config_without(&[("L2VNI", "east-west")]))?;
        let l2_objects = [(&router, "vni300"), (&router, "br-pe-300"), (&router, "pe-e-300"), (&host, "host-e-300"), (&host, "br-hs-300")];
        eventually(Duration::from_secs(60), || async {
            let (r, h) = (ifindexes(&router).await, ifindexes(&host).await);
            let left: Vec<&str> =
                l2_objects.iter().filter(|(ns, n)| if *ns == &router { r.contains_key(*n) } else { h.contains_key(*n) }).map(|(_, n)| *n).collect();
            if left.is_empty() { Ok(String::new()) } else { Err(format!("still there: {left:?}")) }
        })
        .await?;
        let (r, h) = (ifindexes(&router).await, ifindexes(&host).await);
        for (ns, before, now) in [(&router, &before_router, &r), (&host, &before_host, &h)] {
            for (name, index) in before.iter() {
                if l2_objects.iter().any(|(_, n)| n == name) {
                    continue;
                }
                if now.get(name) != Some(index) {
                    return Err(format!("{ns}: {name} was touched (ifindex {index} → {:?})", now.get(name)));
                }
            }
        }
        // 2. The Underlay goes: nothing of ours is left and the NIC is back in the host with its
        //    address.
        write(config_without(&[("L2VNI", "east-west"), ("Underlay", "underlay")]))?;
        let nic_addr = format!("{}/24", crate::fabric::node_underlay_ip(i));
        eventually(Duration::from_secs(60), || async {
            let (_, nic) = sh(&host, &["ip", "addr", "show", "dev", "toswitch"]).await;
            if !nic.contains(&nic_addr) {
                return Err(format!("toswitch not back in node{i} with {nic_addr}: {}", last_line(&nic)));
            }
            let r = ifindexes(&router).await;
            let ours: Vec<&String> = r.keys().filter(|n| *n != "lo").collect();
            if !ours.is_empty() {
                return Err(format!("left in the router namespace: {ours:?}"));
            }
            let h = ifindexes(&host).await;
            let ours: Vec<&String> =
                h.keys().filter(|n| n.starts_with("host-e-") || n.starts_with("br-hs-") || *n == "pt-host").collect();
            if ours.is_empty() { Ok(String::new()) } else { Err(format!("left in the host namespace: {ours:?}")) }
        })
        .await?;
        Ok::<String, String>(format!(
            "node{i}: without L2VNI east-west exactly vni300, br-pe-300, pe-e-300, host-e-300, br-hs-300 went (the other {} links kept their ifindex); without the Underlay nothing of ours was left and toswitch came back with {nic_addr}",
            before_router.len() + before_host.len() - l2_objects.len()
        ))
    }
    .await;
    // Always restore the configuration and wait for the node to serve again.
    let restored = async {
        std::fs::write(&path, pe::DEFAULT_PE_CONFIG).map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(90), || async {
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            if ready.contains("\"Ready\"") && ready.contains("\"True\"") {
                Ok(String::new())
            } else {
                Err(format!("node{i} not Ready: {ready}"))
            }
        })
        .await?;
        // Ready can still be the status of the configuration without the Underlay: wait for the
        // restored host bridges themselves (a loaded machine may need a while to rebuild them).
        eventually(Duration::from_secs(120), || async {
            let h = ifindexes(&host).await;
            let missing: Vec<&str> = ["br-hs-110", "br-hs-300"].into_iter().filter(|b| !h.contains_key(*b)).collect();
            if missing.is_empty() { Ok(String::new()) } else { Err(format!("{host}: {missing:?} not rebuilt yet")) }
        })
        .await?;
        crate::control::attach_pods(c.lab).await.map_err(|e| e.to_string())?;
        underlay_sessions(c).await?;
        host_sessions(c).await?;
        let (a, b) = (c.nodes - 1, 0);
        pings(
            &[(c.ns(&format!("ewpod{a}")), ewpod_ip(b)), (c.ns(&format!("pod{a}")), "192.168.20.2".to_string())],
            Duration::from_secs(30),
        )
        .await
    }
    .await;
    Some(match (run, restored) {
        (Ok(done), Ok(_)) => Ok(format!("{done}; restored: Ready, sessions up, traffic back")),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(format!("did not recover after the configuration was restored: {e}")),
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// Pings `dst` from `ns` every 300 ms (`count` probes) in the background: `(sent, received)`.
fn probe(ns: String, dst: String, count: u32) -> tokio::task::JoinHandle<(u32, u32)> {
    tokio::spawn(async move {
        let (_, out) = sh(&ns, &["ping", "-n", "-q", "-i", "0.3", "-W", "1", "-c", &count.to_string(), &dst]).await;
        // "N packets transmitted, M received, …"
        let line = out.lines().find(|l| l.contains("packets transmitted")).unwrap_or_default();
        let nums: Vec<u32> = line.split(|ch: char| !ch.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
        (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0))
    })
}

/// Probes (one every 300 ms) a graceful FRR restart may lose.
const MAX_LOST_WITH_GR: u32 = 5;

/// The first FRR release whose graceful-restart helper keeps a restarting peer's EVPN routes
/// (older ones withdraw them at once and keep only the unicast ones).
const FRR_EVPN_GR_HELPER: (u32, u32) = (10, 6);

/// `(major, minor)` from `show version` ("FRRouting 8.4.4 (tor) on Linux…").
fn frr_version(show_version: &str) -> Option<(u32, u32)> {
    let v = show_version.split_whitespace().skip_while(|w| *w != "FRRouting").nth(1)?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

async fn frr_kill(c: &Ctx<'_>) -> Check {
    let dir = c.lab.options.dir().join("node0-pe").join("run");
    let pe_ns = node_router_ns(&c.prefix, 0);
    // With BGP graceful restart the peers hold the PE's routes and zebra keeps the kernel's
    // while FRR comes back: forwarding must go on (a handful of probes may be lost).
    let running = c.pe_vtysh(0).show_running_config().await.map_err(|e| format!("node0-pe: {e}"))?;
    let graceful = running.lines().any(|l| l.trim() == "bgp graceful-restart");
    let tor_version = c.vtysh("tor")?.exec(&["show version"]).await.map_err(|e| format!("tor: {e}"))?;
    let evpn_helper = frr_version(&tor_version).is_some_and(|v| v >= FRR_EVPN_GR_HELPER);
    // Two paths to pod0, probed at once: L3VNI red (type-5 routes through the ToR) and the
    // passthrough (plain IPv4 unicast through the ToR). 60 probes × 300 ms = 18 s, inside
    // `sh`'s 30 s limit.
    let probes = probe(c.ns("hostA-red"), pod_ip(0), 60);
    let plain = probe(c.ns("hostA-default"), pod_ip(0), 60);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut killed = Vec::new();
    for d in ["bgpd", "zebra"] {
        let pid = std::fs::read_to_string(dir.join(format!("{d}.pid"))).map_err(|e| format!("{d}.pid: {e}"))?;
        let pid: i32 = pid.trim().parse().map_err(|e| format!("{d}.pid: {e}"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| format!("kill {d}: {e}"))?;
        killed.push(format!("{d}[{pid}]"));
    }
    let killed_at = Instant::now();
    let links = ifindexes(&pe_ns).await;
    for obj in ["red", "blue", "br-pe-100", "vni100", "br-pe-110", "vni110", "toswitch"] {
        if !links.contains_key(obj) {
            return Err(format!("{obj} vanished when FRR was killed"));
        }
    }
    underlay_sessions(c).await.map_err(|e| format!("sessions did not come back: {e}"))?;
    host_sessions(c).await.map_err(|e| format!("host sessions did not come back: {e}"))?;
    let back = killed_at.elapsed();
    let (sent, received) = probes.await.map_err(|e| e.to_string())?;
    let (plain_sent, plain_received) = plain.await.map_err(|e| e.to_string())?;
    ping(&c.ns("hostA-red"), &pod_ip(0)).await?;
    ping(&c.ns("hostA-default"), &pod_ip(0)).await?;
    let lost = sent.saturating_sub(received);
    let plain_lost = plain_sent.saturating_sub(plain_received);
    let judged = |on: bool| if on { "" } else { ", not judged" };
    let mut detail = format!(
        "killed {} of node0-pe: netns and kernel objects stayed; sessions back in {:.1} s\n\
         probes every 300 ms to pod0 lost: passthrough (hostA-default) {plain_lost} of {plain_sent}{}; \
         L3VNI red (hostA-red) {lost} of {sent}{}",
        killed.join(" "),
        back.as_secs_f64(),
        judged(graceful),
        judged(graceful && evpn_helper),
    );
    if !graceful {
        detail.push_str("\n(no graceful restart configured)");
    } else if !evpn_helper {
        detail.push_str(&format!(
            "\n(the ToR's FRR {} withdraws EVPN routes of a restarting peer: FRR ≥ {}.{} keeps them)",
            frr_version(&tor_version).map_or("?".to_string(), |(a, b)| format!("{a}.{b}")),
            FRR_EVPN_GR_HELPER.0,
            FRR_EVPN_GR_HELPER.1
        ));
    }
    if graceful && (plain_lost > MAX_LOST_WITH_GR || (evpn_helper && lost > MAX_LOST_WITH_GR)) {
        return Err(format!("{detail}\nmore than {MAX_LOST_WITH_GR} probes lost"));
    }
    Ok(detail)
}

async fn netns_delete(c: &Ctx<'_>) -> Check {
    let pe_ns = node_router_ns(&c.prefix, 0);
    let start = Instant::now();
    crate::netns::delete(&pe_ns).map_err(|e| e.to_string())?;
    // The moved NIC died with the namespace (and its switch port with it): recreate both, as
    // upstream's check_veths does, once the old pair is gone (FRR still running in the deleted
    // namespace keeps it alive until the agent restarts FRR into the new one).
    let nic = node_nic(&c.prefix, 0);
    let rt = tokio::runtime::Handle::current();
    eventually(Duration::from_secs(90), || {
        let nic = nic.clone();
        let rt = rt.clone();
        async move {
            let mut handles = std::collections::BTreeMap::new();
            for ns in [&nic.a.ns, &nic.b.ns] {
                let (n, r) = (ns.clone(), rt.clone());
                let h = tokio::task::spawn_blocking(move || crate::netns::netlink_in(&n, &r))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                handles.insert(ns.clone(), h);
            }
            crate::build::build_veth(&handles, &nic).await.map_err(|e| e.to_string())?;
            Ok(String::new())
        }
    })
    .await?;
    let recreated = start.elapsed();
    eventually(Duration::from_secs(90), || async {
        let (code, body) = {
            let prefix = c.prefix.clone();
            tokio::task::spawn_blocking(move || pe::http_get(&prefix, 0, "/readyz", Duration::from_secs(3)))
                .await
                .map_err(|e| e.to_string())??
        };
        if code == 200 { Ok(String::new()) } else { Err(format!("agent not Ready: {}", body.trim())) }
    })
    .await?;
    let rebuilt = start.elapsed();
    underlay_sessions(c).await?;
    host_sessions(c).await?;
    let mut pairs = vec![(c.ns("pod0"), "192.168.20.2".to_string()), (c.ns("hostA-red"), pod_ip(0))];
    if c.nodes >= 2 {
        pairs.push((c.ns("l2pod0"), l2pod_ip(1)));
    }
    pings(&pairs, Duration::from_secs(60)).await?;
    Ok(format!(
        "NIC recreated at {:.1} s, agent Ready again at {:.1} s, sessions and traffic back at {:.1} s",
        recreated.as_secs_f64(),
        rebuilt.as_secs_f64(),
        start.elapsed().as_secs_f64()
    ))
}

/// Runs every scenario against `lab` (which must run its PEs); `progress` gets each outcome as
/// it completes.
pub async fn run(lab: &Lab, progress: &mut (dyn FnMut(&Outcome) + Send)) -> Report {
    let c = Ctx { lab, prefix: lab.options.spec.prefix.clone(), nodes: lab.options.spec.nodes };
    let mut report = Report::default();
    let mut record = |name: &'static str, start: Instant, result: Option<Check>| {
        let (verdict, detail) = match result {
            Some(Ok(d)) => (Verdict::Pass, d),
            Some(Err(e)) => (Verdict::Fail, e),
            None => (Verdict::Skip, "needs at least two nodes".to_string()),
        };
        let o = Outcome { name, verdict, took: start.elapsed(), detail };
        progress(&o);
        report.outcomes.push(o);
    };
    if !lab.with_pe {
        let o = Outcome {
            name: "PEs running",
            verdict: Verdict::Fail,
            took: Duration::ZERO,
            detail: "this lab was brought up with --no-pe: nothing to check".into(),
        };
        progress(&o);
        report.outcomes.push(o);
        return report;
    }
    macro_rules! step {
        ($name:expr, $e:expr) => {{
            let start = Instant::now();
            let r = $e;
            record($name, start, r);
        }};
    }
    step!("underlay sessions", Some(underlay_sessions(&c).await));
    step!("host sessions", Some(host_sessions(&c).await));
    step!("VTEP reachability", Some(vteps(&c).await));
    step!("type-5 import (right VRF only)", Some(type5_import(&c).await));
    step!("EVPN → host speaker (plain BGP)", Some(evpn_to_host(&c).await));
    step!("type-5 export to the leaves", Some(type5_export(&c).await));
    step!("L3 pod ↔ external hosts", Some(l3_pods(&c).await));
    step!("stretched L2 (VNI 110)", l2_stretch(&c).await);
    step!("anycast gateway L2 → L3", Some(anycast_gateway(&c).await));
    step!("disconnected L2VNI (300)", disconnected_l2(&c).await);
    step!("passthrough both ways", Some(passthrough(&c).await));
    step!("kernel conformance", Some(conformance(&c).await));
    step!("invalid resource", Some(invalid_resource(&c).await));
    step!("type-5 withdrawn by the leaf", Some(type5_withdraw(&c).await));
    step!("VNI, Underlay removed from config", config_removal(&c).await);
    step!("FRR killed (bgpd+zebra -9)", Some(frr_kill(&c).await));
    step!("router netns deleted", Some(netns_delete(&c).await));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_dropped_from_the_pe_configuration_by_kind_and_name() {
        let full = config_without(&[]);
        assert_eq!(full, pe::DEFAULT_PE_CONFIG);
        let less = config_without(&[("L2VNI", "east-west"), ("Underlay", "underlay")]);
        assert!(!less.contains("kind: Underlay") && !less.contains("name: east-west"), "{less}");
        for kept in ["name: red,", "name: blue,", "name: red-l2,", "kind: L3Passthrough"] {
            assert!(less.contains(kept), "{kept} dropped:\n{less}");
        }
    }

    #[test]
    fn frr_versions_are_read_from_show_version() {
        assert_eq!(frr_version("FRRouting 8.4.4 (tor) on Linux(6.1.0).\nCopyright"), Some((8, 4)));
        assert_eq!(frr_version("FRRouting 10.6.0-dev (x) on Linux"), Some((10, 6)));
        assert_eq!(frr_version("something else"), None);
        assert!(frr_version("FRRouting 10.6.1 (x)").is_some_and(|v| v >= FRR_EVPN_GR_HELPER));
        assert!(frr_version("FRRouting 9.1 (x)").is_some_and(|v| v < FRR_EVPN_GR_HELPER));
    }
}
