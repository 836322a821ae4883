//! BIRD 2 as Calico runs it on a node: one BGP protocol per PE host session, the pod block
//! originated as a blackhole static route and announced alone, learned routes installed into the
//! node's kernel by BIRD's own kernel protocol. BIRD has no JSON output, so its state is read
//! from `birdc`'s text (`show protocols all`, `show route`).

use std::fmt::Write;

use frr::state::{AfCounters, BgpNeighbor};

use super::SpeakerRoute;
use crate::fabric::{PE_HOST_SESSION_IPS, asn, pod_prefix};

/// The BIRD protocol name of the session towards a PE host-session address (red, blue,
/// passthrough). `red` and `pe` are BIRD keywords, hence the longer names.
fn protocol_name(peer: &str) -> &'static str {
    match peer {
        "192.169.10.1" => "pe_red",
        "192.169.11.1" => "pe_blue",
        _ => "pe_passthrough",
    }
}

/// The configuration of node `index`'s BIRD, logging to `log`.
pub fn config(index: u32, log: &str) -> String {
    let pods = pod_prefix(index);
    let mut c = format!(
        "# BIRD on node{index}, as Calico runs it: announce the pod block, install what the PE sends.\n\
         log \"{log}\" all;\n\
         router id 10.244.{index}.1;\n\n\
         protocol device {{\n  scan time 5;\n}}\n\n\
         # Learned routes go into the node's kernel (main table, proto bird); nothing is read back.\n\
         protocol kernel {{\n  scan time 5;\n  learn off;\n  ipv4 {{ import none; export where source = RTS_BGP; }};\n}}\n\n\
         # The pod block, as Calico originates its IPAM blocks (the pods' own routes are connected).\n\
         protocol static pod_block {{\n  ipv4;\n  route {pods} blackhole;\n}}\n\n\
         template bgp host_session {{\n  local as {host};\n  connect retry time 1;\n  hold time 9;\n  \
         keepalive time 3;\n  # Come back at once after the PE restarted or lost its namespace (default 60 s).\n  \
         error wait time 1, 5;\n  error forget time 10;\n  \
         # Helper role: keep the PE's routes while it restarts (the PE announces graceful restart).\n  \
         graceful restart aware;\n  ipv4 {{ import all; export where net = {pods}; }};\n}}\n",
        host = asn::HOST,
    );
    for peer in PE_HOST_SESSION_IPS {
        let _ = write!(
            c,
            "\nprotocol bgp {} from host_session {{\n  neighbor {peer} as {};\n}}\n",
            protocol_name(peer),
            asn::PE
        );
    }
    c
}

/// The BGP sessions in the output of `birdc show protocols all`.
pub fn parse_protocols(text: &str) -> Vec<BgpNeighbor> {
    let mut out = Vec::new();
    let mut current: Option<BgpNeighbor> = None;
    for line in text.lines() {
        let is_header = !line.starts_with(' ') && !line.trim().is_empty();
        if is_header {
            out.extend(current.take().filter(|n| !n.peer.is_empty()));
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.get(1) == Some(&"BGP") {
                current = Some(BgpNeighbor {
                    vrf: "default".into(),
                    peer: String::new(),
                    hostname: None,
                    remote_as: None,
                    local_as: Some(asn::HOST),
                    // Replaced by the "BGP state" line; a stopped protocol has none.
                    state: words.get(3).map_or("Down", |s| if *s == "up" { "Established" } else { "Idle" }).into(),
                    uptime: None,
                    address_families: Vec::new(),
                });
            }
            continue;
        }
        let Some(n) = current.as_mut() else { continue };
        let Some((key, value)) = line.trim().split_once(':') else { continue };
        let value = value.trim();
        match key {
            "BGP state" => n.state = value.to_string(),
            "Neighbor address" => n.peer = value.to_string(),
            "Neighbor AS" => n.remote_as = value.parse().ok(),
            "Routes" => {
                // "2 imported, 1 exported, 2 preferred"
                let count = |what: &str| {
                    value.split(',').find_map(|part| {
                        let mut w = part.split_whitespace();
                        let num = w.next()?.parse::<u64>().ok()?;
                        (w.next()? == what).then_some(num)
                    })
                };
                n.address_families.push(AfCounters {
                    afi: "ipv4Unicast".into(),
                    prefixes_received: count("imported"),
                    prefixes_sent: count("exported"),
                });
            }
            _ => {}
        }
    }
    out.extend(current.filter(|n| !n.peer.is_empty()));
    out
}

/// The routes in the output of `birdc show route` (every path's next hop; locally originated
/// routes have none).
pub fn parse_routes(text: &str) -> Vec<SpeakerRoute> {
    let mut out: Vec<SpeakerRoute> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !line.starts_with(char::is_whitespace) && first.contains('/') {
            out.push(SpeakerRoute { prefix: first.to_string(), next_hops: Vec::new() });
        } else if let Some(rest) = line.trim_start().strip_prefix("via ")
            && let Some(route) = out.last_mut()
            && let Some(hop) = rest.split_whitespace().next()
        {
            route.next_hops.push(hop.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOLS: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     10:13:25.974  
pe_red     BGP        ---        up     10:13:30.004  Established   
  BGP state:          Established
    Neighbor address: 192.169.10.1
    Neighbor AS:      64514
    Local AS:         64515
  Channel ipv4
    State:          UP
    Routes:         2 imported, 1 exported, 2 preferred
pe_blue    BGP        ---        start  10:13:25.974  Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: 192.169.11.1
    Neighbor AS:      64514
";

    #[test]
    fn sessions_are_read_from_show_protocols_all() {
        let n = parse_protocols(PROTOCOLS);
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!((n[0].peer.as_str(), n[0].remote_as, n[0].is_established()), ("192.169.10.1", Some(64514), true));
        assert_eq!(n[0].af("ipv4Unicast").and_then(|a| a.prefixes_received), Some(2));
        assert_eq!(n[0].af("ipv4Unicast").and_then(|a| a.prefixes_sent), Some(1));
        assert_eq!((n[1].peer.as_str(), n[1].state.as_str()), ("192.169.11.1", "Active"));
    }

    #[test]
    fn routes_are_read_from_show_route_with_every_path() {
        let text = "BIRD 2.0.12 ready.
Table master4:
10.244.0.0/24        blackhole [pod_block 10:13:25.974] * (200)
10.244.1.0/24        unicast [pe_red 10:13:30.004] * (100) [AS64514?]
\tvia 192.169.10.1 on host-e-100
                     unicast [pe_passthrough 10:13:31.000] (100) [AS64512?]
\tvia 192.169.30.1 on pt-host
";
        let r = parse_routes(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], SpeakerRoute { prefix: "10.244.0.0/24".into(), next_hops: vec![] });
        assert_eq!(r[1].next_hops, vec!["192.169.10.1".to_string(), "192.169.30.1".to_string()]);
    }

    #[test]
    fn config_peers_with_every_pe_address_and_announces_only_the_pod_block() {
        let c = config(1, "/x/bird.log");
        for peer in PE_HOST_SESSION_IPS {
            assert!(c.contains(&format!("neighbor {peer} as 64514;")), "{c}");
        }
        assert!(c.contains("export where net = 10.244.1.0/24;") && c.contains("route 10.244.1.0/24 blackhole;"));
        assert!(c.contains("local as 64515;"));
    }

    #[test]
    fn config_passes_bird_parse_check() {
        if std::process::Command::new("bird").arg("--version").output().is_err() {
            eprintln!("!!! SKIPPED: bird is not installed (apt-get install bird2) !!!");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.conf");
        std::fs::write(&path, config(0, &dir.path().join("bird.log").to_string_lossy())).unwrap();
        let out = std::process::Command::new("bird").arg("-p").arg("-c").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The check is real: a broken file fails it.
        std::fs::write(&path, "protocol bgp pe { }\n").unwrap();
        let out = std::process::Command::new("bird").arg("-p").arg("-c").arg(&path).output().unwrap();
        assert!(!out.status.success());
    }
}
