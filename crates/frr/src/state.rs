//! Typed readers over FRR's JSON state output.
//!
//! | reader | command |
//! |---|---|
//! | [`bgp_neighbors`] | `show bgp vrf all summary json` |
//! | [`evpn_vnis`] | `show evpn vni json` |
//! | [`evpn_routes`] | `show bgp l2vpn evpn route detail [type N] json` |
//! | [`bfd_peers`] | `show bfd peers json` |
//! | [`interfaces`] | `show interface vrf all json` |
//!
//! Each has a pure `parse_*` twin, tested on outputs captured from real FRR
//! (`tests/fixtures/`). The parsers walk the JSON by hand and treat every
//! field as optional, because the shapes differ between versions: FRR 8.4
//! prints `"numRemoteVteps":"n/a"` for L3 VNIs and numbers elsewhere, VNIs
//! as strings in route details, `paths` as a list of lists in `route …`
//! commands but as a flat list in `show bgp l2vpn evpn json`; FRR 10 adds
//! fields and renames some (the readers accept `vxlanIf`/`vxlanIntf`,
//! `peerUptimeMsec`/`bgpTimerUpMsec`, numbers or strings for VNIs and AS
//! numbers, remote VTEPs as strings or `{ "ip": … }` objects). A field that
//! is missing or of an unknown shape reads as `None`/empty, never as an
//! error; only output that is not JSON at all is an error.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::vtysh::{Vtysh, VtyshError};

/// Address-family keys of `show bgp summary json`, in FRR's spelling.
const SUMMARY_AFS: &[&str] = &[
    "ipv4Unicast",
    "ipv6Unicast",
    "l2VpnEvpn",
    "ipv4Multicast",
    "ipv6Multicast",
    "ipv4Vpn",
    "ipv6Vpn",
    "ipv4LabeledUnicast",
    "ipv6LabeledUnicast",
    "ipv4Flowspec",
    "ipv6Flowspec",
];

/// Prefix counters of one neighbor in one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfCounters {
    /// FRR's key, e.g. `ipv4Unicast`, `ipv6Unicast`, `l2VpnEvpn`.
    pub afi: String,
    /// `pfxRcd`: prefixes received (accepted).
    pub prefixes_received: Option<u64>,
    /// `pfxSnt`: prefixes sent.
    pub prefixes_sent: Option<u64>,
}

/// A BGP neighbor of one VRF, merged across address families.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpNeighbor {
    /// The VRF (`default` for the default instance).
    pub vrf: String,
    /// The neighbor: an address, or an interface for unnumbered peers.
    pub peer: String,
    /// The peer's advertised hostname.
    pub hostname: Option<String>,
    pub remote_as: Option<u32>,
    pub local_as: Option<u32>,
    /// FRR's state word: `Established`, `Active`, `Connect`, `Idle`…
    pub state: String,
    /// Time since the session came up (when established) or went down.
    pub uptime: Option<Duration>,
    /// The address families the neighbor is active in, with counters.
    pub address_families: Vec<AfCounters>,
}

impl BgpNeighbor {
    pub fn is_established(&self) -> bool {
        self.state == "Established"
    }

    /// The counters of one address family (`ipv4Unicast`, `l2VpnEvpn`…).
    pub fn af(&self, afi: &str) -> Option<&AfCounters> {
        self.address_families.iter().find(|a| a.afi == afi)
    }
}

/// `show bgp vrf all summary json`, every neighbor of every VRF.
pub async fn bgp_neighbors(vtysh: &Vtysh) -> Result<Vec<BgpNeighbor>, VtyshError> {
    let command = "show bgp vrf all summary json";
    let value: Value = vtysh.json(command).await?;
    Ok(neighbors_from(&value))
}

/// A BGP session's state only: what a cluster-wide view shows (the reloader's `GET /sessions`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    /// The VRF (`default` for the default instance).
    pub vrf: String,
    /// The neighbor.
    pub peer: String,
    /// FRR's state word.
    pub state: String,
}

/// The sessions of `neighbors` as [`SessionState`]s, sorted.
pub fn session_states(neighbors: &[BgpNeighbor]) -> Vec<SessionState> {
    let mut out: Vec<SessionState> = neighbors
        .iter()
        .map(|n| SessionState { vrf: n.vrf.clone(), peer: n.peer.clone(), state: n.state.clone() })
        .collect();
    out.sort();
    out
}

/// Parses the output of `show bgp vrf all summary json` (or of `show bgp
/// summary json`, which has no VRF level).
pub fn parse_bgp_summary(json: &str) -> Result<Vec<BgpNeighbor>, serde_json::Error> {
    let value: Value = if json.trim().is_empty() { Value::Object(Map::new()) } else { serde_json::from_str(json)? };
    Ok(neighbors_from(&value))
}

fn neighbors_from(value: &Value) -> Vec<BgpNeighbor> {
    let Some(top) = value.as_object() else { return Vec::new() };
    // `show bgp summary json` (one VRF) has the AF keys at the top.
    let vrfs: Vec<(String, &Map<String, Value>)> = if SUMMARY_AFS.iter().any(|af| top.contains_key(*af)) {
        vec![("default".to_string(), top)]
    } else {
        top.iter().filter_map(|(vrf, v)| v.as_object().map(|o| (vrf.clone(), o))).collect()
    };
    let mut out: Vec<BgpNeighbor> = Vec::new();
    for (vrf_key, afs) in vrfs {
        for (afi, summary) in afs {
            let Some(summary) = summary.as_object() else { continue };
            let vrf = str_field(summary, &["vrfName"]).unwrap_or_else(|| vrf_key.clone());
            let Some(peers) = summary.get("peers").and_then(Value::as_object) else { continue };
            for (peer, p) in peers {
                let Some(p) = p.as_object() else { continue };
                let counters = AfCounters {
                    afi: afi.clone(),
                    prefixes_received: u64_field(p, &["pfxRcd", "acceptedPrefixCounter"]),
                    prefixes_sent: u64_field(p, &["pfxSnt", "sentPrefixCounter"]),
                };
                let index = match out.iter().position(|n| n.vrf == vrf && n.peer == *peer) {
                    Some(i) => i,
                    None => {
                        out.push(BgpNeighbor {
                            vrf: vrf.clone(),
                            peer: peer.clone(),
                            hostname: str_field(p, &["hostname"]),
                            remote_as: u64_field(p, &["remoteAs"]).and_then(|a| u32::try_from(a).ok()),
                            local_as: u64_field(p, &["localAs"]).and_then(|a| u32::try_from(a).ok()),
                            state: str_field(p, &["state", "bgpState"]).unwrap_or_else(|| "Unknown".to_string()),
                            uptime: u64_field(p, &["peerUptimeMsec", "bgpTimerUpMsec"]).map(Duration::from_millis),
                            address_families: Vec::new(),
                        });
                        out.len() - 1
                    }
                };
                out[index].address_families.push(counters);
            }
        }
    }
    out
}

/// The kind of an EVPN VNI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VniKind {
    L2,
    L3,
    Other(String),
}

/// One VNI of `show evpn vni json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnVni {
    pub vni: u32,
    pub kind: VniKind,
    /// The VXLAN device.
    pub vxlan_interface: Option<String>,
    /// The VRF the VNI belongs to (`default` when none).
    pub tenant_vrf: Option<String>,
    pub mac_count: Option<u64>,
    pub arp_nd_count: Option<u64>,
    /// Remote VTEPs (L2 VNIs; FRR prints "n/a" for L3 VNIs).
    pub remote_vtep_count: Option<u64>,
    pub remote_vteps: Vec<IpAddr>,
}

/// `show evpn vni json`.
pub async fn evpn_vnis(vtysh: &Vtysh) -> Result<Vec<EvpnVni>, VtyshError> {
    let value: Value = vtysh.json("show evpn vni json").await?;
    Ok(vnis_from(&value))
}

/// Parses the output of `show evpn vni json` (an object keyed by VNI; an
/// array of VNI objects is accepted too).
pub fn parse_evpn_vnis(json: &str) -> Result<Vec<EvpnVni>, serde_json::Error> {
    let value: Value = if json.trim().is_empty() { Value::Object(Map::new()) } else { serde_json::from_str(json)? };
    Ok(vnis_from(&value))
}

fn vnis_from(value: &Value) -> Vec<EvpnVni> {
    let entries: Vec<(Option<&String>, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (Some(k), v)).collect(),
        Value::Array(list) => list.iter().map(|v| (None, v)).collect(),
        _ => Vec::new(),
    };
    let mut out: Vec<EvpnVni> = entries
        .into_iter()
        .filter_map(|(key, v)| {
            let o = v.as_object()?;
            let vni = u64_field(o, &["vni"]).or_else(|| key.and_then(|k| k.parse().ok()))?;
            let kind = match str_field(o, &["type"]).as_deref() {
                Some("L2") => VniKind::L2,
                Some("L3") => VniKind::L3,
                other => VniKind::Other(other.unwrap_or_default().to_string()),
            };
            let remote_vteps = o
                .get("remoteVteps")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|v| match v {
                            Value::String(s) => s.parse().ok(),
                            Value::Object(o) => str_field(o, &["ip", "vtep"]).and_then(|s| s.parse().ok()),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(EvpnVni {
                vni: u32::try_from(vni).ok()?,
                kind,
                vxlan_interface: str_field(o, &["vxlanIf", "vxlanIntf", "vxlanInterface"]),
                tenant_vrf: str_field(o, &["tenantVrf", "vrf"]),
                mac_count: u64_field(o, &["numMacs"]),
                arp_nd_count: u64_field(o, &["numArpNd"]),
                remote_vtep_count: u64_field(o, &["numRemoteVteps"]),
                remote_vteps,
            })
        })
        .collect();
    out.sort_by_key(|v| v.vni);
    out
}

/// EVPN route types read by [`evpn_routes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EvpnRouteType {
    /// Type 2, MAC/IP advertisement.
    MacIp = 2,
    /// Type 3, inclusive multicast Ethernet tag (one per VTEP and L2 VNI).
    Imet = 3,
    /// Type 5, IP prefix.
    Prefix = 5,
}

/// What an EVPN route announces, from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvpnRouteKey {
    /// `[2]:[ethtag]:[48]:[mac](:[len]:[ip])`.
    MacIp { eth_tag: u32, mac: String, ip: Option<IpAddr> },
    /// `[3]:[ethtag]:[len]:[originator]`.
    Imet { eth_tag: u32, originator: IpAddr },
    /// `[5]:[ethtag]:[len]:[prefix]`.
    Prefix { eth_tag: u32, prefix: IpNet },
    /// Any other route type, or a prefix this reader does not understand.
    Other { route_type: Option<u8>, prefix: String },
}

impl EvpnRouteKey {
    /// The EVPN route type number.
    pub fn route_type(&self) -> Option<u8> {
        match self {
            EvpnRouteKey::MacIp { .. } => Some(2),
            EvpnRouteKey::Imet { .. } => Some(3),
            EvpnRouteKey::Prefix { .. } => Some(5),
            EvpnRouteKey::Other { route_type, .. } => *route_type,
        }
    }
}

/// One path of an EVPN route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnPath {
    pub valid: bool,
    pub best: bool,
    /// Originated by this router.
    pub local: bool,
    /// The VNI(s) of the path (the label; the L3 VNI for type 5).
    pub vnis: Vec<u32>,
    pub next_hops: Vec<IpAddr>,
    /// `RT:…` extended communities, without the `RT:` prefix (`65001:100`).
    pub route_targets: Vec<String>,
    /// The `Rmac:` extended community (router MAC of a type-5/type-2 route).
    pub router_mac: Option<String>,
    /// The AS path as FRR prints it (`Local` for local routes in 8.4).
    pub as_path: Option<String>,
    /// The neighbor it was received from (`0.0.0.0`/`(unspec)` when local).
    pub peer: Option<String>,
}

/// One EVPN route (per route distinguisher and prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvpnRoute {
    pub rd: String,
    /// FRR's prefix string, e.g. `[2]:[0]:[48]:[02:00:00:00:00:01]`.
    pub prefix: String,
    pub key: EvpnRouteKey,
    pub paths: Vec<EvpnPath>,
}

impl EvpnRoute {
    /// The best path, if any.
    pub fn best(&self) -> Option<&EvpnPath> {
        self.paths.iter().find(|p| p.best)
    }
}

/// `show bgp l2vpn evpn route detail [type N] json`.
pub async fn evpn_routes(vtysh: &Vtysh, route_type: Option<EvpnRouteType>) -> Result<Vec<EvpnRoute>, VtyshError> {
    let command = match route_type {
        Some(t) => format!("show bgp l2vpn evpn route detail type {} json", t as u8),
        None => "show bgp l2vpn evpn route detail json".to_string(),
    };
    let value: Value = vtysh.json(&command).await?;
    Ok(routes_from(&value))
}

/// Parses `show bgp l2vpn evpn [route [detail]] [type N] json`: an object
/// keyed by route distinguisher, each an object keyed by prefix.
pub fn parse_evpn_routes(json: &str) -> Result<Vec<EvpnRoute>, serde_json::Error> {
    let value: Value = if json.trim().is_empty() { Value::Object(Map::new()) } else { serde_json::from_str(json)? };
    Ok(routes_from(&value))
}

fn routes_from(value: &Value) -> Vec<EvpnRoute> {
    let mut out = Vec::new();
    let Some(top) = value.as_object() else { return out };
    for (rd_key, rd_value) in top {
        let Some(rd_map) = rd_value.as_object() else { continue };
        let rd = str_field(rd_map, &["rd"]).unwrap_or_else(|| rd_key.clone());
        for (prefix, route) in rd_map {
            let Some(route) = route.as_object() else { continue };
            if !prefix.starts_with('[') {
                continue;
            }
            let key = route_key(prefix, route);
            let mut paths = Vec::new();
            if let Some(list) = route.get("paths") {
                collect_paths(list, &mut paths);
            }
            out.push(EvpnRoute {
                rd: rd.clone(),
                prefix: str_field(route, &["prefix"]).unwrap_or_else(|| prefix.clone()),
                key,
                paths,
            });
        }
    }
    out.sort_by(|a, b| (&a.rd, &a.prefix).cmp(&(&b.rd, &b.prefix)));
    out
}

/// Flattens `paths` (a list of path objects, or a list of such lists).
fn collect_paths(value: &Value, out: &mut Vec<EvpnPath>) {
    match value {
        Value::Array(list) => list.iter().for_each(|v| collect_paths(v, out)),
        Value::Object(p) => out.push(path_from(p)),
        _ => {}
    }
}

fn path_from(p: &Map<String, Value>) -> EvpnPath {
    let communities = p
        .get("extendedCommunity")
        .and_then(|e| e.as_object().and_then(|o| str_field(o, &["string"])).or_else(|| e.as_str().map(String::from)))
        .unwrap_or_default();
    let route_targets =
        communities.split_whitespace().filter_map(|w| w.strip_prefix("RT:")).map(String::from).collect();
    let router_mac = communities.split_whitespace().find_map(|w| w.strip_prefix("Rmac:")).map(String::from);
    let best = match p.get("bestpath") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(o)) => o.get("overall").and_then(Value::as_bool).unwrap_or(false),
        _ => false,
    };
    let mut vnis: Vec<u32> = ["vni", "VNI"]
        .iter()
        .filter_map(|k| p.get(*k))
        .flat_map(|v| match v {
            Value::String(s) => s.split(['/', ' ', ',']).filter_map(|x| x.trim().parse().ok()).collect::<Vec<u32>>(),
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()).into_iter().collect(),
            _ => Vec::new(),
        })
        .collect();
    if vnis.is_empty() {
        // Type 3 carries the VNI as its PMSI tunnel label.
        if let Some(label) = p.get("pmsi").and_then(Value::as_object).and_then(|o| u64_field(o, &["label"])) {
            vnis.extend(u32::try_from(label).ok());
        }
    }
    vnis.sort_unstable();
    vnis.dedup();
    let next_hops = p
        .get("nexthops")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|n| n.as_object().and_then(|o| str_field(o, &["ip"])).and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    let as_path = match p.get("aspath") {
        Some(Value::Object(o)) => str_field(o, &["string"]),
        _ => str_field(p, &["path"]),
    };
    let peer = match p.get("peer") {
        Some(Value::Object(o)) => str_field(o, &["peerId"]),
        _ => str_field(p, &["peerId"]),
    };
    EvpnPath {
        valid: p.get("valid").and_then(Value::as_bool).unwrap_or(false),
        best,
        local: p.get("local").and_then(Value::as_bool).unwrap_or(false)
            || p.get("sourced").and_then(Value::as_bool).unwrap_or(false),
        vnis,
        next_hops,
        route_targets,
        router_mac,
        as_path,
        peer,
    }
}

/// Parses an EVPN prefix string; falls back to the route's own fields.
fn route_key(prefix: &str, route: &Map<String, Value>) -> EvpnRouteKey {
    let parts: Vec<&str> = prefix.split("]:[").map(|s| s.trim_matches(|c| c == '[' || c == ']')).collect();
    let num = |i: usize| parts.get(i).and_then(|s| s.parse::<u32>().ok());
    let other = || EvpnRouteKey::Other {
        route_type: num(0)
            .and_then(|t| u8::try_from(t).ok())
            .or_else(|| u64_field(route, &["routeType"]).and_then(|t| u8::try_from(t).ok())),
        prefix: prefix.to_string(),
    };
    let eth_tag = num(1).unwrap_or(0);
    match num(0) {
        Some(2) => {
            let Some(mac) = parts.get(3).map(|m| m.to_string()).or_else(|| str_field(route, &["mac"])) else {
                return other();
            };
            let ip = parts
                .get(5)
                .and_then(|s| s.parse().ok())
                .or_else(|| str_field(route, &["ip"]).and_then(|s| s.parse().ok()));
            EvpnRouteKey::MacIp { eth_tag, mac, ip }
        }
        Some(3) => match parts.get(3).and_then(|s| s.parse().ok()) {
            Some(originator) => EvpnRouteKey::Imet { eth_tag, originator },
            None => other(),
        },
        Some(5) => {
            let len = num(2).and_then(|l| u8::try_from(l).ok());
            let ip: Option<IpAddr> = parts.get(3).and_then(|s| s.parse().ok());
            match (ip, len) {
                (Some(ip), Some(len)) => match IpNet::new(ip, len) {
                    Ok(net) => EvpnRouteKey::Prefix { eth_tag, prefix: net.trunc() },
                    Err(_) => other(),
                },
                _ => other(),
            }
        }
        _ => other(),
    }
}

/// One BFD session of `show bfd peers json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdPeer {
    pub peer: String,
    pub local: Option<String>,
    pub vrf: Option<String>,
    pub interface: Option<String>,
    pub multihop: bool,
    /// `up`, `down`, `init`, `shutdown`.
    pub status: String,
    /// Time in the current state (`uptime` when up, `downtime` otherwise).
    pub since: Option<Duration>,
    pub diagnostic: Option<String>,
    pub remote_diagnostic: Option<String>,
    pub receive_interval_ms: Option<u64>,
    pub transmit_interval_ms: Option<u64>,
    pub detect_multiplier: Option<u64>,
}

impl BfdPeer {
    pub fn is_up(&self) -> bool {
        self.status == "up"
    }
}

/// `show bfd peers json`.
pub async fn bfd_peers(vtysh: &Vtysh) -> Result<Vec<BfdPeer>, VtyshError> {
    let value: Value = vtysh.json("show bfd peers json").await?;
    Ok(bfd_from(&value))
}

/// Parses the output of `show bfd peers json` (a list of sessions).
pub fn parse_bfd_peers(json: &str) -> Result<Vec<BfdPeer>, serde_json::Error> {
    let value: Value = if json.trim().is_empty() { Value::Array(Vec::new()) } else { serde_json::from_str(json)? };
    Ok(bfd_from(&value))
}

fn bfd_from(value: &Value) -> Vec<BfdPeer> {
    let Some(list) = value.as_array() else { return Vec::new() };
    list.iter()
        .filter_map(Value::as_object)
        .filter_map(|o| {
            let status = str_field(o, &["status"]).unwrap_or_else(|| "unknown".to_string());
            let since = if status == "up" { u64_field(o, &["uptime"]) } else { u64_field(o, &["downtime"]) };
            Some(BfdPeer {
                peer: str_field(o, &["peer"])?,
                local: str_field(o, &["local"]),
                vrf: str_field(o, &["vrf"]),
                interface: str_field(o, &["interface"]),
                multihop: o.get("multihop").and_then(Value::as_bool).unwrap_or(false),
                status,
                since: since.map(Duration::from_secs),
                diagnostic: str_field(o, &["diagnostic"]),
                remote_diagnostic: str_field(o, &["remote-diagnostic"]),
                receive_interval_ms: u64_field(o, &["receive-interval"]),
                transmit_interval_ms: u64_field(o, &["transmit-interval"]),
                detect_multiplier: u64_field(o, &["detect-multiplier"]),
            })
        })
        .collect()
}

/// The first of `keys` that holds a string (or a number, as text).
/// One interface as zebra knows it (`show interface vrf all json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZebraInterface {
    pub name: String,
    /// `vrfName` (None when not printed).
    pub vrf: Option<String>,
    /// `operationalStatus == "up"`.
    pub up: bool,
    /// Every address zebra holds for it, link-local ones included.
    pub addresses: Vec<IpNet>,
}

/// `show interface vrf all json`: the interfaces zebra knows, with the addresses it holds.
pub async fn interfaces(vtysh: &Vtysh) -> Result<Vec<ZebraInterface>, VtyshError> {
    let command = "show interface vrf all json";
    let text = vtysh.json_text(command).await?;
    crate::state_interfaces::parse(&text).map_err(|source| VtyshError::Json { command: command.to_string(), source })
}

/// Parses the output of `show interface vrf all json` (an object keyed by interface name; an
/// object keyed by VRF name around those is accepted too), sorted by name.
pub fn parse_interfaces(json: &str) -> Result<Vec<ZebraInterface>, serde_json::Error> {
    crate::state_interfaces::parse(json)
}

fn str_field(o: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match o.get(*k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// The first of `keys` that holds an unsigned number (or a string of one).
fn u64_field(o: &Map<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| match o.get(*k)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_other_shapes() {
        // FRR 10-style variants: string VNIs, object VTEPs, missing counters.
        let vnis = parse_evpn_vnis(
            r#"[{"vni":"300","type":"L2","vxlanIntf":"vx","remoteVteps":[{"ip":"10.0.0.9","flood":"HER"}],"numRemoteVteps":1}]"#,
        )
        .unwrap();
        assert_eq!(vnis[0].vni, 300);
        assert_eq!(vnis[0].vxlan_interface.as_deref(), Some("vx"));
        assert_eq!(vnis[0].remote_vteps, ["10.0.0.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(vnis[0].mac_count, None);

        let n = parse_bgp_summary(
            r#"{"ipv4Unicast":{"peers":{"eth0":{"remoteAs":"65001","state":"Active","idType":"interface"}}}}"#,
        )
        .unwrap();
        assert_eq!(n[0].vrf, "default");
        assert_eq!(n[0].peer, "eth0");
        assert_eq!(n[0].remote_as, Some(65001));
        assert!(!n[0].is_established());
        assert_eq!(n[0].af("ipv4Unicast").unwrap().prefixes_received, None);

        assert!(parse_bfd_peers("").unwrap().is_empty());
        assert!(parse_evpn_routes("{}").unwrap().is_empty());
        assert!(parse_bgp_summary("not json").is_err());
    }

    #[test]
    fn route_keys() {
        let empty = Map::new();
        assert_eq!(
            route_key("[2]:[0]:[48]:[aa:bb:cc:dd:ee:ff]:[32]:[10.1.1.1]", &empty),
            EvpnRouteKey::MacIp { eth_tag: 0, mac: "aa:bb:cc:dd:ee:ff".into(), ip: Some("10.1.1.1".parse().unwrap()) }
        );
        assert_eq!(
            route_key("[5]:[0]:[24]:[10.10.2.0]", &empty),
            EvpnRouteKey::Prefix { eth_tag: 0, prefix: "10.10.2.0/24".parse().unwrap() }
        );
        assert_eq!(
            route_key("[3]:[0]:[32]:[198.51.100.1]", &empty),
            EvpnRouteKey::Imet { eth_tag: 0, originator: "198.51.100.1".parse().unwrap() }
        );
        assert_eq!(route_key("[1]:[x]", &empty).route_type(), Some(1));
    }
}
