//! The FRR configurations of the fabric's routers (spine, leaves, ToR) and of the nodes' FRR
//! host speakers, for both underlays: IPv4 (the default) and IPv6 only ([`LabSpec::ipv6`], see
//! [`super::ipv6`]). Pure text.
//!
//! On the IPv6 underlay the sessions run over IPv6 (global addresses, or link-local ones for
//! the unnumbered nodes) and carry the IPv4 VTEP loopbacks with IPv6 next hops (RFC 8950,
//! `capability extended-nexthop`); no router has an IPv4 address to take a router ID from, so
//! each gets one explicitly.

use std::fmt::Write;

use super::{LabSpec, PE_HOST_SESSION_IPS, asn, ipv6, node_underlay_ip, pod_prefix};

pub(super) const BGP_DEFAULTS: &str =
    " no bgp ebgp-requires-policy\n no bgp network import-check\n no bgp default ipv4-unicast\n";

/// A BGP neighbor of a fabric router: an address, or an interface (unnumbered).
struct Peer {
    id: String,
    asn: u32,
    interface: bool,
}

impl Peer {
    fn address(id: &str, asn: u32) -> Peer {
        Peer { id: id.to_string(), asn, interface: false }
    }

    /// `neighbor` lines: remote AS, a 5 s connect timer and, for IPv6 addresses, the extended
    /// next hop that lets IPv4 routes travel with IPv6 next hops (implicit on interfaces).
    fn lines(&self, c: &mut String, advertisement_interval0: bool) {
        let (id, asn) = (&self.id, self.asn);
        if self.interface {
            let _ = writeln!(c, " neighbor {id} interface remote-as {asn}");
        } else {
            let _ = writeln!(c, " neighbor {id} remote-as {asn}");
        }
        if advertisement_interval0 {
            let _ = writeln!(c, " neighbor {id} advertisement-interval 0");
        }
        let _ = writeln!(c, " neighbor {id} timers connect 5");
        if !self.interface && id.contains(':') {
            let _ = writeln!(c, " neighbor {id} capability extended-nexthop");
        }
    }
}

/// `router bgp` with the lab's defaults and, on the IPv6 underlay, an explicit router ID.
fn bgp_head(c: &mut String, own_as: u32, router_id: Option<&str>) {
    let _ = write!(c, "router bgp {own_as}\n{BGP_DEFAULTS} timers bgp 3 9\n");
    if let Some(id) = router_id {
        let _ = writeln!(c, " bgp router-id {id}");
    }
}

fn activate(c: &mut String, af: &str, peers: &[Peer], extra: &str) {
    let _ = writeln!(c, " address-family {af}");
    for p in peers {
        let _ = writeln!(c, "  neighbor {} activate", p.id);
    }
    c.push_str(extra);
    let _ = writeln!(c, " exit-address-family");
}

pub(super) fn spine_config(spec: &LabSpec) -> String {
    let peers: Vec<Peer> = if spec.ipv6 {
        ipv6::SPINE_LINKS.iter().map(|l| Peer::address(l.peer_ip, l.peer_as())).collect()
    } else {
        [("192.168.1.1", asn::LEAF), ("192.168.1.3", asn::LEAF), ("192.168.1.5", asn::TOR)]
            .iter()
            .map(|(ip, a)| Peer::address(ip, *a))
            .collect()
    };
    let mut c = "hostname spine\nip nht resolve-via-default\n".to_string();
    bgp_head(&mut c, asn::SPINE, spec.ipv6.then_some(ipv6::SPINE_ROUTER_ID));
    for p in &peers {
        p.lines(&mut c, true);
    }
    for af in ["ipv4 unicast", "l2vpn evpn"] {
        activate(&mut c, af, &peers, "");
    }
    c.push_str("exit\n");
    c
}

/// Leaf `name` (VTEP `vtep`) peering with the spine at `spine_ip`.
pub(super) fn leaf_config(name: &str, spine_ip: &str, vtep: &str, spec: &LabSpec) -> String {
    let vrfs = if spec.vrf { "vrf red\n vni 100\nexit-vrf\nvrf blue\n vni 200\nexit-vrf\n" } else { "" };
    let mut c = format!("hostname {name}\nip nht resolve-via-default\n{vrfs}");
    bgp_head(&mut c, asn::LEAF, spec.ipv6.then_some(vtep));
    let spine = [Peer::address(spine_ip, asn::SPINE)];
    spine[0].lines(&mut c, false);
    activate(&mut c, "ipv4 unicast", &spine, &format!("  network {vtep}/32\n  redistribute connected\n"));
    activate(&mut c, "l2vpn evpn", &spine, "  advertise-all-vni\n  advertise-svi-ip\n");
    c.push_str("exit\n");
    let tenants: &[&str] = if spec.vrf { &["red", "blue"] } else { &[] };
    for vrf in tenants {
        let _ = write!(
            c,
            "router bgp {leaf} vrf {vrf}\n{BGP_DEFAULTS} address-family ipv4 unicast\n  redistribute connected\n exit-address-family\n\
             address-family ipv6 unicast\n  redistribute connected\n exit-address-family\n\
             address-family l2vpn evpn\n  advertise ipv4 unicast\n  advertise ipv6 unicast\n exit-address-family\nexit\n",
            leaf = asn::LEAF
        );
    }
    c
}

pub(super) fn tor_config(spec: &LabSpec) -> String {
    let spine = if spec.ipv6 { ipv6::SPINE_LINKS[2].spine_ip } else { "192.168.1.4" };
    let mut peers = vec![Peer::address(spine, asn::SPINE)];
    for i in 0..spec.nodes {
        peers.push(if !spec.ipv6 {
            Peer::address(&node_underlay_ip(i), asn::PE)
        } else if ipv6::unnumbered(i) {
            Peer { id: ipv6::tor_node_if(i), asn: asn::PE, interface: true }
        } else {
            Peer::address(&ipv6::node_ip(i), asn::PE)
        });
    }
    let mut c = "hostname tor\nip nht resolve-via-default\n".to_string();
    bgp_head(&mut c, asn::TOR, spec.ipv6.then_some(ipv6::TOR_ROUTER_ID));
    for p in &peers {
        p.lines(&mut c, false);
    }
    activate(&mut c, "ipv4 unicast", &peers, "  redistribute connected\n");
    activate(&mut c, "l2vpn evpn", &peers, "");
    c.push_str("exit\n");
    c
}

pub(super) fn host_speaker_config(index: u32) -> String {
    let mut c = format!("hostname node{index}\nrouter bgp {}\n{BGP_DEFAULTS}", asn::HOST);
    for p in PE_HOST_SESSION_IPS {
        let _ = writeln!(c, " neighbor {p} remote-as {}\n neighbor {p} timers connect 1", asn::PE);
    }
    let _ = writeln!(c, " address-family ipv4 unicast\n  network {}", pod_prefix(index));
    for p in PE_HOST_SESSION_IPS {
        let _ = writeln!(c, "  neighbor {p} activate");
    }
    c.push_str(" exit-address-family\nexit\n");
    c
}
