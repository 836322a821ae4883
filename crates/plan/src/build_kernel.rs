//! The desired kernel state of a node, object by object, as upstream creates it (one deliberate
//! difference: the veths of a VNI on an IPv6 tunnel endpoint leave 70 bytes for VXLAN, not 50).

use dataplane::ovs::OvsPort;
use dataplane::{
    AddrGenMode, BridgePort, HostNetwork, Link, LinkKind, MacAddr, Mtu, Owner, SRV6_OVERHEAD, Side, Sysctl,
    UNDERLAY_LINK_GROUP, names, vxlan_overhead,
};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::valid::{HostBridge, Valid};

fn owner(kind: &str, name: &str) -> Owner {
    Owner { kind: kind.to_string(), name: name.to_string() }
}

fn sysctl(key: &str, value: &str, optional: bool) -> Sysctl {
    Sysctl { key: key.to_string(), value: value.to_string(), optional, side: Side::Router }
}

/// Builds the kernel state. Without an Underlay the state is empty: everything we own is removed
/// and the underlay NICs go back to the host.
pub(crate) fn build(valid: &Valid) -> HostNetwork {
    let mut net = HostNetwork::default();
    let Some(underlay) = &valid.underlay else { return net };
    let u_owner = owner("Underlay", &underlay.name);

    net.sysctls = vec![
        sysctl("net/ipv4/conf/all/forwarding", "1", false),
        sysctl("net/ipv6/conf/all/forwarding", "1", false),
        sysctl("net/ipv4/conf/all/arp_accept", "1", false),
        sysctl("net/ipv4/conf/default/arp_accept", "1", false),
        sysctl("net/ipv6/conf/all/accept_untracked_na", "1", true),
        sysctl("net/ipv6/conf/default/accept_untracked_na", "1", true),
    ];

    if underlay.srv6_locator.is_some() {
        net.sysctls.push(sysctl("net/ipv6/conf/all/seg6_enabled", "1", false));
        net.sysctls.push(sysctl("net/ipv6/seg6_flowlabel", "1", true));
    }
    if !valid.l3vpns.is_empty() {
        // SRv6 decapsulation into a VRF looks routes up in that VRF only with strict mode.
        net.sysctls.push(sysctl("net/vrf/strict_mode", "1", false));
    }

    let mut lo = Link::new(names::LOOPBACK, Side::Router, LinkKind::Loopback, u_owner.clone());
    lo.managed = false;
    lo.addresses = underlay.vtep_v4.iter().chain(underlay.vtep_v6.iter()).map(|ip| IpNet::from(*ip)).collect();
    net.links.push(lo);

    for iface in &underlay.spec.interfaces {
        if let Some(nd) = &iface.network_device {
            let mut l = Link::new(&nd.interface_name, Side::Router, LinkKind::Underlay, u_owner.clone());
            l.group = Some(UNDERLAY_LINK_GROUP);
            net.links.push(l);
        }
    }
    // Made in the router namespace by CNI plugins (and deleted by them): never moved, never
    // marked as a NIC to give back to the host.
    for cni in cni_interfaces(valid) {
        net.links.push(Link::new(&cni.ifname, Side::Router, LinkKind::Underlay, u_owner.clone()));
    }

    let vxlan = |vni: u32, vtep, port, master: &str, o: &Owner| {
        let mut l = Link::new(
            names::vxlan(vni),
            Side::Router,
            LinkKind::Vxlan { vni, local: vtep, port, learning: false, device: names::LOOPBACK.to_string() },
            o.clone(),
        );
        l.master = Some(master.to_string());
        l.addr_gen_mode = Some(AddrGenMode::None);
        l.bridge_port = Some(BridgePort { neigh_suppress: true, learning: false });
        l
    };
    // The veths of a VNI leave room for the encapsulation of its tunnel endpoint's family.
    let veth_pair = |vni: u32, vtep: IpAddr, o: &Owner| {
        let veth_mtu = Mtu::UnderlayMinus(vxlan_overhead(vtep));
        let mut host = Link::new(
            names::host_veth(vni),
            Side::Host,
            LinkKind::Veth { peer: names::pe_veth(vni), peer_side: Side::Router },
            o.clone(),
        );
        host.mtu = veth_mtu;
        let mut pe = Link::new(
            names::pe_veth(vni),
            Side::Router,
            LinkKind::Veth { peer: names::host_veth(vni), peer_side: Side::Host },
            o.clone(),
        );
        pe.mtu = veth_mtu;
        (host, pe)
    };

    for l3 in &valid.l3vnis {
        let o = owner("L3VNI", &l3.name);
        let vrf = l3.resource.spec.vrf.clone();
        net.links.push(Link::new(&vrf, Side::Router, LinkKind::Vrf, o.clone()));
        let mut br = Link::new(names::pe_bridge(l3.vni), Side::Router, LinkKind::Bridge, o.clone());
        br.master = Some(vrf.clone());
        br.addr_gen_mode = Some(AddrGenMode::None);
        net.links.push(br);
        net.links.push(vxlan(l3.vni, l3.vtep, l3.port, &names::pe_bridge(l3.vni), &o));
        if let Some(session) = &l3.session {
            let (mut host, mut pe) = veth_pair(l3.vni, l3.vtep, &o);
            host.addresses = session.pairs().map(|p| p.host).collect();
            pe.addresses = session.pairs().map(|p| p.router).collect();
            pe.master = Some(vrf.clone());
            net.links.push(host);
            net.links.push(pe);
        }
    }

    for vpn in &valid.l3vpns {
        let o = owner("L3VPN", &vpn.name);
        let vrf = vpn.resource.spec.vrf.clone();
        net.links.push(Link::new(&vrf, Side::Router, LinkKind::Vrf, o.clone()));
        net.sysctls.push(sysctl(&format!("net/ipv4/conf/{vrf}/rp_filter"), "0", false));
        if let Some(session) = &vpn.session {
            let vpn_mtu = Mtu::UnderlayMinus(SRV6_OVERHEAD);
            let mut host = Link::new(
                names::host_vpn_veth(vpn.rd),
                Side::Host,
                LinkKind::Veth { peer: names::pe_vpn_veth(vpn.rd), peer_side: Side::Router },
                o.clone(),
            );
            host.mtu = vpn_mtu;
            host.addresses = session.pairs().map(|p| p.host).collect();
            let mut pe = Link::new(
                names::pe_vpn_veth(vpn.rd),
                Side::Router,
                LinkKind::Veth { peer: names::host_vpn_veth(vpn.rd), peer_side: Side::Host },
                o.clone(),
            );
            pe.mtu = vpn_mtu;
            pe.addresses = session.pairs().map(|p| p.router).collect();
            pe.master = Some(vrf.clone());
            net.links.push(host);
            net.links.push(pe);
        }
    }

    // VRFs whose routed traffic leaves over SRv6: an L2VNI routed there loses the larger overhead.
    let srv6_vrfs: Vec<&str> = valid.l3vpns.iter().map(|v| v.resource.spec.vrf.as_str()).collect();
    for l2 in &valid.l2vnis {
        let o = owner("L2VNI", &l2.name);
        let bridge = names::pe_bridge(l2.vni);
        let mut br = Link::new(&bridge, Side::Router, LinkKind::Bridge, o.clone());
        br.master = l2.vrf.clone();
        if !l2.gateways.is_empty() {
            br.addresses = l2.gateways.clone();
            br.mac = Some(MacAddr::anycast_gateway(l2.vni));
        }
        net.links.push(br);
        net.links.push(vxlan(l2.vni, l2.vtep, l2.port, &bridge, &o));
        let (mut host, mut pe) = veth_pair(l2.vni, l2.vtep, &o);
        if l2.vrf.as_deref().is_some_and(|vrf| srv6_vrfs.contains(&vrf)) {
            let mtu = Mtu::UnderlayMinus(vxlan_overhead(l2.vtep).max(SRV6_OVERHEAD));
            (host.mtu, pe.mtu) = (mtu, mtu);
        }
        pe.master = Some(bridge.clone());
        match &l2.host_bridge {
            HostBridge::None => {}
            HostBridge::Managed => {
                let hb = Link::new(names::host_bridge(l2.vni), Side::Host, LinkKind::Bridge, o.clone());
                host.master = Some(hb.name.clone());
                net.links.push(hb);
            }
            HostBridge::External(name) => host.master = Some(name.clone()),
            HostBridge::OvsManaged | HostBridge::OvsExternal(_) => {
                let (bridge, managed_bridge) = match &l2.host_bridge {
                    HostBridge::OvsExternal(name) => (name.clone(), false),
                    _ => (names::host_bridge(l2.vni), true),
                };
                net.ovs_ports.push(OvsPort { port: host.name.clone(), bridge, managed_bridge, owner: o.clone() });
            }
        }
        net.links.push(host);
        net.links.push(pe);
    }

    if let Some(p) = &valid.passthrough {
        let o = owner("L3Passthrough", &p.name);
        let mut host = Link::new(
            names::PASSTHROUGH_HOST,
            Side::Host,
            LinkKind::Veth { peer: names::PASSTHROUGH_ROUTER.to_string(), peer_side: Side::Router },
            o.clone(),
        );
        host.addresses = p.ips.pairs().map(|p| p.host).collect();
        let mut pe = Link::new(
            names::PASSTHROUGH_ROUTER,
            Side::Router,
            LinkKind::Veth { peer: names::PASSTHROUGH_HOST.to_string(), peer_side: Side::Host },
            o,
        );
        pe.addresses = p.ips.pairs().map(|p| p.router).collect();
        net.links.push(host);
        net.links.push(pe);
    }
    net
}

/// The underlay interfaces CNI plugins make (`CNIDevice`), with their configurations.
pub(crate) fn cni_interfaces(valid: &Valid) -> Vec<crate::CniInterface> {
    let Some(underlay) = &valid.underlay else { return Vec::new() };
    underlay
        .spec
        .interfaces
        .iter()
        .filter_map(|i| i.cni_device.as_ref())
        .map(|c| crate::CniInterface {
            ifname: c.interface_name.clone().unwrap_or_else(|| api::DEFAULT_CNI_IFNAME.to_string()),
            config: c.raw_config.clone().unwrap_or_default(),
            runtime_config: c.runtime_config.as_ref().and_then(|v| v.as_object().cloned()).unwrap_or_default(),
        })
        .collect()
}
