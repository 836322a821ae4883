//! The SRv6 fabric's scenarios (`lab up --fabric srv6`): VRF red is an L3VPN carried over SRv6
//! between the PEs and the SRv6 leaf `leafS`, beside VRF blue over EVPN. IS-IS spreads the
//! locators, the VPN routes land in VRF red only and reach the host speakers as plain BGP, pods
//! and the leaf's host talk both ways as IPv6 packets to the SIDs on the wire, the L2VNI routed
//! through the L3VPN reaches the leaf's host, and removing the L3VPN removes exactly its objects.

use std::time::Duration;

use serde_json::Value;

use super::config::{agent_status, config_without};
use super::ctx::*;
use super::view;
use crate::fabric::srv6::{HOST, HOST_NET, LEAF_LOCATOR, LEAF_LOOPBACK, pe_locator};
use crate::fabric::{l2pod_ip, node_host_ns, node_router_ns, pod_ip};
use crate::pe;

pub(super) async fn vpn_sessions(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(90), || async {
        for i in 0..c.nodes {
            c.established(&c.pe_vtysh(i), &format!("node{i}-pe"), &[LEAF_LOOPBACK.to_string()]).await?;
        }
        Ok(format!("{} PEs ↔ leafS ({LEAF_LOOPBACK}) Established, loopback to loopback", c.nodes))
    })
    .await
}

/// The prefixes of `show ipv6 route json` (FRR's RIB: every protocol).
async fn ipv6_rib(vtysh: &frr::Vtysh, who: &str) -> Result<Vec<String>, String> {
    let rib: Value = vtysh.json("show ipv6 route json").await.map_err(|e| format!("{who}: {e}"))?;
    Ok(rib.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default())
}

pub(super) async fn locators(c: &Ctx<'_>) -> Check {
    let leaf = c.vtysh("leafS")?;
    let tor = c.vtysh("tor")?;
    eventually(Duration::from_secs(90), || async {
        // The ToR's adjacencies: every PE on the switch LAN, leafS on its point-to-point link.
        let adjacencies = tor.exec(&["show isis neighbor"]).await.map_err(|e| format!("tor: {e}"))?;
        for (system, link) in
            (0..c.nodes).map(|i| (format!("node{i}-pe"), "toswitch")).chain([("leafS".into(), "toleafS")])
        {
            let up = adjacencies.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.first() == Some(&system.as_str()) && words.contains(&link) && words.contains(&"Up")
            });
            if !up {
                return Err(format!(
                    "tor: no IS-IS adjacency Up with {system} on {link}: {}",
                    truncate(&adjacencies, 300)
                ));
            }
        }
        let rib = ipv6_rib(&leaf, "leafS").await?;
        for i in 0..c.nodes {
            if !rib.contains(&pe_locator(i)) {
                return Err(format!("leafS has no route to node{i}'s locator {}", pe_locator(i)));
            }
            let pe_rib = ipv6_rib(&c.pe_vtysh(i), &format!("node{i}-pe")).await?;
            if !pe_rib.iter().any(|p| p == LEAF_LOCATOR) {
                return Err(format!("node{i}-pe has no route to leafS's locator {LEAF_LOCATOR}"));
            }
        }
        let locators: Vec<String> = (0..c.nodes).map(pe_locator).collect();
        Ok(format!(
            "IS-IS adjacencies Up on the ToR ({} PEs, leafS); leafS reaches {} and every PE reaches {LEAF_LOCATOR}",
            c.nodes,
            locators.join(", ")
        ))
    })
    .await
}

pub(super) async fn vpn_routes(c: &Ctx<'_>) -> Check {
    let leaf = c.vtysh("leafS")?;
    eventually(Duration::from_secs(60), || async {
        let mut seen = Vec::new();
        for i in 0..c.nodes {
            let who = format!("node{i}-pe");
            let sid = over_srv6(&c.pe_vtysh(i), &who, HOST_NET, LEAF_LOCATOR).await?;
            if view::route_to(&node_router_ns(&c.prefix, i), Some("blue"), HOST_NET)?.is_some() {
                return Err(format!("{who}: {HOST_NET} leaked into VRF blue"));
            }
            let back = over_srv6(&leaf, "leafS", &pod_prefix(i), &pe_locator(i)).await?;
            seen.push(format!("node{i} {HOST_NET} → {sid}, leafS {} → {back}", pod_prefix(i)));
        }
        Ok(format!("VRF red over SRv6 (nothing in VRF blue): {}", seen.join("; ")))
    })
    .await
}

/// The SIDs zebra routes `prefix` of VRF `vrf` to (`seg6.segs` of its nexthops): the route is
/// carried over SRv6 when there is one.
async fn segs(vtysh: &frr::Vtysh, who: &str, vrf: &str, prefix: &str) -> Result<Vec<String>, String> {
    let rib: Value =
        vtysh.json(&format!("show ip route vrf {vrf} {prefix} json")).await.map_err(|e| format!("{who}: {e}"))?;
    let routes = rib.get(prefix).and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(routes
        .iter()
        .flat_map(|r| r.get("nexthops").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|n| n.pointer("/seg6/segs").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// The SID of `locator` (`fd00:0:64::/48`) that `prefix` in VRF red of `who` is routed to.
async fn over_srv6(vtysh: &frr::Vtysh, who: &str, prefix: &str, locator: &str) -> Result<String, String> {
    let sids = segs(vtysh, who, "red", prefix).await?;
    let block = format!("{}:", locator.trim_end_matches("::/48"));
    match sids.iter().find(|s| s.starts_with(&block)) {
        Some(sid) => Ok(sid.clone()),
        None => Err(format!("{who} VRF red: {prefix} is not routed to a SID of {locator} (SIDs: {sids:?})")),
    }
}

fn pod_prefix(i: u32) -> String {
    crate::fabric::pod_prefix(i)
}

pub(super) async fn vpn_to_host(c: &Ctx<'_>) -> Check {
    eventually(Duration::from_secs(60), || async {
        for i in 0..c.nodes {
            let hops = c.speaker(i).next_hops(HOST_NET).await?;
            if !hops.iter().any(|h| h == "192.169.10.1") {
                return Err(format!("node{i}: {HOST_NET} not via the PE's VRF red (192.169.10.1): {hops:?}"));
            }
        }
        Ok(format!("every host speaker learned {HOST_NET} via 192.169.10.1 as plain BGP"))
    })
    .await
}

pub(super) async fn pods_and_host(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("pod{i}")), HOST.to_string()));
        pairs.push((c.ns("hostS-red"), pod_ip(i)));
        pairs.push((c.ns("hostS-red"), format!("192.169.10.{}", 2 + i)));
    }
    pings(&pairs, Duration::from_secs(60)).await
}

/// A capture on the ToR's link to leafS while hostS-red pings pod0: the packets are IPv6 with a
/// segment routing header, to node0's SID one way and to leafS's the other.
pub(super) async fn on_the_wire(c: &Ctx<'_>) -> Check {
    let tor = c.ns("tor");
    let mut capture = tokio::process::Command::new("ip");
    capture
        .args(["netns", "exec", &tor, "timeout", "20", "tcpdump", "-l", "-n", "-c", "4", "-i", "toleafS"])
        .args(["ip6 and ip6[6] == 43"])
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let child = capture.spawn().map_err(|e| format!("cannot run tcpdump in {tor}: {e}"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (ok, out) = sh(&c.ns("hostS-red"), &["ping", "-c4", "-i0.3", "-W1", "-n", &pod_ip(0)]).await;
    if !ok {
        return Err(format!("ping hostS-red → pod0 failed: {}", last_line(&out)));
    }
    let output = child.wait_with_output().await.map_err(|e| format!("tcpdump: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let node0_sid = pe_locator(0).trim_end_matches("::/48").to_string();
    let leaf_sid = LEAF_LOCATOR.trim_end_matches("::/48").to_string();
    let to_pe =
        text.lines().any(|l| l.contains("RT6") && l.contains(&format!("> {node0_sid}:")) && l.contains(&pod_ip(0)));
    let to_leaf = text.lines().any(|l| l.contains("RT6") && l.contains(&format!("> {leaf_sid}:")) && l.contains(HOST));
    if !(to_pe && to_leaf) {
        return Err(format!(
            "no SRv6 packets both ways on tor/toleafS (to {node0_sid}: {to_pe}, to {leaf_sid}: {to_leaf}): {}",
            truncate(&text, 600)
        ));
    }
    let sample = text.lines().next().unwrap_or_default();
    Ok(format!("on tor/toleafS, IPv6 with a segment routing header both ways, e.g. `{}`", truncate(sample, 160)))
}

pub(super) async fn l2_through_l3vpn(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("l2pod{i}")), HOST.to_string()));
        pairs.push((c.ns("hostS-red"), l2pod_ip(i)));
    }
    let pinged = pings(&pairs, Duration::from_secs(60)).await?;
    let leaf = c.vtysh("leafS")?;
    // Every node announces the segment's gateway subnet: a SID of any node's locator will do.
    let sids = segs(&leaf, "leafS", "red", "192.171.24.0/24").await?;
    let blocks: Vec<String> = (0..c.nodes).map(|i| format!("{}:", pe_locator(i).trim_end_matches("::/48"))).collect();
    let ours: Vec<&String> = sids.iter().filter(|s| blocks.iter().any(|b| s.starts_with(b.as_str()))).collect();
    if ours.is_empty() {
        return Err(format!("leafS VRF red: 192.171.24.0/24 is not routed to a PE's SID ({sids:?})"));
    }
    Ok(format!("{pinged}; leafS routes the segment's 192.171.24.0/24 to {ours:?}"))
}

pub(super) async fn l3vni_beside(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("pod{i}")), "192.169.21.2".to_string()));
        pairs.push((c.ns("hostB-blue"), pod_ip(i)));
    }
    let pinged = pings(&pairs, Duration::from_secs(60)).await?;
    Ok(format!("VRF blue over EVPN beside VRF red over SRv6: {pinged}"))
}

/// Removes L3VPN red and the L2VNI routed through it from the last node's configuration: exactly
/// their objects leave; then the configuration comes back and so does the traffic.
pub(super) async fn l3vpn_removal(c: &Ctx<'_>) -> Option<Check> {
    let i = c.nodes.checked_sub(1).filter(|i| *i > 0)?;
    let base = pe::SRV6_PE_CONFIG;
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let theirs = [
        (&router, "red"),
        (&router, "pe-s-100"),
        (&host, "host-s-100"),
        (&router, "vni110"),
        (&router, "br-pe-110"),
        (&router, "pe-e-110"),
        (&host, "host-e-110"),
        (&host, "br-hs-110"),
    ];
    let run = async {
        let (before_router, before_host) = (view::ifindexes(&router), view::ifindexes(&host));
        std::fs::write(&path, config_without(base, &[("L3VPN", "red"), ("L2VNI", "red-l2")]))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(60), || async {
            let (r, h) = (view::ifindexes(&router), view::ifindexes(&host));
            let left: Vec<&str> = theirs
                .iter()
                .filter(|(ns, n)| if *ns == &router { r.contains_key(*n) } else { h.contains_key(*n) })
                .map(|(_, n)| *n)
                .collect();
            if left.is_empty() { Ok(String::new()) } else { Err(format!("still there: {left:?}")) }
        })
        .await?;
        let (r, h) = (view::ifindexes(&router), view::ifindexes(&host));
        for (ns, before, now) in [(&router, &before_router, &r), (&host, &before_host, &h)] {
            for (name, index) in before.iter() {
                if theirs.iter().any(|(_, n)| n == name) {
                    continue;
                }
                if now.get(name) != Some(index) {
                    return Err(format!("{ns}: {name} was touched (ifindex {index} → {:?})", now.get(name)));
                }
            }
        }
        let blue = pings(&[(c.ns(&format!("pod{i}")), "192.169.21.2".to_string())], Duration::from_secs(30)).await?;
        Ok::<String, String>(format!(
            "node{i}: exactly VRF red, pe-s-100, host-s-100 and L2VNI 110's five links went (the other {} kept their ifindex); {blue} still",
            before_router.len() + before_host.len() - theirs.len()
        ))
    }
    .await;
    let restored = async {
        std::fs::write(&path, base).map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(120), || async {
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            let h = view::ifindexes(&host);
            if ready.contains("\"Ready\"") && ready.contains("\"True\"") && h.contains_key("br-hs-110") {
                Ok(String::new())
            } else {
                Err(format!("node{i} not Ready with br-hs-110 yet: {ready}"))
            }
        })
        .await?;
        crate::control::attach_pods(c.lab).await.map_err(|e| e.to_string())?;
        pings(
            &[(c.ns(&format!("pod{i}")), HOST.to_string()), (c.ns(&format!("l2pod{i}")), HOST.to_string())],
            // Once in four runs on FRR 10.3 the route back took more than 60 s to return.
            Duration::from_secs(150),
        )
        .await
    }
    .await;
    Some(match (run, restored) {
        (Ok(done), Ok(_)) => Ok(format!("{done}; restored: Ready, traffic to hostS-red back")),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(format!(
            "did not recover after the configuration was restored: {e}; where the path stands: {}",
            restore_diagnosis(c, i).await
        )),
    })
}

/// Where the path pod → hostS-red → pod stands on node `i` and leafS, for a restore that did not
/// bring the traffic back: the route to the host and its SID on the PE, the PE's SIDs as bgpd and
/// zebra know them, and the route back on leafS.
async fn restore_diagnosis(c: &Ctx<'_>, i: u32) -> String {
    let pe = c.pe_vtysh(i);
    let mut parts = Vec::new();
    let there = segs(&pe, "pe", "red", HOST_NET).await;
    parts.push(format!("node{i}-pe {HOST_NET} in red → SIDs {there:?}"));
    if let Ok(leaf) = c.vtysh("leafS") {
        let back = segs(&leaf, "leafS", "red", &pod_prefix(i)).await;
        parts.push(format!("leafS {} in red → SIDs {back:?}", pod_prefix(i)));
        let vpn = leaf.exec(&[&format!("show bgp ipv4 vpn {}", pod_prefix(i))]).await;
        parts.push(format!("leafS bgp: {}", truncate(&vpn.map_err(|e| e.to_string()).unwrap_or_else(|e| e), 600)));
    }
    for cmd in
        ["show bgp segment-routing srv6", "show segment-routing srv6 sid", "show bgp vrf red ipv4 unicast summary"]
    {
        let out = pe.exec(&[cmd]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
        parts.push(format!("node{i}-pe `{cmd}`: {}", truncate(&out, 700)));
    }
    let host = c.speaker(i).next_hops(HOST_NET).await;
    parts.push(format!("node{i}'s host speaker: {HOST_NET} via {host:?}"));
    let red = pe.exec(&["show ip route vrf red"]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
    let red: Vec<&str> = red.lines().filter(|l| l.contains('/')).collect();
    parts.push(format!("node{i}-pe VRF red routes: {red:?}"));
    let rib = pe.exec(&["show ipv6 route"]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
    let local: Vec<&str> = rib.lines().filter(|l| l.contains("seg6local")).collect();
    parts.push(format!("node{i}-pe seg6local routes: {local:?}"));
    // Whether zebra installed the route to the host, and what the kernel holds in VRF red.
    let detail = format!("show ip route vrf red {HOST_NET}");
    let out = pe.exec(&[&detail]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
    parts.push(format!("node{i}-pe `{detail}`: {}", truncate(&out, 900)));
    let router = node_router_ns(&c.prefix, i);
    for argv in [&["ip", "route", "show", "vrf", "red"][..], &["ip", "-d", "link", "show", "red"][..]] {
        let (_, out) = sh(&router, argv).await;
        parts.push(format!("{router} `{}`: {}", argv.join(" "), truncate(&out, 700)));
    }
    // The kernel's own SRv6 routes: zebra's view above may name a device the kernel lost.
    let (_, out) = sh(&router, &["ip", "-6", "route", "show", "table", "all"]).await;
    let seg6: Vec<&str> = out.lines().filter(|l| l.contains("seg6")).collect();
    parts.push(format!("{router} kernel SRv6 routes: {seg6:?}"));
    // What zebra and bgpd logged about the VRF, its SIDs and failures.
    let logs = pe::pe_instance(&c.prefix, &c.lab.options.dir(), i).log_tail(400);
    let notable: Vec<&str> = logs
        .lines()
        .filter(|l| {
            l.starts_with("---") || ["red", "SID", "sid", "srv6", "SRv6", "fail", "rror"].iter().any(|w| l.contains(w))
        })
        .collect();
    let notable = notable[notable.len().saturating_sub(60)..].join("\n");
    parts.push(format!("node{i}-pe logs (lines on VRF red, SIDs, failures):\n{notable}"));
    parts.join(" | ")
}
