//! The FRR configuration of a node, with upstream's semantics:
//!
//! * one `router bgp <underlay ASN>` with the fabric neighbors, their address families (explicit,
//!   or the defaults derived from what the node runs), the VTEP `network`s and
//!   `advertise-all-vni`; eBGP neighbors get `allowas-in` (nodes share an AS), iBGP neighbors
//!   `next-hop-self force` in the unicast families;
//! * the passthrough host neighbor inside that same instance;
//! * per L3VNI a `vrf X / vni N` block and a `router bgp <asn> vrf X` instance with the host
//!   neighbor(s) activated in both unicast families, the host address (and the VRF's L2 gateway
//!   subnets) as `network`s, and `advertise ipv4/ipv6 unicast` plus route targets in EVPN. A
//!   dual-stack session is one instance with two neighbors (upstream rendered it twice);
//! * with SRv6: `router isis ISIS` (the node's NET, its level, `lo` and the fabric interfaces
//!   over IPv6, per-interface overrides) using the locator `MAIN` (the node's /48), the locator
//!   under `segment-routing` with the IPv6 VTEP as the encapsulation source (the outer source of
//!   SRv6 packets, the kernel's `ip sr tunsrc`), the same locator for BGP's VPN SIDs, VPNv4/VPNv6 towards the IPv6
//!   fabric neighbors (sourced from the IPv6 VTEP, `next-hop-self`), and per L3VPN a
//!   `router bgp <asn> vrf X` instance with its host session, `sid vpn per-vrf export auto` and,
//!   in both unicast families, `rd vpn export <router id>:<rd>`, its route targets and
//!   `export vpn` / `import vpn`;
//! * BFD profiles for neighbors that tune BFD, graceful restart, route reflection, listen
//!   ranges, and raw snippets last.

use std::collections::BTreeSet;
use std::net::IpAddr;

use api::{AddressFamilyType, Neighbor, PeerType};
use frr::{
    AddressFamily as Af, AfNeighbor, Afi, Bfd, BfdProfile, BgpInstance, Config, EvpnVni, GracefulRestart, Interface,
    InterfaceIsis, Isis, IsisLevel, Neighbor as FrrNeighbor, PeerTarget, RemoteAs, RouteMap, Secret, Srv6Locator,
    VpnLeak, VrfVni,
};
use ipnet::IpNet;

use crate::Options;
use crate::valid::{SessionIps, Valid, ValidUnderlay};
use crate::validate::{is_ebgp, neighbor_id};

/// Name of the permit-all route map used on host sessions.
const ALLOW_ALL: &str = "allowall";

fn remote_as(asn: Option<i64>, peer_type: Option<PeerType>) -> RemoteAs {
    match (asn, peer_type) {
        (Some(a), _) => RemoteAs::Number(a as u32),
        (None, Some(PeerType::Internal)) => RemoteAs::Internal,
        _ => RemoteAs::External,
    }
}

/// The families a neighbor activates: explicit, or upstream's defaults.
fn families(n: &Neighbor, valid: &Valid, u: &ValidUnderlay) -> BTreeSet<AddressFamilyType> {
    if let Some(explicit) = &n.address_families
        && !explicit.is_empty()
    {
        return explicit.iter().map(|f| f.kind).collect();
    }
    let mut out = BTreeSet::new();
    let is_v6 = n
        .address
        .as_deref()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|a| a.is_ipv6())
        .or_else(|| n.listen_range.as_deref().and_then(|r| r.parse::<IpNet>().ok()).map(|r| r.addr().is_ipv6()))
        .unwrap_or(false);
    out.insert(if is_v6 { AddressFamilyType::Ipv6Unicast } else { AddressFamilyType::Ipv4Unicast });
    if let Some(p) = &valid.passthrough {
        if p.ips.v4.is_some() {
            out.insert(AddressFamilyType::Ipv4Unicast);
        }
        if p.ips.v6.is_some() {
            out.insert(AddressFamilyType::Ipv6Unicast);
        }
    }
    if !valid.l3vnis.is_empty() || !valid.l2vnis.is_empty() {
        out.insert(AddressFamilyType::Ipv4Unicast);
        out.insert(AddressFamilyType::Evpn);
    }
    if u.vtep_v4.is_some() {
        out.insert(AddressFamilyType::Ipv4Unicast);
    }
    if u.vtep_v6.is_some() {
        out.insert(AddressFamilyType::Ipv6Unicast);
    }
    if is_v6 && !valid.l3vpns.is_empty() {
        out.insert(AddressFamilyType::Ipv4Vpn);
        out.insert(AddressFamilyType::Ipv6Vpn);
    }
    out
}

/// The IS-IS process every SRv6 node runs.
const ISIS_PROCESS: &str = "ISIS";
/// The SRv6 locator every SRv6 node defines.
const LOCATOR: &str = "MAIN";

/// `router isis`, its interfaces and the SRv6 locator of an Underlay with IS-IS.
fn isis(u: &ValidUnderlay, config: &mut Config) {
    let (Some(spec), Some(net)) = (&u.spec.isis, &u.isis_net) else { return };
    let is_type = match spec.level {
        Some(1) => IsisLevel::Level1,
        Some(2) => IsisLevel::Level2Only,
        _ => IsisLevel::Level12,
    };
    let advertise_passive_only = spec.features.contains(&api::IsisFeature::AdvertisePassiveOnly);
    let srv6_locator = u.srv6_locator.map(|_| LOCATOR.to_string());
    config.isis =
        Some(Isis { name: ISIS_PROCESS.into(), net: net.clone(), is_type, advertise_passive_only, srv6_locator });
    // `lo` (passive) and every fabric interface route IPv6; `isis.interfaces` overrides them.
    let mut interfaces: Vec<InterfaceIsis> = Vec::new();
    let mut names: Vec<String> = vec!["lo".into()];
    let isis_on = |passive| InterfaceIsis { process: ISIS_PROCESS.into(), ipv4: false, ipv6: true, passive };
    interfaces.push(isis_on(true));
    for nic in u.spec.interfaces.iter().filter_map(|i| i.network_device.as_ref()) {
        names.push(nic.interface_name.clone());
        interfaces.push(isis_on(false));
    }
    for i in &spec.interfaces {
        let setting = InterfaceIsis {
            process: ISIS_PROCESS.into(),
            ipv4: matches!(i.ip_family, Some(api::IpFamily::IPv4 | api::IpFamily::DualStack)),
            ipv6: matches!(i.ip_family, None | Some(api::IpFamily::IPv6 | api::IpFamily::DualStack)),
            passive: i.features.contains(&api::IsisInterfaceFeature::Passive),
        };
        match names.iter().position(|n| *n == i.name) {
            Some(at) => interfaces[at] = setting,
            None => {
                names.push(i.name.clone());
                interfaces.push(setting);
            }
        }
    }
    config.interfaces =
        names.into_iter().zip(interfaces).map(|(name, isis)| Interface { name, isis: Some(isis) }).collect();
    if let Some(prefix) = u.srv6_locator {
        config.srv6_locators.push(Srv6Locator {
            name: LOCATOR.into(),
            prefix,
            block_len: 32,
            node_len: 16,
            func_bits: 16,
            usid: true,
            format: Some("usid-f3216".into()),
        });
        // Encapsulated packets leave from the IPv6 VTEP (validation requires one with a locator).
        config.srv6_encapsulation_source = match u.vtep_v6 {
            Some(IpAddr::V6(vtep)) => Some(vtep),
            _ => None,
        };
    }
}

struct FabricNeighbor {
    neighbor: FrrNeighbor,
    peer: PeerTarget,
    ebgp: bool,
    families: BTreeSet<AddressFamilyType>,
    rr_client: BTreeSet<AddressFamilyType>,
}

/// `secret` is the password read from the neighbor's `passwordSecret`, if any.
fn fabric_neighbor(
    n: &Neighbor,
    secret: Option<Secret>,
    valid: &Valid,
    u: &ValidUnderlay,
    profiles: &mut Vec<BfdProfile>,
) -> FabricNeighbor {
    let id = neighbor_id(n);
    let families = families(n, valid, u);
    let rr_client: BTreeSet<AddressFamilyType> =
        n.address_families.iter().flatten().filter(|f| f.route_reflector_client()).map(|f| f.kind).collect();
    let ebgp = is_ebgp(n.asn, n.peer_type, u.spec.asn);
    let target = if let Some(a) = n.address.as_deref().and_then(|a| a.parse().ok()) {
        PeerTarget::Address(a)
    } else if let Some(r) = n.listen_range.as_deref().and_then(|r| r.parse::<IpNet>().ok()) {
        PeerTarget::ListenRange(r.trunc())
    } else {
        PeerTarget::Interface(n.interface.clone().unwrap_or_default())
    };
    // `ebgpMultiHop` is the only property kind: its presence enables multi-hop.
    let multihop = n
        .properties
        .iter()
        .flatten()
        .find(|p| p.kind == api::NeighborPropertyType::EbgpMultiHop)
        .map(|p| p.ebgp_multi_hop.as_ref().and_then(|m| m.ttl).map(|t| t as u8));
    let is_v6_peer = match &target {
        PeerTarget::Address(a) => a.is_ipv6(),
        PeerTarget::ListenRange(r) => r.addr().is_ipv6(),
        PeerTarget::Interface(_) => false,
    };
    let extended_nexthop = match &target {
        PeerTarget::Interface(_) => true,
        _ => {
            is_v6_peer
                && (families.contains(&AddressFamilyType::Ipv4Unicast)
                    || families.contains(&AddressFamilyType::Ipv4Vpn))
        }
    };
    // VPN routes carry SIDs of the node's locator: the session is sourced from the IPv6 VTEP.
    let vpn = families.contains(&AddressFamilyType::Ipv4Vpn) || families.contains(&AddressFamilyType::Ipv6Vpn);
    let update_source = u.srv6_locator.and(u.vtep_v6).filter(|_| vpn).map(|ip| ip.to_string());
    let disable_connected_check = matches!(target, PeerTarget::Address(_))
        && ebgp
        && multihop.is_none()
        && families.contains(&AddressFamilyType::Ipv6Unicast);
    let bfd = n.bfd.as_ref().map(|b| {
        if b.has_profile_fields() {
            let name = format!("neighbor-{id}");
            profiles.push(BfdProfile {
                name: name.clone(),
                receive_interval: b.receive_interval.map(|v| v as u32),
                transmit_interval: b.transmit_interval.map(|v| v as u32),
                detect_multiplier: b.detect_multiplier.map(|v| v as u8),
                passive_mode: b.session_mode == Some(api::BfdSessionMode::Passive),
                minimum_ttl: b.minimum_ttl.map(|v| v as u8),
            });
            Bfd { profile: Some(name) }
        } else {
            Bfd { profile: None }
        }
    });
    let connect_time = n.connect_time_seconds.map(|c| c as u32).or_else(|| u.spec.graceful_restart.as_ref().map(|_| 5));
    let timers = match (n.keepalive_time_seconds, n.hold_time_seconds) {
        (Some(k), Some(h)) => Some((k as u32, h as u32)),
        _ => None,
    };
    let neighbor = FrrNeighbor {
        ebgp_multihop: multihop,
        port: n.port.map(|p| p as u16),
        timers,
        connect_time,
        password: n.password.clone().map(Secret::new).or(secret),
        bfd,
        disable_connected_check,
        extended_nexthop,
        update_source,
        ..FrrNeighbor::new(target.clone(), remote_as(n.asn, n.peer_type))
    };
    FabricNeighbor { neighbor, peer: target, ebgp, families, rr_client }
}

fn host_neighbor_af(peer: IpAddr, ibgp: bool) -> AfNeighbor {
    AfNeighbor {
        route_map_in: Some(ALLOW_ALL.to_string()),
        route_map_out: Some(ALLOW_ALL.to_string()),
        next_hop_self_force: ibgp,
        ..AfNeighbor::activated(PeerTarget::Address(peer))
    }
}

/// The host speaker's session in a VRF instance: one neighbor per family of the pool, each
/// activated in both unicast families, the host's own address announced in its family.
fn host_session(s: &api::HostSession, ips: &SessionIps, inst: &mut BgpInstance, v4: &mut Af, v6: &mut Af) {
    let ibgp = !is_ebgp(s.host_asn, s.host_type, s.asn);
    for pair in ips.pairs() {
        let ip = pair.host.addr();
        inst.neighbors.push(FrrNeighbor::new(PeerTarget::Address(ip), remote_as(s.host_asn, s.host_type)));
        let own = if ip.is_ipv4() { &mut *v4 } else { &mut *v6 };
        own.networks.push(IpNet::from(ip));
        v4.neighbors.push(host_neighbor_af(ip, ibgp));
        v6.neighbors.push(host_neighbor_af(ip, ibgp));
    }
}

fn instance(asn: u32, vrf: Option<String>, router_id: std::net::Ipv4Addr) -> BgpInstance {
    BgpInstance { router_id: Some(router_id), ..BgpInstance::new(asn, vrf) }
}

/// Builds the configuration.
pub(crate) fn build(valid: &Valid, options: &Options) -> Config {
    // The hostname is left to the applier: FRR prints the system's own hostname, which only
    // the machine running FRR knows.
    let mut config = Config {
        log_level: options.frr_log_level,
        resolve_nht_via_default: true,
        route_maps: vec![RouteMap::allow_all()],
        raw: valid.raw.iter().map(|(_, t)| t.clone()).collect(),
        ..Config::default()
    };
    let Some(u) = &valid.underlay else { return config };
    let my_asn = u.spec.asn as u32;
    let mut default = instance(my_asn, None, u.router_id);
    // Graceful restart covers every instance: the tenant VRFs' host sessions too, so that the
    // host speaker keeps the PE's routes while FRR restarts.
    let graceful_restart = u.spec.graceful_restart.as_ref().map(|gr| GracefulRestart {
        restart_time: gr.restart_time_seconds.unwrap_or(api::DEFAULT_RESTART_TIME) as u32,
        stalepath_time: gr.stale_path_time_seconds.unwrap_or(api::DEFAULT_STALE_PATH_TIME) as u32,
        preserve_fw_state: true,
    });
    default.graceful_restart = graceful_restart.clone();
    if let Some(rr) = &u.spec.route_reflector {
        let id = rr.cluster_id.as_deref().unwrap_or(api::DEFAULT_CLUSTER_ID);
        default.cluster_id = id.parse().ok();
    }
    if u.spec.neighbors.iter().any(|n| n.listen_range.is_some()) {
        default.listen_limit = Some(options.bgp_listen_limit);
    }

    let (mut v4, mut v6, mut evpn) = (Af::new(Afi::Ipv4Unicast), Af::new(Afi::Ipv6Unicast), Af::new(Afi::L2vpnEvpn));
    let (mut vpn4, mut vpn6) = (Af::new(Afi::Ipv4Vpn), Af::new(Afi::Ipv6Vpn));
    let mut any_evpn = false;
    for (i, n) in u.spec.neighbors.iter().enumerate() {
        let secret = u.secret_passwords.get(i).cloned().flatten();
        let f = fabric_neighbor(n, secret, valid, u, &mut config.bfd_profiles);
        for (fam, block) in [(AddressFamilyType::Ipv4Unicast, &mut v4), (AddressFamilyType::Ipv6Unicast, &mut v6)] {
            if f.families.contains(&fam) {
                let mut a = AfNeighbor::activated(f.peer.clone());
                if f.ebgp {
                    a.allowas_in = true;
                } else {
                    a.route_reflector_client = f.rr_client.contains(&fam);
                    a.next_hop_self_force = true;
                }
                block.neighbors.push(a);
            }
        }
        for (fam, block) in [(AddressFamilyType::Ipv4Vpn, &mut vpn4), (AddressFamilyType::Ipv6Vpn, &mut vpn6)] {
            if f.families.contains(&fam) {
                let mut a = AfNeighbor::activated(f.peer.clone());
                a.next_hop_self = true;
                a.route_reflector_client = !f.ebgp && f.rr_client.contains(&fam);
                block.neighbors.push(a);
            }
        }
        if f.families.contains(&AddressFamilyType::Evpn) {
            any_evpn = true;
            let mut a = AfNeighbor::activated(f.peer.clone());
            if f.ebgp {
                a.allowas_in = true;
            } else {
                a.route_reflector_client = f.rr_client.contains(&AddressFamilyType::Evpn);
            }
            evpn.neighbors.push(a);
        }
        default.neighbors.push(f.neighbor);
    }

    if let Some(p) = &valid.passthrough {
        let ibgp = !is_ebgp(p.session.host_asn, p.session.host_type, u.spec.asn);
        for pair in p.ips.pairs() {
            let ip = pair.host.addr();
            default.neighbors.push(FrrNeighbor {
                connect_time: Some(5),
                ..FrrNeighbor::new(PeerTarget::Address(ip), remote_as(p.session.host_asn, p.session.host_type))
            });
            let block = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
            block.networks.push(IpNet::from(ip));
            block.neighbors.push(host_neighbor_af(ip, ibgp));
        }
    }

    if let Some(vtep) = u.vtep_v4 {
        v4.networks.push(IpNet::from(vtep));
    }
    if let Some(vtep) = u.vtep_v6 {
        v6.networks.push(IpNet::from(vtep));
    }
    if u.has_tunnel_endpoint() {
        evpn.advertise_all_vni = true;
    }
    for l2 in valid.l2vnis.iter().filter(|l2| !l2.import_rts.is_empty() || !l2.export_rts.is_empty()) {
        evpn.vnis.push(EvpnVni {
            vni: l2.vni,
            route_targets_import: l2.import_rts.clone(),
            route_targets_export: l2.export_rts.clone(),
        });
    }
    default.address_families = vec![v4, v6, vpn4, vpn6];
    if u.has_tunnel_endpoint() || any_evpn {
        default.address_families.push(evpn);
    }
    if u.srv6_locator.is_some() {
        default.srv6_locator = Some(LOCATOR.into());
    }
    config.bgp.push(default);
    isis(u, &mut config);

    for l3 in &valid.l3vnis {
        let spec = &l3.resource.spec;
        config.vrf_vnis.push(VrfVni { vrf: spec.vrf.clone(), vni: l3.vni });
        let asn = spec.host_session.as_ref().map(|s| s.asn as u32).unwrap_or(my_asn);
        let mut inst = instance(asn, Some(spec.vrf.clone()), u.router_id);
        inst.graceful_restart = graceful_restart.clone();
        let (mut v4, mut v6, mut evpn) =
            (Af::new(Afi::Ipv4Unicast), Af::new(Afi::Ipv6Unicast), Af::new(Afi::L2vpnEvpn));
        if let (Some(s), Some(ips)) = (&spec.host_session, &l3.session) {
            host_session(s, ips, &mut inst, &mut v4, &mut v6);
        }
        gateway_networks(valid, &spec.vrf, &mut v4, &mut v6);
        evpn.advertise_ipv4_unicast = true;
        evpn.advertise_ipv6_unicast = true;
        evpn.route_targets_import = spec.import_rts.clone().unwrap_or_default();
        evpn.route_targets_export = spec.export_rts.clone().unwrap_or_default();
        inst.address_families = vec![v4, v6, evpn];
        config.bgp.push(inst);
    }

    for vpn in &valid.l3vpns {
        let spec = &vpn.resource.spec;
        let asn = spec.host_session.as_ref().map(|s| s.asn as u32).unwrap_or(my_asn);
        let mut inst = instance(asn, Some(spec.vrf.clone()), u.router_id);
        inst.graceful_restart = graceful_restart.clone();
        inst.sid_vpn_per_vrf_export_auto = true;
        let (mut v4, mut v6) = (Af::new(Afi::Ipv4Unicast), Af::new(Afi::Ipv6Unicast));
        if let (Some(s), Some(ips)) = (&spec.host_session, &vpn.session) {
            host_session(s, ips, &mut inst, &mut v4, &mut v6);
        }
        gateway_networks(valid, &spec.vrf, &mut v4, &mut v6);
        let leak = VpnLeak {
            rd: format!("{}:{}", u.router_id, vpn.rd),
            import: vpn.import_rts.clone(),
            export: vpn.export_rts.clone(),
        };
        v4.vpn = Some(leak.clone());
        v6.vpn = Some(leak);
        inst.address_families = vec![v4, v6];
        config.bgp.push(inst);
    }
    config
}

/// The anycast-gateway subnets of the L2VNIs routed in `vrf`, announced from its BGP instance (as
/// type-5 routes through an L3VNI, as VPN routes through an L3VPN).
fn gateway_networks(valid: &Valid, vrf: &str, v4: &mut Af, v6: &mut Af) {
    for l2 in valid.l2vnis.iter().filter(|l2| l2.vrf.as_deref() == Some(vrf)) {
        for g in &l2.gateways {
            let block = if g.addr().is_ipv4() { &mut *v4 } else { &mut *v6 };
            block.networks.push(g.trunc());
        }
    }
}
