//! The IPv6-only underlay (`LabSpec::ipv6`, `lab up --fabric ipv6`): the same routers, hosts
//! and VNIs as the default fabric, but no link between routers carries an IPv4 address.
//!
//! ```text
//!                     spine (router ID 10.255.0.1)
//!      eth1 2001:db8:1:1::1   eth2 2001:db8:1:2::1   eth3 2001:db8:1:3::1
//!           leafA ::2              leafB ::2              tor ::2 (router ID 10.255.0.2)
//!                                                  toswitch 2001:db8:11::2 ── switch ── node0 toswitch 2001:db8:11::3
//!                                                  tonode1 (link-local only) ──────────── node1 toswitch (link-local only)
//! ```
//!
//! Even nodes peer with the ToR over IPv6 global addresses on the switch (numbered); odd nodes
//! have a point-to-point link to the ToR and peer over it by interface name (unnumbered, BGP on
//! IPv6 link-local addresses). The VTEPs stay IPv4 loopbacks (leaves `100.64.0.x`, PEs
//! `100.65.0.x`): every session carries them as IPv4 routes with IPv6 next hops, and the
//! kernels route VXLAN's IPv4 packets through IPv6 gateways. IPv6 VTEPs (VXLAN over IPv6) need
//! EVPN support for them in FRR, which arrived in FRR 10.6; the FRR lines here (8.4, 10.3)
//! carry EVPN routes with IPv4 next hops only.

use super::{End, Veth, asn};

/// The spine's router ID (it has no IPv4 address).
pub const SPINE_ROUTER_ID: &str = "10.255.0.1";
/// The ToR's router ID.
pub const TOR_ROUTER_ID: &str = "10.255.0.2";
/// The ToR's address on the switch: the numbered nodes' BGP neighbor.
pub const TOR_SWITCH_IP: &str = "2001:db8:11::2";

/// A spine link (the spine's `eth1`, `eth2`, `eth3` in this order; the peer's `eth1`).
pub struct SpineLink {
    /// The spine's address (a /64).
    pub spine_ip: &'static str,
    /// Short name of the router at the other end.
    pub peer: &'static str,
    /// Its address (the same /64).
    pub peer_ip: &'static str,
}

impl SpineLink {
    /// The peer's AS.
    pub fn peer_as(&self) -> u32 {
        if self.peer == "tor" { asn::TOR } else { asn::LEAF }
    }
}

/// The spine's links, in the order of the IPv4 fabric's (leafA, leafB, ToR).
pub const SPINE_LINKS: [SpineLink; 3] = [
    SpineLink { spine_ip: "2001:db8:1:1::1", peer: "leafA", peer_ip: "2001:db8:1:1::2" },
    SpineLink { spine_ip: "2001:db8:1:2::1", peer: "leafB", peer_ip: "2001:db8:1:2::2" },
    SpineLink { spine_ip: "2001:db8:1:3::1", peer: "tor", peer_ip: "2001:db8:1:3::2" },
];

/// Whether node `index` peers with the ToR unnumbered (odd nodes) rather than over global
/// IPv6 addresses on the switch (even nodes).
pub fn unnumbered(index: u32) -> bool {
    index % 2 == 1
}

/// Node `index`'s underlay address on the switch (numbered nodes).
pub fn node_ip(index: u32) -> String {
    format!("2001:db8:11::{:x}", 3 + index)
}

/// The ToR's end of unnumbered node `index`'s point-to-point link.
pub fn tor_node_if(index: u32) -> String {
    format!("tonode{index}")
}

/// Node `index`'s NIC `toswitch`: on the switch with its IPv6 address (numbered), or
/// point-to-point to the ToR with link-local addresses only (unnumbered).
pub fn node_nic(prefix: &str, index: u32) -> Veth {
    let host = format!("node{index}");
    if unnumbered(index) {
        Veth {
            a: End::new(prefix, &host, "toswitch", &[], None),
            b: End::new(prefix, "tor", &tor_node_if(index), &[], None),
            mtu: None,
        }
    } else {
        Veth {
            a: End::new(prefix, &host, "toswitch", &[&format!("{}/64", node_ip(index))], None),
            b: End::new(prefix, "switch", &format!("p-node{index}"), &[], Some("br0")),
            mtu: None,
        }
    }
}

/// The BGP peer, as FRR names it, of node `index`'s PE towards the ToR.
pub fn tor_peer(index: u32) -> String {
    if unnumbered(index) { "toswitch".to_string() } else { TOR_SWITCH_IP.to_string() }
}

/// The BGP peer, as FRR names it, of the ToR towards node `index`'s PE.
pub fn node_peer(index: u32) -> String {
    if unnumbered(index) { tor_node_if(index) } else { node_ip(index) }
}

/// Node `index`'s Underlay: the NIC, the ToR as neighbor (by address or by interface), IPv4
/// tunnel endpoints, graceful restart as in the default lab.
pub fn underlay(index: u32) -> String {
    let neighbor = if unnumbered(index) {
        "    - asn: 64512\n      interface: toswitch\n".to_string()
    } else {
        format!("    - asn: 64512\n      address: \"{TOR_SWITCH_IP}\"\n")
    };
    format!(
        "# The IPv6-only underlay of node{index}: {} session with the ToR.\n\
         apiVersion: network.openperouter.io/v1alpha1\nkind: Underlay\n\
         metadata: {{name: underlay, namespace: openperouter-system}}\nspec:\n  asn: 64514\n\
         \x20 tunnelEndpoint:\n    cidrs: [100.65.0.0/24]\n  interfaces:\n    - type: NetworkDevice\n\
         \x20     networkDevice: {{interfaceName: toswitch}}\n  neighbors:\n{neighbor}  gracefulRestart: {{}}\n",
        if unnumbered(index) { "an unnumbered (interface)" } else { "an IPv6" }
    )
}

#[cfg(test)]
mod tests {
    use super::super::{LabSpec, Topology};
    use super::*;

    #[test]
    fn the_ipv6_fabric_has_no_ipv4_between_routers() {
        let t = Topology::new(&LabSpec { ipv6: true, ..LabSpec::default() });
        let routers = ["spine", "leafA", "leafB", "tor", "switch", "node0", "node1"];
        for v in &t.veths {
            let fabric = [&v.a, &v.b].iter().all(|e| routers.iter().any(|r| e.ns == format!("opr-{r}")));
            if fabric {
                assert!(v.a.addresses.iter().chain(&v.b.addresses).all(|a| a.addr().is_ipv6()), "{v:?}");
            }
        }
        let tor = t.namespace("tor").and_then(|n| n.frr.clone()).unwrap_or_default();
        assert!(tor.contains("neighbor tonode1 interface remote-as 64514"), "{tor}");
        assert!(tor.contains("neighbor 2001:db8:11::3 capability extended-nexthop"), "{tor}");
        assert!(tor.contains("bgp router-id 10.255.0.2"), "{tor}");
        let nic1 = t.veths.iter().find(|v| v.a.ns == "opr-node1" && v.a.ifname == "toswitch").expect("node1 NIC");
        assert_eq!((nic1.b.ns.as_str(), nic1.b.ifname.as_str()), ("opr-tor", "tonode1"));
        assert!(underlay(1).contains("interface: toswitch") && underlay(0).contains("2001:db8:11::2"));
        assert_eq!(
            (tor_peer(0), node_peer(0), tor_peer(1), node_peer(1)),
            ("2001:db8:11::2".into(), "2001:db8:11::3".into(), "toswitch".into(), "tonode1".into())
        );
    }
}
