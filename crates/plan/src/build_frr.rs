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
//! * BFD profiles for neighbors that tune BFD, graceful restart, route reflection, listen
//!   ranges, and raw snippets last.

use std::collections::BTreeSet;
use std::net::IpAddr;

use api::{AddressFamilyType, Neighbor, PeerType};
use frr::{
    AddressFamily as Af, AfNeighbor, Afi, Bfd, BfdProfile, BgpInstance, Config, GracefulRestart,
    Neighbor as FrrNeighbor, PeerTarget, RemoteAs, RouteMap, Secret, VrfVni,
};
use ipnet::IpNet;

use crate::Options;
use crate::validate::{Valid, ValidUnderlay, is_ebgp, neighbor_id};

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
    out
}

struct FabricNeighbor {
    neighbor: FrrNeighbor,
    peer: PeerTarget,
    ebgp: bool,
    families: BTreeSet<AddressFamilyType>,
    rr_client: BTreeSet<AddressFamilyType>,
}

fn fabric_neighbor(n: &Neighbor, valid: &Valid, u: &ValidUnderlay, profiles: &mut Vec<BfdProfile>) -> FabricNeighbor {
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
        _ => is_v6_peer && families.contains(&AddressFamilyType::Ipv4Unicast),
    };
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
        password: n.password.clone().map(Secret::new),
        bfd,
        disable_connected_check,
        extended_nexthop,
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
    let mut any_evpn = false;
    for n in &u.spec.neighbors {
        let f = fabric_neighbor(n, valid, u, &mut config.bfd_profiles);
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
    default.address_families = vec![v4, v6];
    if u.has_tunnel_endpoint() || any_evpn {
        default.address_families.push(evpn);
    }
    config.bgp.push(default);

    for l3 in &valid.l3vnis {
        let spec = &l3.resource.spec;
        config.vrf_vnis.push(VrfVni { vrf: spec.vrf.clone(), vni: l3.vni });
        let asn = spec.host_session.as_ref().map(|s| s.asn as u32).unwrap_or(my_asn);
        let mut inst = instance(asn, Some(spec.vrf.clone()), u.router_id);
        inst.graceful_restart = graceful_restart.clone();
        let (mut v4, mut v6, mut evpn) =
            (Af::new(Afi::Ipv4Unicast), Af::new(Afi::Ipv6Unicast), Af::new(Afi::L2vpnEvpn));
        if let (Some(s), Some(ips)) = (&spec.host_session, &l3.session) {
            let ibgp = !is_ebgp(s.host_asn, s.host_type, s.asn);
            for pair in ips.pairs() {
                let ip = pair.host.addr();
                inst.neighbors.push(FrrNeighbor::new(PeerTarget::Address(ip), remote_as(s.host_asn, s.host_type)));
                let own = if ip.is_ipv4() { &mut v4 } else { &mut v6 };
                own.networks.push(IpNet::from(ip));
                v4.neighbors.push(host_neighbor_af(ip, ibgp));
                v6.neighbors.push(host_neighbor_af(ip, ibgp));
            }
        }
        for l2 in valid.l2vnis.iter().filter(|l2| l2.vrf.as_deref() == Some(spec.vrf.as_str())) {
            for g in &l2.gateways {
                let block = if g.addr().is_ipv4() { &mut v4 } else { &mut v6 };
                block.networks.push(g.trunc());
            }
        }
        evpn.advertise_ipv4_unicast = true;
        evpn.advertise_ipv6_unicast = true;
        evpn.route_targets_import = spec.import_rts.clone().unwrap_or_default();
        evpn.route_targets_export = spec.export_rts.clone().unwrap_or_default();
        inst.address_families = vec![v4, v6, evpn];
        config.bgp.push(inst);
    }
    config
}
