//! Unit tests of the diff (desired vs observed → ops), split from `diff.rs`.

use super::*;
use crate::observe::VxlanState;
use crate::{MacAddr, Mtu, Sysctl, names};

fn owner(kind: &str, name: &str) -> Owner {
    Owner { kind: kind.into(), name: name.into() }
}

fn obs(index: u32, name: &str, kind: Option<&str>) -> ObservedLink {
    ObservedLink {
        kind: kind.map(str::to_string),
        flags: kernel::netlink::uapi::IFF_UP,
        mtu: 1500,
        addr_gen_mode: Some(0),
        ..ObservedLink::new(index, name)
    }
}

fn lo(addresses: &[&str]) -> ObservedLink {
    let mut l = obs(1, "lo", None);
    l.flags |= kernel::netlink::uapi::IFF_LOOPBACK;
    l.mtu = 65536;
    l.addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
    l
}

fn vxlan_link(vni: u32, local: &str, port: u16) -> Link {
    let mut l = Link::new(
        names::vxlan(vni),
        Side::Router,
        LinkKind::Vxlan { vni, local: local.parse().unwrap(), port, learning: false, device: "lo".into() },
        owner("L2VNI", "x"),
    );
    l.master = Some(names::pe_bridge(vni));
    l.addr_gen_mode = Some(AddrGenMode::None);
    l.bridge_port = Some(BridgePort { neigh_suppress: true, learning: false });
    l
}

/// An L2VNI without host bridge: bridge, vxlan, veth pair.
fn l2vni(vni: u32) -> Vec<Link> {
    let o = owner("L2VNI", "x");
    let br = Link::new(names::pe_bridge(vni), Side::Router, LinkKind::Bridge, o.clone());
    let mut host = Link::new(
        names::host_veth(vni),
        Side::Host,
        LinkKind::Veth { peer: names::pe_veth(vni), peer_side: Side::Router },
        o.clone(),
    );
    host.mtu = Mtu::UnderlayMinus(50);
    let mut pe = Link::new(
        names::pe_veth(vni),
        Side::Router,
        LinkKind::Veth { peer: names::host_veth(vni), peer_side: Side::Host },
        o,
    );
    pe.mtu = Mtu::UnderlayMinus(50);
    pe.master = Some(names::pe_bridge(vni));
    vec![br, vxlan_link(vni, "100.65.0.1", 4789), host, pe]
}

fn lines(d: &Diff) -> Vec<String> {
    d.ops.iter().map(|o| format!("{:<6} {}", o.side.to_string(), o.action)).collect()
}

fn observed(router: Vec<ObservedLink>, host: Vec<ObservedLink>) -> Observed {
    Observed {
        router: NsState::from_links(router),
        host: NsState::from_links(host),
        router_id_in_host: Some(0),
        host_id_in_router: Some(0),
    }
}

#[test]
fn nothing_wanted_nothing_there_nothing_to_do() {
    let d = diff(&HostNetwork::default(), &observed(vec![lo(&["127.0.0.1/8", "::1/128"])], vec![lo(&[])]));
    assert!(d.ops.is_empty() && d.problems.is_empty(), "{d}");
}

#[test]
fn an_l2vni_from_empty_in_order() {
    let want = HostNetwork { links: l2vni(7), sysctls: Vec::new(), ..Default::default() };
    let d = diff(&want, &observed(vec![lo(&[])], vec![lo(&[])]));
    assert_eq!(
        lines(&d),
        vec![
            "router create bridge br-pe-7",
            "router create vxlan vni7 id 7 local 100.65.0.1 dstport 4789 nolearning dev lo master br-pe-7",
            "router set vni7 addrgenmode none",
            "router set vni7 bridge_slave neigh_suppress on learning off",
            "host   create veth host-e-7 peer pe-e-7 in router",
            "router set pe-e-7 master br-pe-7",
            "router set br-pe-7 up",
            "router set vni7 up",
            "host   set host-e-7 up",
            "router set pe-e-7 up",
        ]
    );
}

#[test]
fn a_changed_vxlan_port_recreates_only_the_vxlan() {
    let want = HostNetwork { links: l2vni(7), sysctls: Vec::new(), ..Default::default() };
    let mut br = obs(2, "br-pe-7", Some("bridge"));
    br.addr_gen_mode = Some(0);
    let mut vx = obs(3, "vni7", Some("vxlan"));
    vx.master = Some(2);
    vx.addr_gen_mode = Some(1);
    vx.bridge_port = Some(BridgePort { neigh_suppress: true, learning: false });
    vx.vxlan = Some(VxlanState {
        vni: 7,
        local: Some("100.65.0.1".parse().unwrap()),
        port: 4790,
        learning: false,
        device: Some(1),
    });
    let mut pe = obs(4, "pe-e-7", Some("veth"));
    pe.master = Some(2);
    pe.link = Some(5);
    pe.link_netnsid = Some(0);
    pe.bridge_port = Some(BridgePort { neigh_suppress: false, learning: true });
    let mut host = obs(5, "host-e-7", Some("veth"));
    host.link = Some(4);
    host.link_netnsid = Some(0);
    let d = diff(&want, &observed(vec![lo(&[]), br, vx, pe], vec![lo(&[]), host]));
    assert_eq!(
        lines(&d),
        vec![
            "router delete vxlan vni7 (recreate: dstport 4790 -> 4789)",
            "router create vxlan vni7 id 7 local 100.65.0.1 dstport 4789 nolearning dev lo master br-pe-7",
            "router set vni7 addrgenmode none",
            "router set vni7 bridge_slave neigh_suppress on learning off",
            "router set vni7 up",
        ]
    );
    assert!(d.ops.iter().all(|o| o.owner == Some(owner("L2VNI", "x"))));
}

#[test]
fn a_veth_whose_peer_is_elsewhere_is_recreated() {
    let want = HostNetwork { links: l2vni(7)[2..].to_vec(), sysctls: Vec::new(), ..Default::default() };
    let mut host = obs(5, "host-e-7", Some("veth"));
    host.link = Some(6); // its peer is pe-e-7 in the host namespace itself
    let mut stray = obs(6, "pe-e-7", Some("veth"));
    stray.link = Some(5);
    let d = diff(&want, &observed(vec![lo(&[])], vec![lo(&[]), host, stray]));
    assert_eq!(lines(&d)[0], "host   delete veth host-e-7 (recreate: its peer is not pe-e-7 in the router namespace)");
    assert!(lines(&d).contains(&"host   create veth host-e-7 peer pe-e-7 in router".to_string()));
}

#[test]
fn stale_objects_are_ours_by_name_and_kind_only() {
    let mut nic = obs(20, "eth9", None);
    nic.group = UNDERLAY_LINK_GROUP;
    nic.addresses = vec!["192.168.1.5/24".parse().unwrap()];
    let router = vec![
        lo(&["127.0.0.1/8", "100.65.0.1/32"]),
        obs(2, "br-pe-12", Some("bridge")),
        obs(3, "br-pe-x", Some("bridge")),
        obs(4, "vni55", Some("bridge")),
        obs(5, "vni56", Some("vxlan")),
        obs(6, "red", Some("vrf")),
        obs(7, "pe-e-3", Some("veth")),
        obs(8, "pt-ns", Some("veth")),
        obs(9, "other", Some("veth")),
        nic,
    ];
    let host = vec![
        lo(&[]),
        obs(2, "host-e-3", Some("veth")),
        obs(3, "br-hs-4", Some("bridge")),
        obs(4, "br-hs-4x", Some("bridge")),
        obs(5, "pt-host", Some("veth")),
        obs(6, "host-e-9", Some("bridge")),
        obs(7, "blue", Some("vrf")),
    ];
    let d = diff(&HostNetwork::default(), &observed(router, host));
    assert_eq!(
        lines(&d),
        vec![
            "host   delete veth host-e-3 (no longer wanted)",
            "host   delete veth pt-host (no longer wanted)",
            "router delete veth pe-e-3 (no longer wanted)",
            "router delete veth pt-ns (no longer wanted)",
            "router delete vxlan vni56 (no longer wanted)",
            "host   delete bridge br-hs-4 (no longer wanted)",
            "router delete bridge br-pe-12 (no longer wanted)",
            "router delete vrf red (no longer wanted)",
            "router move eth9 to the host namespace",
            "host   add address 192.168.1.5/24 to eth9",
            "host   set eth9 group 0",
            "router remove address 100.65.0.1/32 from lo",
            "host   set eth9 up",
        ]
    );
    assert!(d.ops.iter().all(|o| o.owner.is_none()));
}

#[test]
fn vrf_tables_skip_used_and_reserved_ones() {
    let mut want = HostNetwork::default();
    for name in ["a", "b", "c"] {
        want.links.push(Link::new(name, Side::Router, LinkKind::Vrf, owner("L3VNI", name)));
    }
    let mut router = vec![lo(&[])];
    for (i, t) in (1..=252).chain([256]).enumerate() {
        let mut v = obs(10 + i as u32, &format!("v{t}"), Some("vrf"));
        v.vrf_table = Some(t);
        router.push(v);
    }
    // Keep the existing VRFs wanted so they are not deleted.
    for l in router.iter().skip(1) {
        want.links.push(Link::new(l.name.clone(), Side::Router, LinkKind::Vrf, owner("L3VNI", "old")));
    }
    let d = diff(&want, &observed(router, vec![lo(&[])]));
    let tables: Vec<u32> = d
        .ops
        .iter()
        .filter_map(|o| match &o.action {
            Action::CreateLink(NewLink { kind: NewLinkKind::Vrf { table }, .. }) => Some(*table),
            _ => None,
        })
        .collect();
    assert_eq!(tables, vec![257, 258, 259]);
}

#[test]
fn a_master_change_adds_the_addresses_again_after_it() {
    let o = owner("L3VNI", "red");
    let mut pe = Link::new("pe-e-1", Side::Router, LinkKind::Bridge, o.clone());
    pe.master = Some("red".into());
    pe.addresses = vec!["192.169.10.1/24".parse().unwrap(), "2001:db8::1/64".parse().unwrap()];
    let want = HostNetwork {
        links: vec![Link::new("red", Side::Router, LinkKind::Vrf, o), pe],
        sysctls: vec![],
        ..Default::default()
    };
    let mut cur = obs(3, "pe-e-1", Some("bridge"));
    cur.addresses = want.links[1].addresses.clone();
    let mut vrf = obs(2, "red", Some("vrf"));
    vrf.vrf_table = Some(1);
    let d = diff(&want, &observed(vec![lo(&[]), vrf, cur], vec![lo(&[])]));
    assert_eq!(
        lines(&d),
        vec![
            "router set pe-e-1 master red",
            "router add address 192.169.10.1/24 to pe-e-1",
            "router add address 2001:db8::1/64 to pe-e-1",
        ]
    );
}

#[test]
fn sysctls_missing_optional_ones_are_notes_required_ones_problems() {
    let s = |key: &str, optional| Sysctl { key: key.into(), value: "1".into(), optional, side: Side::Router };
    let want = HostNetwork {
        links: vec![],
        sysctls: vec![s("a", false), s("b", true), s("c", false), s("d", false)],
        ..Default::default()
    };
    let mut o = observed(vec![lo(&[])], vec![lo(&[])]);
    o.router.sysctls.insert("a".into(), Some("1".into()));
    o.router.sysctls.insert("b".into(), None);
    o.router.sysctls.insert("c".into(), None);
    o.router.sysctls.insert("d".into(), Some("0".into()));
    let d = diff(&want, &o);
    assert_eq!(lines(&d), vec!["router sysctl d = 1 (was 0)"]);
    assert_eq!(d.notes.len(), 1);
    assert_eq!(d.problems.len(), 1);
    assert_eq!(d.problems[0].object, "sysctl c");
}

#[test]
fn a_sysctl_of_a_link_not_made_yet_is_written_after_the_link() {
    let vrf = Link::new("red", Side::Router, LinkKind::Vrf, owner("L3VPN", "red"));
    let key = "net/ipv4/conf/red/rp_filter";
    let want = HostNetwork {
        links: vec![vrf],
        sysctls: vec![Sysctl { key: key.into(), value: "0".into(), optional: false, side: Side::Router }],
        ..Default::default()
    };
    let mut o = observed(vec![lo(&[])], vec![lo(&[])]);
    o.router.sysctls.insert(key.into(), None);
    let d = diff(&want, &o);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let ops = lines(&d);
    let create = ops.iter().position(|l| l == "router create vrf red table 1").expect("created");
    let write =
        ops.iter().position(|l| l.starts_with("router sysctl net/ipv4/conf/red/rp_filter = 0")).expect("written");
    assert!(create < write, "{ops:?}");
    assert_eq!(link_of_sysctl("net/ipv6/conf/eth0.10/disable_ipv6"), Some("eth0.10"));
    assert_eq!(link_of_sysctl("net/ipv4/conf/all/forwarding"), None);
    assert_eq!(link_of_sysctl("net/vrf/strict_mode"), None);
}

#[test]
fn anycast_gateway_mac_and_address_are_set_in_place() {
    let o = owner("L2VNI", "gw");
    let mut br = Link::new("br-pe-110", Side::Router, LinkKind::Bridge, o);
    br.mac = Some(MacAddr::anycast_gateway(110));
    br.addresses = vec!["192.171.24.1/24".parse().unwrap()];
    let want = HostNetwork { links: vec![br], sysctls: vec![], ..Default::default() };
    let d = diff(&want, &observed(vec![lo(&[]), obs(2, "br-pe-110", Some("bridge"))], vec![lo(&[])]));
    assert_eq!(
        lines(&d),
        vec!["router set br-pe-110 address 00:f3:00:00:00:6f", "router add address 192.171.24.1/24 to br-pe-110"]
    );
}

/// What an agent started again finds: the L3VNI it made before, read back from the kernel by a
/// fresh dump (a VRF; the bridge in it; the VXLAN port of the bridge with learning off,
/// neighbour suppression on and no IPv6 link-local; the veth pair across the namespaces, the
/// router leg in the VRF). Nothing is to be done: the VXLAN, its bridge port flags and its
/// master are as planned.
#[test]
fn an_l3vni_read_back_from_the_kernel_needs_nothing() {
    let o = owner("L3VNI", "red");
    let vrf = Link::new("red", Side::Router, LinkKind::Vrf, o.clone());
    let mut br = Link::new(names::pe_bridge(100), Side::Router, LinkKind::Bridge, o.clone());
    br.master = Some("red".into());
    br.addr_gen_mode = Some(AddrGenMode::None);
    let mut vx = vxlan_link(100, "100.65.0.1", 4789);
    vx.owner = o.clone();
    let mut host = Link::new(
        names::host_veth(100),
        Side::Host,
        LinkKind::Veth { peer: names::pe_veth(100), peer_side: Side::Router },
        o.clone(),
    );
    host.addresses = vec!["192.169.10.2/24".parse().unwrap()];
    let mut pe = Link::new(
        names::pe_veth(100),
        Side::Router,
        LinkKind::Veth { peer: names::host_veth(100), peer_side: Side::Host },
        o,
    );
    pe.master = Some("red".into());
    pe.addresses = vec!["192.169.10.1/24".parse().unwrap(), "2001:db8:169:10::1/64".parse().unwrap()];
    let want = HostNetwork { links: vec![vrf, br, vx, host, pe], ..Default::default() };

    let mut red = obs(2, "red", Some("vrf"));
    red.vrf_table = Some(1);
    red.addr_gen_mode = Some(0);
    let mut br = obs(3, "br-pe-100", Some("bridge"));
    br.master = Some(2);
    br.addr_gen_mode = Some(1);
    let mut vx = obs(4, "vni100", Some("vxlan"));
    vx.master = Some(3);
    vx.mtu = 65486;
    vx.addr_gen_mode = Some(1);
    vx.bridge_port = Some(BridgePort { neigh_suppress: true, learning: false });
    vx.vxlan = Some(VxlanState {
        vni: 100,
        local: Some("100.65.0.1".parse().unwrap()),
        port: 4789,
        learning: false,
        device: Some(1),
    });
    let mut pe = obs(5, "pe-e-100", Some("veth"));
    pe.master = Some(2);
    pe.link = Some(6);
    pe.link_netnsid = Some(0);
    pe.addresses = vec!["192.169.10.1/24".parse().unwrap(), "2001:db8:169:10::1/64".parse().unwrap()];
    let mut host = obs(6, "host-e-100", Some("veth"));
    host.link = Some(5);
    host.link_netnsid = Some(0);
    host.addresses = vec!["192.169.10.2/24".parse().unwrap()];
    let d = diff(&want, &observed(vec![lo(&[]), red, br, vx, pe], vec![lo(&[]), host]));
    assert!(d.ops.is_empty() && d.problems.is_empty(), "{d}");
}
