//! Real packets: L3 pods and external hosts, the stretched L2 segment and its anycast gateway,
//! the disconnected L2VNI, the passthrough.

use std::net::IpAddr;
use std::time::Duration;

use frr::state::{EvpnRouteKey, EvpnRouteType};

use super::ctx::*;
use super::view;
use crate::fabric::{ewpod_ip, l2pod_ip, node_router_ns, pod_ip};

pub(super) async fn l3_pods(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("pod{i}")), "192.168.20.2".to_string()));
        pairs.push((c.ns(&format!("pod{i}")), "192.169.21.2".to_string()));
        pairs.push((c.ns("hostA-red"), pod_ip(i)));
        pairs.push((c.ns("hostB-blue"), pod_ip(i)));
    }
    pings(&pairs, Duration::from_secs(30)).await
}

pub(super) async fn l2_stretch(c: &Ctx<'_>) -> Option<Check> {
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
                let fdb = view::fdb(&pe_ns, "vni110")?;
                if fdb.iter().any(|(m, dst)| m.eq_ignore_ascii_case(&mac) && *dst == Some(other_vtep)) {
                    Ok(String::new())
                } else {
                    Err(format!("node{a}-pe vni110 FDB lacks {mac} dst {other_vtep}: {fdb:?}"))
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

pub(super) async fn anycast_gateway(c: &Ctx<'_>) -> Check {
    let mut pairs = Vec::new();
    for i in 0..c.nodes {
        pairs.push((c.ns(&format!("l2pod{i}")), "192.168.20.2".to_string()));
        pairs.push((c.ns("hostA-red"), l2pod_ip(i)));
    }
    let pinged = pings(&pairs, Duration::from_secs(30)).await?;
    for i in 0..c.nodes {
        let gateway: IpAddr = crate::fabric::L2_GATEWAY.parse().map_err(|e| format!("{e}"))?;
        let mac = view::neighbour_mac(&c.ns(&format!("l2pod{i}")), gateway)?;
        if mac.as_deref() != Some("00:f3:00:00:00:6f") {
            return Err(format!("l2pod{i}: gateway {gateway} is not 00:f3:00:00:00:6f: {mac:?}"));
        }
    }
    Ok(format!("{pinged}; gateway MAC 00:f3:00:00:00:6f on every node"))
}

pub(super) async fn disconnected_l2(c: &Ctx<'_>) -> Option<Check> {
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

pub(super) async fn passthrough(c: &Ctx<'_>) -> Check {
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
