//! Turns a [`Topology`] into kernel objects through the `kernel` crate: namespaces, sysctls,
//! loopback addresses, VRFs, bridges, veth pairs (created directly with their peer in the other
//! namespace), VXLANs and default routes. Namespaces are created side by side, one thread each;
//! the objects inside each namespace are built side by side too, one socket per namespace.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use kernel::rtnl::{self, AddrMode, LinkKind, LinkRef, LinkSet, NewLink, Vxlan};
use kernel::{NetNs, NetnsError, NlError, Socket, sysctl};

use crate::fabric::{Namespace, Role, Topology};

/// A kernel object could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{ns}: {source}")]
    Sysctl {
        ns: String,
        #[source]
        source: sysctl::SysctlError,
    },
    #[error("{ns}: {what}: {source}")]
    Netlink {
        ns: String,
        what: String,
        #[source]
        source: NlError,
    },
    #[error("{ns}: {what}")]
    Invalid { ns: String, what: String },
    #[error("a blocking task failed: {0}")]
    Join(String),
}

/// One open netlink socket per namespace of the lab, by name.
pub type Sockets = BTreeMap<String, Socket>;

fn nl(ns: &str, what: impl Into<String>) -> impl FnOnce(NlError) -> BuildError {
    let ns = ns.to_string();
    let what = what.into();
    move |source| BuildError::Netlink { ns, what, source }
}

/// The sysctls of a namespace, written right after it is created.
fn sysctls(ns: &Namespace) -> Vec<(&str, &str)> {
    let mut out = vec![("net/ipv6/conf/all/accept_dad", "0"), ("net/ipv6/conf/default/accept_dad", "0")];
    if ns.forwarding {
        out.extend([("net/ipv4/ip_forward", "1"), ("net/ipv6/conf/all/forwarding", "1")]);
    }
    if ns.role == Role::Leaf {
        out.push(("net/ipv6/conf/all/keep_addr_on_down", "1"));
    }
    out.extend(ns.sysctls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    out
}

/// A netlink socket bound to the named namespace.
pub fn socket_in(name: &str) -> Result<Socket, BuildError> {
    NetNs::open(name)?.run(Socket::open)?.map_err(|e| nl(name, "cannot open netlink")(e.into()))
}

/// Creates every namespace of `topology` (side by side), calling `created` with each name as
/// soon as it exists (so that a caller can record it for cleanup), writes their sysctls and
/// returns a socket per namespace.
pub fn create_namespaces(topology: &Topology, created: &(dyn Fn(&str) + Sync)) -> Result<Sockets, BuildError> {
    let made: Vec<Result<(String, Socket), BuildError>> = std::thread::scope(|s| {
        let workers: Vec<_> = topology
            .namespaces
            .iter()
            .map(|ns| {
                s.spawn(move || {
                    let handle = NetNs::create(&ns.name)?;
                    // Recorded even when later steps fail: the namespace exists from here on.
                    created(&ns.name);
                    let settings = sysctls(ns);
                    let written = handle.run(|| settings.iter().try_for_each(|(k, v)| sysctl::write(k, v)))?;
                    written.map_err(|source| BuildError::Sysctl { ns: ns.name.clone(), source })?;
                    let sock = handle.run(Socket::open)?.map_err(|e| nl(&ns.name, "cannot open netlink")(e.into()))?;
                    Ok((ns.name.clone(), sock))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| Err(panicked("namespace creation")))).collect()
    });
    made.into_iter().collect()
}

fn panicked(what: &str) -> BuildError {
    BuildError::Invalid { ns: "lab".into(), what: format!("{what}: a worker thread panicked") }
}

/// The index of `ifname` in the socket's namespace `ns`.
pub(crate) fn index(sock: &mut Socket, ns: &str, ifname: &str) -> Result<u32, BuildError> {
    sock.index_of(ifname)
        .map_err(nl(ns, format!("cannot find link {ifname}")))?
        .ok_or_else(|| BuildError::Invalid { ns: ns.into(), what: format!("no link {ifname}") })
}

/// Sets `ifname` up, enslaved to `master` when given.
pub(crate) fn set_up(sock: &mut Socket, ns: &str, ifname: &str, master: Option<u32>) -> Result<(), BuildError> {
    let mut changes = vec![LinkSet::Up(true)];
    changes.extend(master.map(|m| LinkSet::Master(Some(m))));
    sock.request(&mut rtnl::set_link(LinkRef::Name(ifname), &changes))
        .map_err(nl(ns, format!("cannot set {ifname} up")))
}

fn add_address(sock: &mut Socket, ns: &str, ifindex: u32, ifname: &str, addr: &IpNet) -> Result<(), BuildError> {
    sock.request(&mut rtnl::add_address(ifindex, addr, AddrMode::Create))
        .map_err(nl(ns, format!("cannot add {addr} to {ifname}")))
}

fn create(sock: &mut Socket, ns: &str, link: &NewLink<'_>, what: String) -> Result<(), BuildError> {
    sock.request(&mut link.message()).map_err(nl(ns, what))
}

/// Objects that live inside one namespace and exist before the veths: `lo`, VRFs, bridges.
fn build_local(ns: &Namespace, sock: &mut Socket) -> Result<(), BuildError> {
    let n = ns.name.as_str();
    set_up(sock, n, "lo", None)?;
    let lo = index(sock, n, "lo")?;
    for addr in &ns.loopback {
        add_address(sock, n, lo, "lo", addr)?;
    }
    let mut vrf_index = BTreeMap::new();
    for vrf in &ns.vrfs {
        let mut link = NewLink::new(&vrf.name, LinkKind::Vrf { table: vrf.table });
        link.up = true;
        create(sock, n, &link, format!("cannot create VRF {} (table {})", vrf.name, vrf.table))?;
        vrf_index.insert(vrf.name.clone(), index(sock, n, &vrf.name)?);
    }
    for bridge in &ns.bridges {
        let mut link = NewLink::new(&bridge.name, LinkKind::Bridge);
        link.mac = bridge.mac;
        link.up = true;
        if let Some(vrf) = &bridge.vrf {
            link.master = Some(*vrf_index.get(vrf).ok_or_else(|| BuildError::Invalid {
                ns: n.into(),
                what: format!("bridge {} names unknown VRF {vrf}", bridge.name),
            })?);
        }
        create(sock, n, &link, format!("cannot create bridge {}", bridge.name))?;
    }
    Ok(())
}

/// VXLANs (after the loopback VTEP address exists) and default routes.
fn build_late(ns: &Namespace, sock: &mut Socket) -> Result<(), BuildError> {
    let n = ns.name.as_str();
    for vx in &ns.vxlans {
        if vx.local.is_ipv6() {
            return Err(BuildError::Invalid {
                ns: n.into(),
                what: format!("{}: IPv6 VTEPs are not supported", vx.name),
            });
        }
        let bridge = index(sock, n, &vx.bridge)?;
        let mut link = NewLink::new(
            &vx.name,
            LinkKind::Vxlan(Vxlan { vni: vx.vni, local: vx.local, port: 4789, learning: false, device: None }),
        );
        link.master = Some(bridge);
        create(sock, n, &link, format!("cannot create VXLAN {} (VNI {})", vx.name, vx.vni))?;
        let port = [LinkSet::BridgePort { neigh_suppress: true, learning: false }, LinkSet::Up(true)];
        sock.request(&mut rtnl::set_link(LinkRef::Name(&vx.name), &port))
            .map_err(nl(n, format!("cannot set bridge port options of {}", vx.name)))?;
    }
    for gw in &ns.gateways {
        let default = match gw {
            IpAddr::V4(_) => IpNet::V4(Default::default()),
            IpAddr::V6(_) => IpNet::V6(Default::default()),
        };
        sock.request(&mut rtnl::add_route(&default, *gw))
            .map_err(nl(n, format!("cannot add default route via {gw}")))?;
    }
    Ok(())
}

/// One veth pair, created in A's namespace with its peer directly in B's.
pub(crate) fn build_veth(sockets: &mut Sockets, veth: &crate::fabric::Veth) -> Result<(), BuildError> {
    build_veth_with_mac(sockets, veth, None)
}

/// [`build_veth`], the first end with the MAC address `mac_a` when given (a NIC made again keeps
/// its address, as a physical one does).
pub(crate) fn build_veth_with_mac(
    sockets: &mut Sockets,
    veth: &crate::fabric::Veth,
    mac_a: Option<[u8; 6]>,
) -> Result<(), BuildError> {
    let peer_ns = NetNs::open(&veth.b.ns)?;
    let sa = sockets
        .get_mut(&veth.a.ns)
        .ok_or_else(|| BuildError::Invalid { ns: veth.a.ns.clone(), what: "namespace not created".into() })?;
    let mut pair = NewLink::new(
        &veth.a.ifname,
        LinkKind::Veth { peer: &veth.b.ifname, peer_mtu: veth.mtu, peer_netns: Some(peer_ns.raw_fd()) },
    );
    pair.mac = mac_a;
    pair.mtu = veth.mtu;
    create(
        sa,
        &veth.a.ns,
        &pair,
        format!("cannot create veth {} (peer {} in {})", veth.a.ifname, veth.b.ifname, veth.b.ns),
    )?;
    drop(peer_ns);
    for end in [&veth.a, &veth.b] {
        let n = end.ns.as_str();
        let sock = sockets
            .get_mut(n)
            .ok_or_else(|| BuildError::Invalid { ns: n.into(), what: "namespace not created".into() })?;
        let master = match &end.master {
            Some(m) => Some(index(sock, n, m)?),
            None => None,
        };
        // Enslave (to a VRF or bridge) before adding addresses: enslaving flushes IPv6 ones.
        set_up(sock, n, &end.ifname, master)?;
        let idx = index(sock, n, &end.ifname)?;
        for addr in &end.addresses {
            add_address(sock, n, idx, &end.ifname, addr)?;
        }
    }
    Ok(())
}

/// Runs `f` for every namespace of `topology`, side by side, each with its own socket.
fn per_namespace(
    topology: &Topology,
    sockets: &mut Sockets,
    f: fn(&Namespace, &mut Socket) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    let by_name: BTreeMap<&str, &Namespace> = topology.namespaces.iter().map(|n| (n.name.as_str(), n)).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = sockets
            .iter_mut()
            .filter_map(|(name, sock)| by_name.get(name.as_str()).map(|ns| (*ns, sock)))
            .map(|(ns, sock)| s.spawn(move || f(ns, sock)))
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| Err(panicked("building"))))
    })
}

/// Builds every kernel object of `topology` in the namespaces of `sockets` (from
/// [`create_namespaces`]).
pub fn build_objects(topology: &Topology, sockets: &mut Sockets) -> Result<(), BuildError> {
    if let Some(ns) = topology.namespaces.iter().find(|n| !sockets.contains_key(&n.name)) {
        return Err(BuildError::Invalid { ns: ns.name.clone(), what: "not created".into() });
    }
    per_namespace(topology, sockets, build_local)?;
    for veth in &topology.veths {
        build_veth(sockets, veth)?;
    }
    per_namespace(topology, sockets, build_late)
}

/// Enslaves `port` to `bridge` in namespace `ns` and sets it up.
pub fn attach(sock: &mut Socket, ns: &str, port: &str, bridge: u32) -> Result<(), BuildError> {
    set_up(sock, ns, port, Some(bridge))
}

/// Whether the running kernel can create VRF devices (tried in a scratch namespace that vanishes
/// right after).
pub fn kernel_has_vrf() -> Result<bool, BuildError> {
    let made = NetNs::scratch(|| {
        let mut sock = Socket::open()?;
        Ok::<_, std::io::Error>(sock.request(&mut NewLink::new("vrfprobe", LinkKind::Vrf { table: 4242 }).message()))
    })?;
    let result = made.map_err(|e| nl("scratch", "cannot open netlink")(e.into()))?;
    Ok(result.is_ok())
}
