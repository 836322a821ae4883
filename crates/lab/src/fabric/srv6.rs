//! The SRv6 part of the fabric (`LabSpec::srv6`): IS-IS on the ToR, and an SRv6 leaf `leafS`
//! behind it with an external host in VRF red. The nodes' PEs join IS-IS on their underlay NIC
//! and peer with `leafS` over IPv6 (multi-hop, loopback to loopback) for the VPN families; what
//! they carry in VRF red then travels as IPv6 to the SIDs of the far end's locator.
//!
//! ```text
//!   leafS (AS 64520, lo 2001:db8:1234::1, locator fd00:0:64::/48) ── tor `toleafS` (IS-IS p2p)
//!     VRF red: `ethred` 192.170.20.1/24 ── hostS-red 192.170.20.2     tor `toswitch` (IS-IS LAN
//!                                                                       with every node's PE)
//! ```
//!
//! The links carry only IPv6 link-local addresses: IS-IS needs nothing more. IS-IS runs with
//! one-second hellos and SPF/LSP intervals on the ToR and the leaf so that the locators spread in
//! seconds. The external host's link has the MTU of the PEs' host legs (underlay − 64), so that
//! no encapsulated packet exceeds the fabric's 1500.

use std::fmt::Write;

use super::{End, Namespace, Role, Veth, asn, ip, net};

/// The leaf's loopback: its BGP session source and the PEs' VPN neighbor.
pub const LEAF_LOOPBACK: &str = "2001:db8:1234::1";
/// Where the PEs' IPv6 tunnel endpoints come from (the leaf accepts sessions from it).
pub const PE_TUNNEL_CIDR: &str = "2001:db8:1234:5678::/64";
/// The leaf's SRv6 locator.
pub const LEAF_LOCATOR: &str = "fd00:0:64::/48";
/// The external host behind the leaf, in VRF red.
pub const HOST: &str = "192.170.20.2";
/// Its subnet, announced by the leaf into the VPN.
pub const HOST_NET: &str = "192.170.20.0/24";
/// The route targets of VRF red: what the PEs export, what the leaf exports.
pub const PE_RT: &str = "64514:100";
/// See [`PE_RT`].
pub const LEAF_RT: &str = "64520:100";
/// The MTU of the external host's link: the fabric's 1500 less the SRv6 encapsulation (64).
pub const HOST_MTU: u32 = 1436;

/// Node `index`'s SRv6 locator (the PE configuration's base `fd00:0:32::/48`, one /48 further
/// per node index).
pub fn pe_locator(index: u32) -> String {
    format!("fd00:0:{:x}::/48", 0x32 + index)
}

/// The IS-IS part of the ToR's configuration.
pub fn tor_isis() -> String {
    "interface toswitch\n ipv6 router isis FABRIC\n isis hello-interval 1\nexit\n\
     interface toleafS\n ipv6 router isis FABRIC\n isis network point-to-point\n isis hello-interval 1\nexit\n\
     router isis FABRIC\n is-type level-1\n net 49.0001.0000.0000.0012.00\n lsp-gen-interval 1\n spf-interval 1\nexit\n"
        .to_string()
}

/// Adds the leaf, its host and their links.
pub(super) fn add(prefix: &str, namespaces: &mut Vec<Namespace>, veths: &mut Vec<Veth>) {
    let ns = |short: &str, role: Role| Namespace::new(prefix, short, role);
    let end = |short: &str, ifname: &str, addrs: &[&str], master: Option<&str>| {
        End::new(prefix, short, ifname, addrs, master)
    };
    let mut leaf = ns("leafS", Role::Leaf);
    leaf.loopback = vec![net(&format!("{LEAF_LOOPBACK}/128"))];
    leaf.vrfs = vec![super::Vrf { name: "red".into(), table: 1100 }];
    leaf.frr = Some(leaf_config());
    // SRv6 processing, and decapsulation into the VRF looking routes up there only.
    for key in ["net/ipv6/conf/all/seg6_enabled", "net/ipv6/conf/default/seg6_enabled", "net/vrf/strict_mode"] {
        leaf.sysctls.push((key.to_string(), "1".to_string()));
    }
    namespaces.push(leaf);
    let mut host = ns("hostS-red", Role::ExternalHost);
    host.gateways = vec![ip("192.170.20.1"), ip("2001:db8:170:20::1")];
    namespaces.push(host);
    veths.push(Veth { a: end("tor", "toleafS", &[], None), b: end("leafS", "eth1", &[], None), mtu: None });
    veths.push(Veth {
        a: end("leafS", "ethred", &["192.170.20.1/24", "2001:db8:170:20::1/64"], Some("red")),
        b: end("hostS-red", "eth1", &[&format!("{HOST}/24"), "2001:db8:170:20::2/64"], None),
        mtu: Some(HOST_MTU),
    });
}

fn leaf_config() -> String {
    let mut c = format!(
        "hostname leafS\nvrf red\nexit-vrf\n\
         interface eth1\n ipv6 router isis FABRIC\n isis network point-to-point\n isis hello-interval 1\nexit\n\
         interface lo\n ipv6 router isis FABRIC\n isis passive\nexit\n\
         router isis FABRIC\n is-type level-1\n net 49.0001.0000.0000.0064.00\n lsp-gen-interval 1\n spf-interval 1\n\
         \x20segment-routing srv6\n  locator MAIN\n exit\nexit\n\
         segment-routing\n srv6\n  locators\n   locator MAIN\n    prefix {LEAF_LOCATOR} block-len 32 node-len 16 func-bits 16\n\
         \x20   behavior usid\n    format usid-f3216\n   exit\n  exit\n exit\nexit\n\
         router bgp {leaf}\n bgp router-id 10.0.0.100\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n\
         \x20no bgp network import-check\n timers bgp 3 9\n\
         \x20neighbor PES peer-group\n neighbor PES remote-as {pe}\n neighbor PES ebgp-multihop 255\n\
         \x20neighbor PES update-source {LEAF_LOOPBACK}\n neighbor PES capability extended-nexthop\n\
         \x20bgp listen range {PE_TUNNEL_CIDR} peer-group PES\n segment-routing srv6\n  locator MAIN\n exit\n",
        leaf = asn::LEAF,
        pe = asn::PE,
    );
    for af in ["ipv4 vpn", "ipv6 vpn"] {
        let _ = write!(c, " address-family {af}\n  neighbor PES activate\n exit-address-family\n");
    }
    c.push_str("exit\n");
    let _ = write!(
        c,
        "router bgp {leaf} vrf red\n bgp router-id 10.0.0.100\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n\
         \x20sid vpn per-vrf export auto\n",
        leaf = asn::LEAF
    );
    for af in ["ipv4 unicast", "ipv6 unicast"] {
        let _ = write!(
            c,
            " address-family {af}\n  redistribute connected\n  rd vpn export {LEAF_RT}\n  rt vpn import {PE_RT}\n\
             \x20 rt vpn export {LEAF_RT}\n  export vpn\n  import vpn\n exit-address-family\n"
        );
    }
    c.push_str("exit\n");
    c
}

#[cfg(test)]
mod tests {
    use super::super::{LabSpec, Topology};
    use super::*;

    #[test]
    fn the_srv6_fabric_adds_a_leaf_its_host_and_isis_on_the_tor() {
        let plain = Topology::new(&LabSpec::default());
        assert!(plain.namespace("leafS").is_none());
        assert!(!plain.namespace("tor").and_then(|n| n.frr.clone()).unwrap_or_default().contains("isis"));
        let t = Topology::new(&LabSpec { srv6: true, ..LabSpec::default() });
        let leaf = t.namespace("leafS").expect("leafS");
        assert!(leaf.sysctls.iter().any(|(k, v)| k == "net/vrf/strict_mode" && v == "1"));
        assert!(leaf.frr.as_deref().unwrap_or_default().contains(&format!("bgp listen range {PE_TUNNEL_CIDR}")));
        assert!(t.namespace("tor").and_then(|n| n.frr.clone()).unwrap_or_default().contains("interface toleafS"));
        let host_link = t.veths.iter().find(|v| v.b.ns.ends_with("-hostS-red")).expect("host link");
        assert_eq!((host_link.mtu, host_link.a.master.as_deref()), (Some(HOST_MTU), Some("red")));
        assert_eq!(pe_locator(0), "fd00:0:32::/48");
        assert_eq!(pe_locator(1), "fd00:0:33::/48");
    }
}
