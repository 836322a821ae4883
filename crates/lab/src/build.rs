//! Turns a [`Topology`] into kernel objects with netlink: namespaces, sysctls, loopback
//! addresses, VRFs, bridges, veth pairs (created directly with their peer in the other
//! namespace), VXLANs and default routes. Namespaces are created in parallel, each on its own
//! thread; the netlink work is done concurrently per namespace and per veth pair.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use futures_util::future::try_join_all;
use ipnet::IpNet;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkMessage};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVrf, LinkVxlan,
    RouteMessageBuilder,
};

use crate::fabric::{Namespace, Role, Topology};
use crate::netns::{self, NetnsError};

/// A kernel object could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{ns}: {what}: {source}")]
    Netlink {
        ns: String,
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("{ns}: {what}")]
    Invalid { ns: String, what: String },
    #[error("a blocking task failed: {0}")]
    Join(String),
}

fn nl(ns: &str, what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> BuildError {
    let ns = ns.to_string();
    let what = what.into();
    move |source| BuildError::Netlink { ns, what, source }
}

/// The sysctls of a namespace, written right after it is created.
fn sysctls(ns: &Namespace) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("net.ipv6.conf.all.accept_dad", "0"), ("net.ipv6.conf.default.accept_dad", "0")];
    if ns.forwarding {
        out.extend([("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1")]);
    }
    if ns.role == Role::Leaf {
        out.push(("net.ipv6.conf.all.keep_addr_on_down", "1"));
    }
    out
}

/// Creates every namespace of `topology` (in parallel), calling `created` with each name as soon
/// as it exists (so that a caller can record it for cleanup), and returns a netlink handle per
/// namespace. Runs its threads next to the tokio runtime `rt`.
pub async fn create_namespaces(
    topology: &Topology,
    rt: &tokio::runtime::Handle,
    created: &(dyn Fn(&str) + Sync),
) -> Result<BTreeMap<String, Handle>, BuildError> {
    let tasks = topology.namespaces.iter().map(|ns| {
        let name = ns.name.clone();
        let settings = sysctls(ns);
        let rt = rt.clone();
        async move {
            let task_name = name.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let inner = task_name.clone();
                netns::create(&task_name, move || {
                    for (key, value) in settings {
                        netns::write_sysctl(&inner, key, value)?;
                    }
                    netns::netlink_here(&inner, &rt)
                })
            })
            .await
            .map_err(|e| BuildError::Join(e.to_string()))?;
            // Record even when later steps fail: the namespace exists once create returned Ok.
            let handle = joined?;
            created(&name);
            Ok::<_, BuildError>((name, handle))
        }
    });
    Ok(try_join_all(tasks).await?.into_iter().collect())
}

pub(crate) async fn index(handle: &Handle, ns: &str, ifname: &str) -> Result<u32, BuildError> {
    let msg = handle
        .link()
        .get()
        .match_name(ifname.to_string())
        .execute()
        .try_next()
        .await
        .map_err(nl(ns, format!("cannot find link {ifname}")))?;
    msg.map(|m| m.header.index).ok_or_else(|| BuildError::Invalid { ns: ns.into(), what: format!("no link {ifname}") })
}

pub(crate) async fn set(handle: &Handle, ns: &str, what: String, msg: LinkMessage) -> Result<(), BuildError> {
    handle.link().set(msg).execute().await.map_err(nl(ns, what))
}

pub(crate) async fn add_address(
    handle: &Handle,
    ns: &str,
    ifindex: u32,
    ifname: &str,
    addr: &IpNet,
) -> Result<(), BuildError> {
    handle
        .address()
        .add(ifindex, addr.addr(), addr.prefix_len())
        .execute()
        .await
        .map_err(nl(ns, format!("cannot add {addr} to {ifname}")))
}

/// Objects that live inside one namespace and exist before the veths: `lo`, VRFs, bridges.
async fn build_local(ns: &Namespace, handle: &Handle) -> Result<(), BuildError> {
    let n = ns.name.as_str();
    let lo = index(handle, n, "lo").await?;
    set(handle, n, "cannot set lo up".into(), LinkUnspec::new_with_index(lo).up().build()).await?;
    for addr in &ns.loopback {
        add_address(handle, n, lo, "lo", addr).await?;
    }
    let mut vrf_index = BTreeMap::new();
    for vrf in &ns.vrfs {
        handle
            .link()
            .add(LinkVrf::new(&vrf.name, vrf.table).up().build())
            .execute()
            .await
            .map_err(nl(n, format!("cannot create VRF {} (table {})", vrf.name, vrf.table)))?;
        vrf_index.insert(vrf.name.clone(), index(handle, n, &vrf.name).await?);
    }
    for bridge in &ns.bridges {
        let mut b = LinkBridge::new(&bridge.name);
        if let Some(mac) = bridge.mac {
            b = b.address(mac.to_vec());
        }
        if let Some(vrf) = &bridge.vrf {
            let master = *vrf_index.get(vrf).ok_or_else(|| BuildError::Invalid {
                ns: n.into(),
                what: format!("bridge {} names unknown VRF {vrf}", bridge.name),
            })?;
            b = b.controller(master);
        }
        handle.link().add(b.build()).execute().await.map_err(nl(n, format!("cannot create bridge {}", bridge.name)))?;
    }
    Ok(())
}

/// VXLANs (after the loopback VTEP address exists) and default routes.
async fn build_late(ns: &Namespace, handle: &Handle) -> Result<(), BuildError> {
    let n = ns.name.as_str();
    for vx in &ns.vxlans {
        let IpAddr::V4(local) = vx.local else {
            return Err(BuildError::Invalid {
                ns: n.into(),
                what: format!("{}: IPv6 VTEPs are not supported", vx.name),
            });
        };
        let bridge = index(handle, n, &vx.bridge).await?;
        handle
            .link()
            .add(LinkVxlan::new(&vx.name, vx.vni).local(local).port(4789).learning(false).controller(bridge).build())
            .execute()
            .await
            .map_err(nl(n, format!("cannot create VXLAN {} (VNI {})", vx.name, vx.vni)))?;
        let idx = index(handle, n, &vx.name).await?;
        handle
            .link()
            .set_port(LinkBridgePort::new(idx).learning(false).neigh_suppress(true).build())
            .execute()
            .await
            .map_err(nl(n, format!("cannot set bridge port options of {}", vx.name)))?;
        set(handle, n, format!("cannot set {} up", vx.name), LinkUnspec::new_with_index(idx).up().build()).await?;
    }
    for gw in &ns.gateways {
        let route = match gw {
            IpAddr::V4(g) => RouteMessageBuilder::<std::net::Ipv4Addr>::new().gateway(*g).build(),
            IpAddr::V6(g) => RouteMessageBuilder::<std::net::Ipv6Addr>::new().gateway(*g).build(),
        };
        handle.route().add(route).execute().await.map_err(nl(n, format!("cannot add default route via {gw}")))?;
    }
    Ok(())
}

/// One veth pair, created in A's namespace with its peer directly in B's.
pub(crate) async fn build_veth(
    handles: &BTreeMap<String, Handle>,
    veth: &crate::fabric::Veth,
) -> Result<(), BuildError> {
    let get = |ns: &str| {
        handles.get(ns).ok_or_else(|| BuildError::Invalid { ns: ns.into(), what: "namespace not created".into() })
    };
    let (ha, hb) = (get(&veth.a.ns)?, get(&veth.b.ns)?);
    let peer_ns = std::fs::File::open(netns::path(&veth.b.ns))
        .map_err(|e| BuildError::Netns(NetnsError::Io { name: veth.b.ns.clone(), what: "cannot open", source: e }))?;
    let peer =
        LinkMessageBuilder::<LinkUnspec>::new().name(veth.b.ifname.clone()).setns_by_fd(peer_ns.as_raw_fd()).build();
    let msg = LinkVeth::new(&veth.a.ifname, &veth.b.ifname).set_info_data(InfoData::Veth(InfoVeth::Peer(peer))).build();
    ha.link().add(msg).execute().await.map_err(nl(
        &veth.a.ns,
        format!("cannot create veth {} (peer {} in {})", veth.a.ifname, veth.b.ifname, veth.b.ns),
    ))?;
    drop(peer_ns);
    for (end, handle) in [(&veth.a, ha), (&veth.b, hb)] {
        let n = end.ns.as_str();
        let idx = index(handle, n, &end.ifname).await?;
        let mut up = LinkUnspec::new_with_index(idx).up();
        if let Some(master) = &end.master {
            up = up.controller(index(handle, n, master).await?);
        }
        // Enslave (to a VRF or bridge) before adding addresses: enslaving flushes IPv6 ones.
        set(handle, n, format!("cannot set {} up", end.ifname), up.build()).await?;
        for addr in &end.addresses {
            add_address(handle, n, idx, &end.ifname, addr).await?;
        }
    }
    Ok(())
}

/// Builds every kernel object of `topology` in the namespaces of `handles` (from
/// [`create_namespaces`]).
pub async fn build_objects(topology: &Topology, handles: &BTreeMap<String, Handle>) -> Result<(), BuildError> {
    let handle_of = |ns: &Namespace| {
        handles.get(&ns.name).ok_or_else(|| BuildError::Invalid { ns: ns.name.clone(), what: "not created".into() })
    };
    try_join_all(topology.namespaces.iter().map(|ns| async move { build_local(ns, handle_of(ns)?).await })).await?;
    try_join_all(topology.veths.iter().map(|v| build_veth(handles, v))).await?;
    try_join_all(topology.namespaces.iter().map(|ns| async move { build_late(ns, handle_of(ns)?).await })).await?;
    Ok(())
}

/// Whether the running kernel can create VRF devices (tried in a scratch namespace that vanishes
/// right after).
pub async fn kernel_has_vrf(rt: &tokio::runtime::Handle) -> Result<bool, BuildError> {
    let rt = rt.clone();
    let handle =
        tokio::task::spawn_blocking(move || netns::run_in_scratch(move || netns::netlink_here("scratch", &rt)))
            .await
            .map_err(|e| BuildError::Join(e.to_string()))??;
    let result = handle.link().add(LinkVrf::new("vrfprobe", 4242).build()).execute().await;
    Ok(result.is_ok())
}
