//! The address families of a BGP instance as bgpd prints them: the entries of one family
//! merged, their lines in bgpd's order, the EVPN family's `vni` blocks, and route targets in
//! the form and order bgpd prints them back.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::IpNet;

use crate::model::*;
use crate::order::cmp_peers;

pub(crate) fn is_ibgp(local_asn: u32, remote_as: RemoteAs) -> bool {
    match remote_as {
        RemoteAs::Internal => true,
        RemoteAs::External => false,
        RemoteAs::Number(n) => n == local_asn,
    }
}

/// The merged content of all entries of one address family.
pub(crate) struct MergedAf<'a> {
    networks: Vec<IpNet>,
    neighbors: Vec<AfNeighbor>,
    advertise_all_vni: bool,
    advertise_ipv4_unicast: bool,
    advertise_ipv6_unicast: bool,
    rt_import: Vec<&'a str>,
    rt_export: Vec<&'a str>,
    vnis: Vec<&'a EvpnVni>,
    vpn: Option<&'a VpnLeak>,
}

pub(crate) fn merge_address_families(afs: &[AddressFamily]) -> BTreeMap<Afi, MergedAf<'_>> {
    let mut merged: BTreeMap<Afi, MergedAf<'_>> = BTreeMap::new();
    for af in afs {
        let entry = merged.entry(af.afi).or_insert_with(|| MergedAf {
            networks: Vec::new(),
            neighbors: Vec::new(),
            advertise_all_vni: false,
            advertise_ipv4_unicast: false,
            advertise_ipv6_unicast: false,
            rt_import: Vec::new(),
            rt_export: Vec::new(),
            vnis: Vec::new(),
            vpn: None,
        });
        entry.networks.extend(af.networks.iter().map(IpNet::trunc));
        for n in &af.neighbors {
            match entry.neighbors.iter_mut().find(|m| cmp_peers(&m.peer, &n.peer) == Ordering::Equal) {
                Some(m) => {
                    m.activate |= n.activate;
                    m.allowas_in |= n.allowas_in;
                    m.next_hop_self_force |= n.next_hop_self_force;
                    m.next_hop_self |= n.next_hop_self;
                    m.route_reflector_client |= n.route_reflector_client;
                    if m.route_map_in.is_none() {
                        m.route_map_in.clone_from(&n.route_map_in);
                    }
                    if m.route_map_out.is_none() {
                        m.route_map_out.clone_from(&n.route_map_out);
                    }
                }
                None => entry.neighbors.push(n.clone()),
            }
        }
        entry.advertise_all_vni |= af.advertise_all_vni;
        entry.advertise_ipv4_unicast |= af.advertise_ipv4_unicast;
        entry.advertise_ipv6_unicast |= af.advertise_ipv6_unicast;
        entry.rt_import.extend(af.route_targets_import.iter().map(String::as_str));
        entry.rt_export.extend(af.route_targets_export.iter().map(String::as_str));
        entry.vnis.extend(af.vnis.iter());
        if entry.vpn.is_none() {
            entry.vpn = af.vpn.as_ref();
        }
    }
    merged
}

/// The lines inside ` address-family X` (without indentation).
pub(crate) fn af_lines(bgp: &BgpInstance, afi: Afi, af: &MergedAf<'_>) -> Vec<String> {
    let mut lines = Vec::new();

    // Networks come from a route table walk: pre-order of the prefix trie,
    // i.e. by masked address, then shorter prefix first.
    let mut networks = af.networks.clone();
    networks.sort_by(|a, b| {
        let family = |n: &IpNet| matches!(n, IpNet::V6(_));
        family(a).cmp(&family(b)).then(a.network().cmp(&b.network())).then(a.prefix_len().cmp(&b.prefix_len()))
    });
    networks.dedup();
    for net in networks {
        lines.push(format!("network {net}"));
    }

    let mut neighbors: Vec<&AfNeighbor> = af.neighbors.iter().collect();
    neighbors.sort_by(|a, b| cmp_peers(&a.peer, &b.peer));
    for n in neighbors {
        let name = n.peer.name();
        if n.activate {
            lines.push(format!("neighbor {name} activate"));
        }
        if n.route_reflector_client {
            let declared = bgp.neighbors.iter().find(|g| cmp_peers(&g.target, &n.peer) == Ordering::Equal);
            let ebgp = declared.is_some_and(|g| !is_ibgp(bgp.asn, g.remote_as));
            if !ebgp {
                lines.push(format!("neighbor {name} route-reflector-client"));
            }
        }
        if n.next_hop_self_force {
            lines.push(format!("neighbor {name} next-hop-self force"));
        } else if n.next_hop_self {
            lines.push(format!("neighbor {name} next-hop-self"));
        }
        if n.allowas_in {
            lines.push(format!("neighbor {name} allowas-in"));
        }
        if let Some(map) = &n.route_map_in {
            lines.push(format!("neighbor {name} route-map {map} in"));
        }
        if let Some(map) = &n.route_map_out {
            lines.push(format!("neighbor {name} route-map {map} out"));
        }
    }

    if let Some(vpn) = af.vpn.filter(|_| matches!(afi, Afi::Ipv4Unicast | Afi::Ipv6Unicast)) {
        lines.push(format!("rd vpn export {}", vpn.rd));
        let import: Vec<&str> = vpn.import.iter().map(String::as_str).collect();
        let export: Vec<&str> = vpn.export.iter().map(String::as_str).collect();
        if !import.is_empty() {
            lines.push(format!("rt vpn import {}", ecommunity_order(&import).join(" ")));
        }
        if !export.is_empty() {
            lines.push(format!("rt vpn export {}", ecommunity_order(&export).join(" ")));
        }
        lines.push("export vpn".to_string());
        lines.push("import vpn".to_string());
    }

    if afi == Afi::L2vpnEvpn {
        if af.advertise_all_vni {
            lines.push("advertise-all-vni".to_string());
        }
        if af.advertise_ipv4_unicast {
            lines.push("advertise ipv4 unicast".to_string());
        }
        if af.advertise_ipv6_unicast {
            lines.push("advertise ipv6 unicast".to_string());
        }
        for rt in sorted_route_targets(&af.rt_import) {
            lines.push(format!("route-target import {rt}"));
        }
        for rt in sorted_route_targets(&af.rt_export) {
            lines.push(format!("route-target export {rt}"));
        }
        lines.extend(evpn_vni_lines(bgp.asn, &af.vnis));
    }
    lines
}

/// The `vni N` blocks of an EVPN address family: highest VNI first, import then export, as
/// bgpd prints them. A side holding only the derived route target is omitted, a VNI with nothing
/// left is omitted. Within a side the route targets are in `strcmp` order (bgpd's), except the
/// derived one, which goes last: bgpd reads it as "keep deriving" while no other route target of
/// that side is configured yet, so sent (or booted) first it would be lost. Comparisons of
/// configurations ignore the order of lines within a block.
fn evpn_vni_lines(asn: u32, vnis: &[&EvpnVni]) -> Vec<String> {
    let mut by_vni: BTreeMap<u32, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for v in vnis {
        let entry = by_vni.entry(v.vni).or_default();
        entry.0.extend(v.route_targets_import.iter().map(String::as_str));
        entry.1.extend(v.route_targets_export.iter().map(String::as_str));
    }
    let mut lines = Vec::new();
    for (vni, (import, export)) in by_vni.into_iter().rev() {
        let derived = derived_route_target(asn, vni);
        let printed = |rts: &[&str]| {
            let mut sorted = sorted_route_targets(rts);
            if sorted.len() == 1 && sorted[0] == derived {
                return Vec::new();
            }
            sorted.sort_by_key(|rt| *rt == derived);
            sorted
        };
        let (import, export) = (printed(&import), printed(&export));
        if import.is_empty() && export.is_empty() {
            continue;
        }
        lines.push(format!("vni {vni}"));
        lines.extend(import.iter().map(|rt| format!(" route-target import {rt}")));
        lines.extend(export.iter().map(|rt| format!(" route-target export {rt}")));
        lines.push("exit-vni".to_string());
    }
    lines
}

/// The route target bgpd derives for a layer-2 VNI: `ASN:VNI`, with the VNI cut to 16 bits
/// when the ASN needs four bytes.
pub fn derived_route_target(asn: u32, vni: u32) -> String {
    if asn > 65535 { format!("{asn}:{}", vni & 0xffff) } else { format!("{asn}:{vni}") }
}

/// Route targets of an extended-community list as bgpd keeps them: deduplicated and sorted by
/// their encoded value (type, then administrator, then assigned number), printed canonically.
fn ecommunity_order(rts: &[&str]) -> Vec<String> {
    let key = |rt: &str| -> (u8, u64, u64, String) {
        let canonical = canonical_route_target(rt);
        let (admin, number) = canonical.rsplit_once(':').unwrap_or((canonical.as_str(), ""));
        let number: u64 = number.parse().unwrap_or(u64::MAX);
        match admin.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => (1, u64::from(u32::from(ip)), number, canonical.clone()),
            Err(_) => {
                let asn: u64 = admin.parse().unwrap_or(u64::MAX);
                (if asn > 65535 { 2 } else { 0 }, asn, number, canonical.clone())
            }
        }
    };
    let mut keyed: Vec<(u8, u64, u64, String)> = rts.iter().map(|rt| key(rt)).collect();
    keyed.sort();
    keyed.dedup();
    keyed.into_iter().map(|k| k.3).collect()
}

/// Route targets as FRR prints them, deduplicated, sorted the way bgpd keeps
/// its VRF RT lists (strcmp of the printed form).
fn sorted_route_targets(rts: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = rts.iter().map(|rt| canonical_route_target(rt)).collect();
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.dedup();
    out
}

/// `ASN:NN` or `A.B.C.D:NN` printed back without leading zeros or spaces;
/// anything else is kept as given.
pub(crate) fn canonical_route_target(rt: &str) -> String {
    let rt = rt.trim();
    if let Some((admin, assigned)) = rt.rsplit_once(':') {
        if let Ok(ip) = admin.parse::<Ipv4Addr>()
            && let Ok(n) = assigned.parse::<u16>()
        {
            return format!("{ip}:{n}");
        }
        if admin.bytes().all(|b| b.is_ascii_digit())
            && let (Ok(asn), Ok(n)) = (admin.parse::<u32>(), assigned.parse::<u32>())
        {
            return format!("{asn}:{n}");
        }
    }
    rt.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_targets_are_canonical_and_sorted() {
        assert_eq!(canonical_route_target(" 64512:0100"), "64512:100");
        assert_eq!(canonical_route_target("1.2.3.4:7"), "1.2.3.4:7");
        assert_eq!(canonical_route_target("auto"), "auto");
        assert_eq!(
            sorted_route_targets(&["65000:5", "64512:100", "4200000000:100", "1.2.3.4:7", "64512:100"]),
            vec!["1.2.3.4:7", "4200000000:100", "64512:100", "65000:5"]
        );
    }

    #[test]
    fn empty_address_families_are_omitted_and_duplicates_merged() {
        let mut bgp = BgpInstance::new(64512, Some("red".into()));
        let peer = PeerTarget::Address("10.0.0.2".parse().unwrap());
        let mut v4a = AddressFamily::new(Afi::Ipv4Unicast);
        v4a.neighbors.push(AfNeighbor::activated(peer.clone()));
        let mut v4b = AddressFamily::new(Afi::Ipv4Unicast);
        v4b.neighbors.push(AfNeighbor { route_map_in: Some("allowall".into()), ..AfNeighbor::new(peer) });
        v4b.networks.push("10.1.2.3/16".parse().unwrap());
        bgp.address_families = vec![AddressFamily::new(Afi::L2vpnEvpn), v4a, AddressFamily::new(Afi::Ipv6Unicast), v4b];
        let text = Config { bgp: vec![bgp], ..Config::default() }.render();
        assert_eq!(text.matches("address-family").count(), 2, "{text}");
        assert!(text.contains(
            " address-family ipv4 unicast\n  network 10.1.0.0/16\n  neighbor 10.0.0.2 activate\n  neighbor 10.0.0.2 route-map allowall in\n exit-address-family\n"
        ), "{text}");
    }

    #[test]
    fn vni_route_targets_print_like_bgpd() {
        let vni = |vni, import: &[&str], export: &[&str]| EvpnVni {
            vni,
            route_targets_import: import.iter().map(|s| s.to_string()).collect(),
            route_targets_export: export.iter().map(|s| s.to_string()).collect(),
        };
        let vnis = [
            vni(110, &["64514:110"], &["64514:7", "64514:111"]),
            vni(5000, &["64514:5000"], &[]),
            vni(120, &["64514:9", "64514:120"], &["64514:120"]),
        ];
        let refs: Vec<&EvpnVni> = vnis.iter().collect();
        assert_eq!(
            evpn_vni_lines(64514, &refs),
            [
                "vni 120",
                " route-target import 64514:9",
                " route-target import 64514:120",
                "exit-vni",
                "vni 110",
                " route-target export 64514:111",
                " route-target export 64514:7",
                "exit-vni",
            ]
        );
        assert_eq!(derived_route_target(4200000000, 70000), "4200000000:4464");
    }
}
