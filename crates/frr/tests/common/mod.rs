//! Representative configurations shared by the snapshot and live tests.

#![allow(dead_code)]

use std::net::IpAddr;

use frr::*;

pub const HOSTNAME: &str = "pe-test";
pub const PASSWORD: &str = "s3cr3t-Fixture";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn addr(s: &str) -> PeerTarget {
    PeerTarget::Address(ip(s))
}

fn range(s: &str) -> PeerTarget {
    PeerTarget::ListenRange(s.parse().unwrap())
}

fn iface(s: &str) -> PeerTarget {
    PeerTarget::Interface(s.to_string())
}

fn base() -> Config {
    Config {
        hostname: Some(HOSTNAME.to_string()),
        resolve_nht_via_default: true,
        route_maps: vec![RouteMap::allow_all()],
        ..Config::default()
    }
}

fn af(afi: Afi, neighbors: Vec<AfNeighbor>) -> AddressFamily {
    AddressFamily { neighbors, ..AddressFamily::new(afi) }
}

fn allowall(peer: PeerTarget) -> AfNeighbor {
    AfNeighbor {
        route_map_in: Some("allowall".into()),
        route_map_out: Some("allowall".into()),
        ..AfNeighbor::activated(peer)
    }
}

/// The default instance of a PE: eBGP to the fabric, VTEP /32 announced,
/// EVPN with advertise-all-vni.
fn underlay() -> BgpInstance {
    let leaf = addr("192.168.11.2");
    let mut bgp = BgpInstance::new(64514, None);
    bgp.router_id = "10.0.0.1".parse().ok();
    bgp.neighbors = vec![Neighbor::new(leaf.clone(), RemoteAs::Number(64512))];
    let mut v4 = af(Afi::Ipv4Unicast, vec![AfNeighbor::activated(leaf.clone())]);
    v4.networks = vec!["100.65.0.1/32".parse().unwrap()];
    let mut evpn = af(Afi::L2vpnEvpn, vec![AfNeighbor::activated(leaf)]);
    evpn.advertise_all_vni = true;
    bgp.address_families = vec![v4, evpn];
    bgp
}

pub fn ebgp_underlay_evpn() -> Config {
    Config { bgp: vec![underlay()], ..base() }
}

fn vrf_instance(vrf: &str, vni: u32, hosts: &[(&str, u32)]) -> BgpInstance {
    let mut bgp = BgpInstance::new(64514, Some(vrf.to_string()));
    bgp.router_id = "10.0.0.1".parse().ok();
    let mut v4 = AddressFamily::new(Afi::Ipv4Unicast);
    let mut v6 = AddressFamily::new(Afi::Ipv6Unicast);
    for (host, asn) in hosts {
        let peer = addr(host);
        bgp.neighbors.push(Neighbor::new(peer.clone(), RemoteAs::Number(*asn)));
        v4.neighbors.push(allowall(peer.clone()));
        v6.neighbors.push(allowall(peer));
    }
    let mut evpn = AddressFamily::new(Afi::L2vpnEvpn);
    evpn.advertise_ipv4_unicast = true;
    evpn.advertise_ipv6_unicast = true;
    evpn.route_targets_import = vec![format!("64514:{vni}")];
    evpn.route_targets_export = vec![format!("64514:{vni}")];
    bgp.address_families = vec![evpn, v6, v4];
    bgp
}

pub fn l3vni_vrf_host() -> Config {
    Config {
        vrf_vnis: vec![VrfVni { vrf: "red".into(), vni: 100 }],
        bgp: vec![vrf_instance("red", 100, &[("192.169.10.2", 64515)]), underlay()],
        ..base()
    }
}

pub fn unnumbered() -> Config {
    let port = iface("eth1");
    let mut bgp = BgpInstance::new(64514, None);
    bgp.router_id = "10.0.0.1".parse().ok();
    let mut n = Neighbor::new(port.clone(), RemoteAs::External);
    n.extended_nexthop = true;
    n.bfd = Some(Bfd { profile: None });
    bgp.neighbors = vec![n];
    bgp.address_families = vec![
        af(Afi::L2vpnEvpn, vec![AfNeighbor::activated(port.clone())]),
        af(Afi::Ipv6Unicast, vec![AfNeighbor::activated(port.clone())]),
        af(Afi::Ipv4Unicast, vec![AfNeighbor::activated(port)]),
    ];
    Config { bgp: vec![bgp], ..base() }
}

pub fn listen_range_rr() -> Config {
    let hosts = range("192.168.10.0/24");
    let mut bgp = BgpInstance::new(64514, None);
    bgp.router_id = "10.0.0.1".parse().ok();
    bgp.cluster_id = "10.0.0.1".parse().ok();
    bgp.listen_limit = Some(50);
    bgp.neighbors = vec![Neighbor::new(hosts.clone(), RemoteAs::Internal)];
    let rr = |peer: PeerTarget| AfNeighbor { route_reflector_client: true, ..AfNeighbor::activated(peer) };
    bgp.address_families = vec![af(Afi::Ipv4Unicast, vec![rr(hosts.clone())]), af(Afi::L2vpnEvpn, vec![rr(hosts)])];
    Config { bgp: vec![bgp], ..base() }
}

pub fn bfd_profiles() -> Config {
    let mut bgp = underlay();
    bgp.neighbors[0].bfd = Some(Bfd { profile: Some("fast".into()) });
    let mut plain = Neighbor::new(addr("192.168.12.2"), RemoteAs::Number(64512));
    plain.bfd = Some(Bfd { profile: None });
    bgp.neighbors.push(plain);
    Config {
        bfd_profiles: vec![
            BfdProfile {
                receive_interval: Some(100),
                transmit_interval: Some(150),
                detect_multiplier: Some(5),
                passive_mode: true,
                minimum_ttl: Some(250),
                ..BfdProfile::new("fast")
            },
            BfdProfile {
                // All defaults: printed as an empty profile.
                receive_interval: Some(300),
                detect_multiplier: Some(3),
                minimum_ttl: Some(254),
                ..BfdProfile::new("defaults")
            },
        ],
        bgp: vec![bgp],
        ..base()
    }
}

pub fn graceful_restart_default() -> Config {
    let mut bgp = underlay();
    bgp.graceful_restart = Some(GracefulRestart::default());
    Config { bgp: vec![bgp], ..base() }
}

pub fn graceful_restart_custom() -> Config {
    let mut bgp = underlay();
    bgp.graceful_restart = Some(GracefulRestart { restart_time: 200, stalepath_time: 400, preserve_fw_state: false });
    Config { bgp: vec![bgp], ..base() }
}

pub fn password() -> Config {
    let mut bgp = underlay();
    bgp.neighbors[0].password = Some(Secret::new(PASSWORD));
    Config { bgp: vec![bgp], ..base() }
}

/// A raw snippet that FRR prints at the very end (a BFD peer in the `bfd`
/// node, with no BFD profile in the model), written canonically.
pub fn raw_snippets() -> Config {
    Config { bgp: vec![underlay()], raw: vec!["bfd\n peer 192.168.11.2\n exit\n !\nexit\n!".to_string()], ..base() }
}

pub fn debug_logging() -> Config {
    Config { log_level: LogLevel::Debugging, bgp: vec![underlay()], ..base() }
}

pub fn forwarding_off() -> Config {
    Config { ipv4_forwarding: false, ipv6_forwarding: false, log_level: LogLevel::Warnings, ..base() }
}

pub fn empty() -> Config {
    Config::default()
}

/// Everything at once, with several items of each kind to exercise sorting.
pub fn kitchen_sink() -> Config {
    let mut def = underlay();
    def.cluster_id = "10.0.0.1".parse().ok();
    def.graceful_restart = Some(GracefulRestart { restart_time: 90, ..GracefulRestart::default() });
    def.listen_limit = Some(20);
    let mut multihop = Neighbor::new(addr("10.0.0.9"), RemoteAs::External);
    multihop.ebgp_multihop = Some(None);
    multihop.port = Some(1179);
    multihop.timers = Some((3, 9));
    multihop.connect_time = Some(10);
    multihop.password = Some(Secret::new(PASSWORD));
    multihop.bfd = Some(Bfd { profile: Some("fast".into()) });
    multihop.disable_connected_check = true;
    multihop.extended_nexthop = true;
    multihop.update_source = Some("10.0.0.1".into());
    let mut ibgp = Neighbor::new(addr("10.0.0.10"), RemoteAs::Number(64514));
    ibgp.update_source = Some("lo".into());
    ibgp.ebgp_multihop = Some(Some(3));
    let mut v6peer = Neighbor::new(addr("fd00::1"), RemoteAs::Number(64520));
    v6peer.ebgp_multihop = Some(Some(2));
    // Rejected by FRR on interface peers / implicit for them: not rendered.
    let mut eth10 = Neighbor::new(iface("eth10"), RemoteAs::Number(64600));
    eth10.ebgp_multihop = Some(Some(2));
    eth10.extended_nexthop = true;
    eth10.password = Some(Secret::new(PASSWORD));
    let mut v6range = Neighbor::new(range("fd00:10::/64"), RemoteAs::External);
    v6range.ebgp_multihop = Some(Some(4));
    v6range.timers = Some((10, 30));
    def.neighbors.extend([
        multihop,
        ibgp,
        v6peer,
        Neighbor::new(addr("2001:db8::1"), RemoteAs::External),
        eth10,
        Neighbor::new(iface("eth2"), RemoteAs::Internal),
        Neighbor::new(range("192.168.10.0/24"), RemoteAs::Internal),
        v6range,
    ]);
    let mut v4 = af(
        Afi::Ipv4Unicast,
        vec![
            AfNeighbor { allowas_in: true, next_hop_self_force: true, ..allowall(addr("10.0.0.9")) },
            AfNeighbor { route_reflector_client: true, ..AfNeighbor::activated(addr("10.0.0.10")) },
            AfNeighbor { route_reflector_client: true, ..AfNeighbor::activated(range("192.168.10.0/24")) },
            AfNeighbor::activated(iface("eth2")),
            AfNeighbor::activated(iface("eth10")),
        ],
    );
    v4.networks = vec![
        "10.1.0.0/16".parse().unwrap(),
        "10.0.0.0/8".parse().unwrap(),
        "10.0.0.0/24".parse().unwrap(),
        "9.0.0.0/8".parse().unwrap(),
    ];
    let mut v6 = af(
        Afi::Ipv6Unicast,
        vec![
            AfNeighbor::activated(addr("fd00::1")),
            AfNeighbor::activated(addr("2001:db8::1")),
            AfNeighbor::activated(range("fd00:10::/64")),
        ],
    );
    v6.networks = vec!["fd00:1::/64".parse().unwrap(), "2001:db8::/32".parse().unwrap()];
    def.address_families.extend([v4, v6]);

    let mut blue = vrf_instance("blue", 200, &[("192.170.10.3", 64516), ("192.170.10.2", 64516)]);
    blue.address_families[0].route_targets_import.extend([
        "65000:5".to_string(),
        "1.2.3.4:7".to_string(),
        "4200000000:100".to_string(),
    ]);
    let red = vrf_instance("red", 100, &[("192.169.10.2", 64515), ("2001:db8:1::2", 64515)]);

    Config {
        vrf_vnis: vec![VrfVni { vrf: "red".into(), vni: 100 }, VrfVni { vrf: "blue".into(), vni: 200 }],
        bfd_profiles: vec![
            BfdProfile { transmit_interval: Some(100), ..BfdProfile::new("fast") },
            BfdProfile { passive_mode: true, ..BfdProfile::new("echo-less") },
        ],
        route_maps: vec![
            RouteMap { name: "zz-deny".into(), action: RouteMapAction::Deny, seq: 10 },
            RouteMap { name: "allowall".into(), action: RouteMapAction::Deny, seq: 20 },
            RouteMap::allow_all(),
        ],
        bgp: vec![red, blue, def],
        ..base()
    }
}

/// Every representative config, by snapshot name.
pub fn representative() -> Vec<(&'static str, Config)> {
    vec![
        ("ebgp_underlay_evpn", ebgp_underlay_evpn()),
        ("l3vni_vrf_host", l3vni_vrf_host()),
        ("unnumbered", unnumbered()),
        ("listen_range_rr", listen_range_rr()),
        ("bfd_profiles", bfd_profiles()),
        ("graceful_restart_default", graceful_restart_default()),
        ("graceful_restart_custom", graceful_restart_custom()),
        ("password", password()),
        ("raw_snippets", raw_snippets()),
        ("debug_logging", debug_logging()),
        ("forwarding_off", forwarding_off()),
        ("empty", empty()),
        ("kitchen_sink", kitchen_sink()),
    ]
}

/// The same config with every vector (at every level) in another order.
pub fn shuffled(config: &Config) -> Config {
    fn mix<T: Clone>(v: &[T]) -> Vec<T> {
        // Reverse, then rotate by one: differs from the input for len >= 2.
        let mut out: Vec<T> = v.iter().rev().cloned().collect();
        if out.len() > 2 {
            out.rotate_left(1);
        }
        out
    }
    let mut c = config.clone();
    c.vrf_vnis = mix(&c.vrf_vnis);
    c.bfd_profiles = mix(&c.bfd_profiles);
    c.route_maps = mix(&c.route_maps);
    c.bgp = mix(&c.bgp);
    for bgp in &mut c.bgp {
        bgp.neighbors = mix(&bgp.neighbors);
        bgp.address_families = mix(&bgp.address_families);
        for af in &mut bgp.address_families {
            af.networks = mix(&af.networks);
            af.neighbors = mix(&af.neighbors);
            af.route_targets_import = mix(&af.route_targets_import);
            af.route_targets_export = mix(&af.route_targets_export);
        }
    }
    c
}

/// An underlay with IS-IS and an SRv6 locator, VPNv4/VPNv6 towards an IPv6 fabric peer, and a
/// VRF exporting and importing through the VPN tables (FRR ≥ 10: the locator's `behavior usid`
/// and `format` are not known to 8.4).
pub fn srv6_l3vpn() -> Config {
    use frr::{
        AddressFamily, AfNeighbor, Afi, BgpInstance, Interface, InterfaceIsis, Isis, IsisLevel, Neighbor, PeerTarget,
        RemoteAs, RouteMap, Srv6Locator, VpnLeak,
    };
    let fabric: std::net::IpAddr = "fd00::1".parse().unwrap();
    let host: std::net::IpAddr = "192.168.2.2".parse().unwrap();
    let mut underlay = BgpInstance::new(64512, None);
    underlay.router_id = Some("10.0.0.1".parse().unwrap());
    let mut n = Neighbor::new(PeerTarget::Address(fabric), RemoteAs::Number(64513));
    n.extended_nexthop = true;
    n.update_source = Some("fd00:0:33::1".into());
    underlay.neighbors.push(n);
    underlay.srv6_locator = Some("MAIN".into());
    for afi in [Afi::Ipv4Vpn, Afi::Ipv6Vpn] {
        let mut af = AddressFamily::new(afi);
        af.neighbors.push(AfNeighbor { next_hop_self: true, ..AfNeighbor::activated(PeerTarget::Address(fabric)) });
        underlay.address_families.push(af);
    }
    let mut vrf = BgpInstance::new(64512, Some("red".into()));
    vrf.router_id = Some("10.0.0.1".parse().unwrap());
    vrf.sid_vpn_per_vrf_export_auto = true;
    vrf.neighbors.push(Neighbor::new(PeerTarget::Address(host), RemoteAs::Number(65001)));
    for afi in [Afi::Ipv4Unicast, Afi::Ipv6Unicast] {
        let mut af = AddressFamily::new(afi);
        if afi == Afi::Ipv4Unicast {
            af.networks.push("192.168.2.2/32".parse().unwrap());
            af.neighbors.push(AfNeighbor {
                route_map_in: Some("allowall".into()),
                route_map_out: Some("allowall".into()),
                ..AfNeighbor::activated(PeerTarget::Address(host))
            });
        }
        af.vpn = Some(VpnLeak {
            rd: "10.0.0.1:100".into(),
            import: vec!["64520:101".into(), "64520:100".into(), "64520:9".into()],
            export: vec!["64512:100".into()],
        });
        vrf.address_families.push(af);
    }
    Config {
        hostname: Some("srv6-live".into()),
        route_maps: vec![RouteMap::allow_all()],
        bgp: vec![vrf, underlay],
        interfaces: vec![
            Interface {
                name: "lo".into(),
                isis: Some(InterfaceIsis { process: "ISIS".into(), ipv4: false, ipv6: true, passive: true }),
            },
            Interface {
                name: "eth0".into(),
                isis: Some(InterfaceIsis { process: "ISIS".into(), ipv4: true, ipv6: true, passive: false }),
            },
        ],
        isis: Some(Isis {
            name: "ISIS".into(),
            net: "49.0001.0002.0003.0004.00".into(),
            is_type: IsisLevel::Level1,
            advertise_passive_only: true,
            srv6_locator: Some("MAIN".into()),
        }),
        srv6_locators: vec![Srv6Locator {
            name: "MAIN".into(),
            prefix: "fd00:0:32::/48".parse().unwrap(),
            block_len: 32,
            node_len: 16,
            func_bits: 16,
            usid: true,
            format: Some("usid-f3216".into()),
        }],
        srv6_encapsulation_source: Some("fd00:0:33::1".parse().unwrap()),
        ..Config::default()
    }
}

/// A started FRR instance of `fleet` that can do SRv6 (isisd added, forwarding on), or `None`
/// (with a loud skip message for `test`) when the installed FRR is older than 10.
pub fn srv6_instance(
    fleet: &mut frr::testing::Fleet,
    prefix: &str,
    hostname: &str,
    test: &str,
) -> Option<frr::Instance> {
    let mut spec = fleet.spec(prefix, Some(hostname)).unwrap();
    if !spec.version.at_least(10, 0) {
        frr::testing::skip_loudly(test, &format!("FRR {} has no SRv6 micro-SID locators", spec.version));
        return None;
    }
    spec.daemons.push("isisd".into());
    let inst = fleet.adopt(spec);
    frr::testing::enable_forwarding(fleet.namespaces().last().unwrap()).unwrap();
    fleet.start_all().unwrap();
    Some(inst)
}
