//! GoBGP as Cilium (and kube-vip) run it on a node: no BGP listener at all (Cilium's
//! `listenPort: -1`), so every session is opened by GoBGP towards the PE; the pod prefix is
//! added through the API after start (as Cilium's agent does) and an export policy announces it
//! alone. GoBGP installs nothing into the kernel: [`super::fib`] does that in the lab. State is
//! read with the `gobgp` CLI's JSON (`neighbor -j`, `global rib -j`).

use std::fmt::Write;

use frr::state::{AfCounters, BgpNeighbor};
use serde_json::Value;

use super::SpeakerRoute;
use crate::fabric::{PE_HOST_SESSION_IPS, asn, pod_prefix};

/// The configuration (TOML) of node `index`'s gobgpd.
pub fn config(index: u32) -> String {
    let mut c = format!(
        "# GoBGP on node{index}, as Cilium runs it: no listener, sessions opened towards the PE.\n\
         [global.config]\n  as = {host}\n  router-id = \"10.244.{index}.1\"\n  port = -1\n\n\
         # Announce the pod prefix only (added through the API), never re-announce learned routes.\n\
         [global.apply-policy.config]\n  export-policy-list = [\"announce-pods\"]\n  default-export-policy = \"reject-route\"\n\n\
         [[defined-sets.prefix-sets]]\n  prefix-set-name = \"pods\"\n  [[defined-sets.prefix-sets.prefix-list]]\n    ip-prefix = \"{pods}\"\n\n\
         [[policy-definitions]]\n  name = \"announce-pods\"\n  [[policy-definitions.statements]]\n    name = \"pods\"\n    \
         [policy-definitions.statements.conditions.match-prefix-set]\n      prefix-set = \"pods\"\n    \
         [policy-definitions.statements.actions]\n      route-disposition = \"accept-route\"\n",
        host = asn::HOST,
        pods = pod_prefix(index),
    );
    for peer in PE_HOST_SESSION_IPS {
        let _ = write!(
            c,
            "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{peer}\"\n    peer-as = {pe}\n  \
             [neighbors.timers.config]\n    connect-retry = 1\n    hold-time = 9\n    keepalive-interval = 3\n    \
             # Reconnect at once after the PE restarted (default 30 s).\n    idle-hold-time-after-reset = 1\n  \
             # Helper role: keep the PE's routes while it restarts.\n  \
             [neighbors.graceful-restart.config]\n    enabled = true\n    helper-only = true\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n    \
             [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n",
            pe = asn::PE,
        );
    }
    c
}

/// GoBGP's session state 6 (in the API's enum) is Established; newer CLIs may print names.
fn state_word(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(1) => "Idle",
            Some(2) => "Connect",
            Some(3) => "Active",
            Some(4) => "OpenSent",
            Some(5) => "OpenConfirm",
            Some(6) => "Established",
            _ => "Unknown",
        }
        .to_string(),
        Value::String(s) => {
            let s = s.trim_start_matches("SESSION_STATE_").to_ascii_lowercase();
            match s.as_str() {
                "established" => "Established".to_string(),
                "opensent" => "OpenSent".to_string(),
                "openconfirm" => "OpenConfirm".to_string(),
                other => {
                    let mut c = other.chars();
                    c.next().map_or_else(String::new, |f| std::iter::once(f.to_ascii_uppercase()).chain(c).collect())
                }
            }
        }
        _ => "Unknown".to_string(),
    }
}

/// The sessions in `gobgp neighbor -j`.
pub fn parse_neighbors(json: &str) -> Result<Vec<BgpNeighbor>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("gobgp neighbor -j: {e}"))?;
    let list = v.as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .map(|n| {
            let state = n.get("state").cloned().unwrap_or_default();
            let conf = n.get("conf").cloned().unwrap_or_default();
            let counter = |key: &str| {
                n.get("afi_safis")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.get("state")?.get(key)?.as_u64())
                    .reduce(|a, b| a + b)
            };
            BgpNeighbor {
                vrf: "default".into(),
                peer: conf
                    .get("neighbor_address")
                    .or_else(|| state.get("neighbor_address"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                hostname: None,
                remote_as: conf.get("peer_asn").and_then(Value::as_u64).and_then(|a| u32::try_from(a).ok()),
                local_as: conf.get("local_asn").and_then(Value::as_u64).and_then(|a| u32::try_from(a).ok()),
                state: state.get("session_state").map_or_else(|| "Idle".to_string(), state_word),
                uptime: None,
                address_families: vec![AfCounters {
                    afi: "ipv4Unicast".into(),
                    prefixes_received: counter("accepted"),
                    prefixes_sent: counter("advertised"),
                }],
            }
        })
        .collect())
}

/// One path of `gobgp global rib -j`: its next hop (`None` for locally originated paths) and
/// whether it is the best one.
fn path_next_hop(path: &Value) -> Option<String> {
    let attrs = path.get("attrs").and_then(Value::as_array)?;
    let hop = attrs.iter().find_map(|a| match a.get("type").and_then(Value::as_u64) {
        // NEXT_HOP, or MP_REACH_NLRI's next hop(s).
        Some(3) | Some(14) => a
            .get("nexthop")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| a.get("nexthops")?.as_array()?.first()?.as_str().map(str::to_string)),
        _ => None,
    })?;
    (hop != "0.0.0.0" && hop != "::").then_some(hop)
}

/// The routes in `gobgp global rib -a ipv4 -j`, every path's next hop (locally originated paths
/// have none).
pub fn parse_rib(json: &str) -> Result<Vec<SpeakerRoute>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("gobgp global rib -j: {e}"))?;
    let Some(map) = v.as_object() else { return Ok(Vec::new()) };
    Ok(map
        .iter()
        .map(|(prefix, paths)| SpeakerRoute {
            prefix: prefix.clone(),
            next_hops: paths.as_array().into_iter().flatten().filter_map(path_next_hop).collect(),
        })
        .collect())
}

/// The best learned path of every prefix in `gobgp global rib -a ipv4 -j`: what a CNI would
/// program into the kernel, `(prefix, next hop)` sorted by prefix.
pub fn best_learned(json: &str) -> Result<Vec<(String, String)>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("gobgp global rib -j: {e}"))?;
    let mut out: Vec<(String, String)> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(prefix, paths)| {
            let best = paths.as_array()?.iter().find(|p| p.get("best").and_then(Value::as_bool) == Some(true))?;
            Some((prefix.clone(), path_next_hop(best)?))
        })
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // As gobgp 3.10 prints them (trimmed).
    const NEIGHBORS: &str = r#"[{"conf":{"local_asn":64515,"neighbor_address":"192.169.10.1","peer_asn":64514,"type":1},
        "state":{"neighbor_address":"192.169.10.1","peer_asn":64514,"session_state":6},
        "afi_safis":[{"state":{"family":{"afi":1,"safi":1},"enabled":true,"received":2,"accepted":2}}]},
       {"conf":{"local_asn":64515,"neighbor_address":"192.169.11.1","peer_asn":64514},"state":{"session_state":3}}]"#;

    const RIB: &str = r#"{"10.244.0.0/24":[{"nlri":{"prefix":"10.244.0.0/24"},"best":true,"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"0.0.0.0"}],"stale":false}],
        "192.168.20.0/24":[{"best":true,"attrs":[{"type":1,"value":2},{"type":3,"nexthop":"192.169.10.1"}],"neighbor-ip":"192.169.10.1"}],
        "10.244.1.0/24":[{"best":false,"attrs":[{"type":3,"nexthop":"192.169.30.1"}]},{"best":true,"attrs":[{"type":3,"nexthop":"192.169.10.1"}]}]}"#;

    #[test]
    fn sessions_are_read_from_neighbor_json() {
        let n = parse_neighbors(NEIGHBORS).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!((n[0].peer.as_str(), n[0].remote_as, n[0].is_established()), ("192.169.10.1", Some(64514), true));
        assert_eq!(n[0].af("ipv4Unicast").and_then(|a| a.prefixes_received), Some(2));
        assert_eq!((n[1].peer.as_str(), n[1].state.as_str()), ("192.169.11.1", "Active"));
        assert_eq!(state_word(&Value::String("SESSION_STATE_ESTABLISHED".into())), "Established");
        assert!(parse_neighbors("not json").is_err());
    }

    #[test]
    fn rib_gives_every_next_hop_and_the_best_learned_one() {
        let mut r = parse_rib(RIB).unwrap();
        r.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        assert_eq!(r[0].prefix, "10.244.0.0/24");
        assert!(r[0].next_hops.is_empty(), "locally originated: no next hop");
        assert_eq!(r[1].next_hops, vec!["192.169.30.1".to_string(), "192.169.10.1".to_string()]);
        let best = best_learned(RIB).unwrap();
        assert_eq!(
            best,
            vec![
                ("10.244.1.0/24".to_string(), "192.169.10.1".to_string()),
                ("192.168.20.0/24".to_string(), "192.169.10.1".to_string())
            ]
        );
    }

    #[test]
    fn config_has_no_listener_and_peers_with_every_pe_address() {
        let c = config(1);
        assert!(c.contains("port = -1"));
        for peer in PE_HOST_SESSION_IPS {
            assert!(c.contains(&format!("neighbor-address = \"{peer}\"")), "{c}");
        }
        assert!(c.contains("ip-prefix = \"10.244.1.0/24\"") && c.contains("as = 64515"));
    }

    #[test]
    fn config_passes_gobgpd_dry_run() {
        if std::process::Command::new("gobgpd").arg("--version").output().is_err() {
            eprintln!("!!! SKIPPED: gobgpd is not installed (apt-get install gobgpd) !!!");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gobgpd.toml");
        let dry_run = |text: &str| {
            std::fs::write(&path, text).unwrap();
            std::process::Command::new("gobgpd").arg("-f").arg(&path).arg("--dry-run").output().unwrap()
        };
        let out = dry_run(&config(0));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        // The check is real: a broken file fails it.
        assert!(!dry_run("[global.config]\n  as = [\n").status.success());
    }
}
