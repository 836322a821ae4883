//! The IPv6-only underlay's own scenario (`lab up --fabric ipv6`): no IPv4 address on the
//! node's underlay NIC, and the IPv4 VTEPs reached through IPv6 next hops in both directions
//! (the PE towards the leaves' VTEPs, the ToR towards the PE's), link-local ones for the
//! unnumbered node. The other scenarios (sessions, EVPN routes,
//! pods, L2, passthrough) are the default fabric's, unchanged.

use std::time::Duration;

use super::ctx::*;
use super::view;
use crate::fabric::{ipv6, node_router_ns};

/// `ip -4 route show DST` in `ns`: Ok(the route) when it goes through an IPv6 next hop (for an
/// unnumbered session a link-local one), Err(what is there) otherwise. FRR installs the
/// link-local next hop of a directly connected peer whenever the peer sends one, numbered or
/// not, so a global next hop is not required of the numbered node.
async fn via_ipv6(ns: &str, who: &str, dst: &str, link_local: bool) -> Check {
    let (ok, out) = sh(ns, &["ip", "-4", "route", "show", dst]).await;
    let line = out.lines().next().unwrap_or("").trim().to_string();
    let gateway = line.split_once("via inet6 ").map(|(_, rest)| rest.split_whitespace().next().unwrap_or(""));
    match gateway {
        Some(g) if ok && (g.starts_with("fe80:") || !link_local) => Ok(line),
        _ => Err(format!(
            "{who}: the route to {dst} is not via an IPv6{} next hop: {line:?}",
            if link_local { " link-local" } else { "" }
        )),
    }
}

pub(super) async fn ipv4_vteps_over_ipv6(c: &Ctx<'_>) -> Check {
    let tor = c.ns("tor");
    let mut seen = Vec::new();
    for i in 0..c.nodes {
        let router = node_router_ns(&c.prefix, i);
        let addresses = view::addresses(&router, "toswitch")?;
        if let Some(v4) = addresses.iter().find(|a| a.addr().is_ipv4()) {
            return Err(format!("node{i}-pe: toswitch has an IPv4 address {v4}"));
        }
        let unnumbered = ipv6::unnumbered(i);
        if !unnumbered && !addresses.iter().any(|a| a.addr().to_string() == ipv6::node_ip(i)) {
            return Err(format!("node{i}-pe: toswitch lacks {} ({addresses:?})", ipv6::node_ip(i)));
        }
        let kind = if unnumbered { "unnumbered" } else { "numbered" };
        let wait = Duration::from_secs(30);
        let (pe_name, vtep) = (format!("node{i}-pe"), format!("100.65.0.{i}"));
        let pe_route = eventually(wait, || via_ipv6(&router, &pe_name, "100.64.0.1", unnumbered)).await?;
        let tor_route = eventually(wait, || via_ipv6(&tor, "tor", &vtep, unnumbered)).await?;
        seen.push(format!("node{i} ({kind}): PE `{pe_route}`, ToR `{tor_route}`"));
    }
    Ok(format!("no IPv4 on the NICs; {}", seen.join("; ")))
}
