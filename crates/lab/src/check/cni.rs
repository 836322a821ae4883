//! A node whose underlay is not its NIC but a macvlan CNI plugins make on it (`CNIDevice`,
//! static addressing): the NIC goes back to the node, the macvlan in the router namespace takes
//! the node's underlay address, and sessions, EVPN and the passthrough work through it; then
//! back to the NIC, with nothing of the CNI interface left behind.

use std::time::Duration;

use ipnet::IpNet;

use super::config::agent_status;
use super::ctx::*;
use super::routing::{host_sessions, underlay_sessions};
use super::view;
use crate::fabric::{node_host_ns, node_router_ns, node_underlay_ip, pod_ip};
use crate::pe;

/// The environment variable that makes `lab check` run this scenario (`1`).
pub(super) const OPT_IN: &str = "OPR_LAB_CNI";
/// What the report says when it did not run.
pub(super) const OPT_IN_NOTE: &str = "opt-in: set OPR_LAB_CNI=1 to run it";

/// The name of the CNI-made underlay interface in the router namespace.
const IFNAME: &str = "fabric0";

/// The lab's PE configuration with node `i`'s Underlay on a CNI macvlan over `toswitch`.
fn cni_config(base: &str, i: u32) -> String {
    let cni = format!(
        "    - type: CNIDevice\n      cniDevice:\n        type: RawConfig\n        interfaceName: {IFNAME}\n        rawConfig:\n          cniVersion: 1.0.0\n          name: underlay\n          plugins:\n            - type: macvlan\n              master: toswitch\n              mode: bridge\n              ipam:\n                type: static\n                addresses: [{{address: \"{}/24\"}}]\n",
        node_underlay_ip(i)
    );
    base.replace("    - type: NetworkDevice\n      networkDevice: {interfaceName: toswitch}\n", &cni)
}

pub(super) async fn cni_underlay(c: &Ctx<'_>) -> Option<Check> {
    let i = c.nodes.checked_sub(1).filter(|i| *i > 0)?;
    let base = pe::default_config(&c.lab.options.spec);
    let path = pe::config_dir(&c.lab.options.dir(), i).join("openpe.yaml");
    let (router, host) = (node_router_ns(&c.prefix, i), node_host_ns(&c.prefix, i));
    let address: IpNet = match format!("{}/24", node_underlay_ip(i)).parse() {
        Ok(a) => a,
        Err(e) => return Some(Err(format!("{e}"))),
    };
    let cache = pe::agent_dir(&c.lab.options.dir(), i).join("cni-cache");
    let cached = || std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    let run = async {
        let text = cni_config(base, i);
        if !text.contains(IFNAME) {
            return Err("the lab's PE configuration has no NetworkDevice toswitch to replace".to_string());
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        // The NIC returns to the node (with its address, which the macvlan takes over: the
        // node's copy goes, or both would answer for it).
        let started = std::time::Instant::now();
        eventually(Duration::from_secs(90), || async {
            if !view::ifindexes(&host).contains_key("toswitch") {
                return Err("toswitch not back in the node yet".to_string());
            }
            if view::addresses(&host, "toswitch").unwrap_or_default().contains(&address) {
                view::remove_address(&host, "toswitch", &address)?;
            }
            let made = view::addresses(&router, IFNAME).unwrap_or_default();
            if made.contains(&address) { Ok(String::new()) } else { Err(format!("{IFNAME} in the router namespace: {made:?}")) }
        })
        .await?;
        let made_in = started.elapsed().as_secs_f64();
        underlay_sessions(c).await?;
        host_sessions(c).await?;
        let pinged = pings(
            &[
                (c.ns(&format!("pod{i}")), "192.168.20.2".to_string()),
                (c.ns("hostA-red"), pod_ip(i)),
                (c.ns(&format!("pod{i}")), "192.168.22.2".to_string()),
            ],
            Duration::from_secs(60),
        )
        .await?;
        if cached() != 1 {
            return Err(format!("{} CNI cache entries for node{i}, not 1", cached()));
        }
        Ok::<String, String>(format!(
            "node{i}: {IFNAME} (macvlan on toswitch) made by CNI with {address} in {made_in:.1} s; sessions up; {pinged}"
        ))
    }
    .await;
    // Back to the NIC: its address returns first (it moves into the router namespace with it).
    let restored = async {
        if view::ifindexes(&host).contains_key("toswitch")
            && !view::addresses(&host, "toswitch").unwrap_or_default().contains(&address)
        {
            view::add_address(&host, "toswitch", &address)?;
        }
        std::fs::write(&path, base).map_err(|e| format!("{}: {e}", path.display()))?;
        eventually(Duration::from_secs(90), || async {
            let r = view::ifindexes(&router);
            let st = agent_status(c, i).await?;
            let ready = st.get("conditions").map(|v| v.to_string()).unwrap_or_default();
            if r.contains_key(IFNAME) || !r.contains_key("toswitch") || cached() != 0 {
                Err(format!(
                    "node{i}: {IFNAME} still there or toswitch not back in the router namespace ({} cache entries)",
                    cached()
                ))
            } else if !(ready.contains("\"Ready\"") && ready.contains("\"True\"")) {
                Err(format!("node{i} not Ready: {ready}"))
            } else {
                Ok(String::new())
            }
        })
        .await?;
        underlay_sessions(c).await?;
        pings(&[(c.ns(&format!("pod{i}")), "192.168.20.2".to_string())], Duration::from_secs(60)).await
    }
    .await;
    Some(match (run, restored) {
        (Ok(done), Ok(_)) => Ok(format!("{done}; back on the NIC: {IFNAME} and its cache entry gone, traffic back")),
        (Ok(_), Err(e)) => Err(format!("did not recover on the NIC: {e} — {}", diagnosis(c, i).await)),
        (Err(e), _) => Err(format!("{e} — {}", diagnosis(c, i).await)),
    })
}

/// Where node `i`'s underlay stands when the scenario fails: both ends of the ToR session (state,
/// last reset, timers due), the ToR's BFD peers, its neighbour entry for the node (the MAC the
/// macvlan had may linger there) and the node's underlay links and addresses.
async fn diagnosis(c: &Ctx<'_>, i: u32) -> String {
    let node = node_underlay_ip(i);
    let mut parts = Vec::new();
    let wanted = ["BGP state", "Last reset", "Next start timer", "Next connect timer", "Read thread", "Connections"];
    let keep = |out: String| -> Vec<String> {
        out.lines().map(str::trim).filter(|l| wanted.iter().any(|w| l.contains(w))).map(str::to_string).collect()
    };
    if let Ok(tor) = c.vtysh("tor") {
        let out = tor.exec(&[&format!("show bgp neighbors {node}")]).await.map_err(|e| e.to_string());
        parts.push(format!("tor → {node}: {:?}", keep(out.unwrap_or_else(|e| e))));
        let bfd = tor.exec(&["show bfd peers brief"]).await.map_err(|e| e.to_string()).unwrap_or_else(|e| e);
        parts.push(format!("tor BFD: {}", truncate(&bfd, 600)));
    }
    let out = c.pe_vtysh(i).exec(&["show bgp neighbors 192.168.11.2"]).await.map_err(|e| e.to_string());
    parts.push(format!("node{i}-pe → 192.168.11.2: {:?}", keep(out.unwrap_or_else(|e| e))));
    let (_, neigh) = sh(&c.ns("tor"), &["ip", "neigh", "show", &node]).await;
    parts.push(format!("tor neighbour {node}: {}", neigh.trim()));
    let (_, links) = sh(&node_router_ns(&c.prefix, i), &["ip", "-br", "addr"]).await;
    parts.push(format!("node{i} router namespace: {}", links.trim().replace('\n', "; ")));
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nic_of_the_underlay_becomes_a_cni_device() {
        let text = cni_config(pe::DEFAULT_PE_CONFIG, 1);
        assert!(!text.contains("NetworkDevice") && text.contains("type: CNIDevice"), "{text}");
        assert!(text.contains("master: toswitch") && text.contains("addresses: [{address: \"192.168.11.4/24\"}]"));
    }
}
