//! The kernel side of a PE node.
//!
//! * **Desired state** (this file): every kernel object of the router and host namespaces with
//!   its name, kind, attributes, addresses, master and MTU, named exactly as the upstream router
//!   names them. The planner produces a [`HostNetwork`].
//! * **The kernel** is reached only through the `kernel` crate: its namespaces
//!   ([`kernel::NetNs`]), its netlink socket and typed requests, its sysctls.
//! * **Observe → diff → apply** ([`Datapath`], [`diff()`], [`Op`]): read both namespaces over
//!   netlink, compute an ordered list of plain-data steps, run them. Only differing attributes
//!   are changed; an object is recreated only when an attribute that cannot change did. A
//!   second apply of the same state performs no write at all. Failures are collected per
//!   object and attributed to the resource that wanted it ([`Failure`]), and everything else
//!   still converges.
//! * **`plan --diff`** ([`diff_live`]): the steps against the live kernel, read-only.
//! * **Open vSwitch** ([`ovs`]): host legs attached to OVS bridges, the same way (desired
//!   ports as data, a pure diff, then one database transaction per resource).
//!
//! ## Synchronous, on purpose
//!
//! The API is blocking. A reconcile is a short sequential transaction (each step depends on
//! the previous ones), so async adds nothing but a runtime to the datapath; async callers run
//! it under `spawn_blocking`. Each namespace gets one `NETLINK_ROUTE` socket, opened by a
//! thread that entered the namespace and then ended; a socket stays bound to the namespace it
//! was opened in, so the caller never enters it. Observing scans the kernel's replies in place
//! for the few attributes the diff needs (a namespace with thousands of links takes
//! milliseconds); every write is one of `kernel::rtnl`'s typed requests.
//!
//! Values that only the live kernel knows are expressed as rules, not numbers: the veth MTU
//! depends on the lowest MTU of the underlay NICs ([`Mtu::UnderlayMinus`]) and a VRF's routing
//! table is the lowest free id at apply time ([`LinkKind::Vrf`] has no table).

mod apply;
mod diff;
mod observe;
mod ops;
pub mod ovs;
mod sysctl;

pub use apply::{Datapath, diff_live};
pub use diff::diff;
pub use kernel::{KernelError, NlError};
pub use observe::{NsState, Observed, ObservedLink, VxlanState, is_link_local, parse_addr, parse_link};
pub use ops::{Action, Diff, Failure, LinkChange, NewLink, NewLinkKind, Op, Report};

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

/// What can go wrong reading or changing the kernel (per-object failures of an apply are
/// [`Failure`]s in the [`Report`] instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A namespace could not be created, opened or entered.
    #[error(transparent)]
    Netns(#[from] kernel::NetnsError),
    /// Router and host would be the same namespace.
    #[error("the router and host namespaces are the same ({0}): the router needs a namespace of its own")]
    SameNamespace(String),
    /// A netlink request failed.
    #[error("{side} namespace ({ns}): cannot {action}: {source}")]
    Netlink {
        /// Which namespace.
        side: Side,
        /// Its name or path.
        ns: String,
        /// What was attempted.
        action: String,
        /// The kernel's answer.
        source: NlError,
    },
    /// Reading or writing a sysctl failed.
    #[error("{side} namespace: {source}")]
    Sysctl {
        /// Which namespace.
        side: Side,
        /// What failed.
        source: kernel::sysctl::SysctlError,
    },
    /// A link a step refers to does not exist.
    #[error("link {name} does not exist in the {side} namespace")]
    LinkNotFound {
        /// Which namespace.
        side: Side,
        /// The name.
        name: String,
    },
}

/// Link group that marks underlay NICs moved into the router namespace.
pub const UNDERLAY_LINK_GROUP: u32 = 4242;
/// Bytes of VXLAN encapsulation (outer Ethernet payload: IPv4, UDP and VXLAN headers, and the
/// inner Ethernet header) subtracted from the underlay MTU for veths.
pub const VXLAN_OVERHEAD: u32 = 50;
/// The same with an IPv6 tunnel endpoint: the outer IPv6 header is 20 bytes longer.
pub const VXLAN6_OVERHEAD: u32 = 70;

/// The VXLAN encapsulation overhead for a tunnel endpoint of `vtep`'s family.
pub fn vxlan_overhead(vtep: std::net::IpAddr) -> u32 {
    if vtep.is_ipv6() { VXLAN6_OVERHEAD } else { VXLAN_OVERHEAD }
}
/// Bytes of SRv6 encapsulation (an outer IPv6 header and a segment routing header) subtracted
/// from the underlay MTU for L3VPN veths.
pub const SRV6_OVERHEAD: u32 = 64;
/// A computed veth MTU is only applied when it stays above this value.
pub const MIN_VETH_MTU: u32 = 1280;

/// Kernel object names, shared by the planner and the datapath.
pub mod names {
    /// The PE bridge of a VNI.
    pub fn pe_bridge(vni: u32) -> String {
        format!("br-pe-{vni}")
    }
    /// The VXLAN device of a VNI.
    pub fn vxlan(vni: u32) -> String {
        format!("vni{vni}")
    }
    /// Host leg of a VNI's veth.
    pub fn host_veth(vni: u32) -> String {
        format!("host-e-{vni}")
    }
    /// Router leg of a VNI's veth.
    pub fn pe_veth(vni: u32) -> String {
        format!("pe-e-{vni}")
    }
    /// Host leg of an L3VPN's veth (by its route distinguisher number).
    pub fn host_vpn_veth(rd: u32) -> String {
        format!("host-s-{rd}")
    }
    /// Router leg of an L3VPN's veth.
    pub fn pe_vpn_veth(rd: u32) -> String {
        format!("pe-s-{rd}")
    }
    /// Managed host bridge of an L2VNI.
    pub fn host_bridge(vni: u32) -> String {
        format!("br-hs-{vni}")
    }
    /// Host leg of the passthrough veth.
    pub const PASSTHROUGH_HOST: &str = "pt-host";
    /// Router leg of the passthrough veth.
    pub const PASSTHROUGH_ROUTER: &str = "pt-ns";
    /// The loopback.
    pub const LOOPBACK: &str = "lo";
}

/// Which namespace an object lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The router namespace (`perouter`).
    Router,
    /// The host namespace (where the host's BGP speaker and workloads are).
    Host,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Router => "router",
            Side::Host => "host",
        })
    }
}

/// The resource that wants an object (kernel failures are reported against it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Owner {
    /// Resource kind (`Underlay`, `L3VNI`, …).
    pub kind: String,
    /// Resource name.
    pub name: String,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl MacAddr {
    /// The distributed anycast-gateway MAC of an L2VNI: `00:f3` followed by the big-endian
    /// 32-bit `vni + 1`. Identical on every node so workloads keep their gateway when they move.
    pub fn anycast_gateway(vni: u32) -> MacAddr {
        let b = vni.wrapping_add(1).to_be_bytes();
        MacAddr([0x00, 0xf3, b[0], b[1], b[2], b[3]])
    }
}

/// How a link's MTU is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mtu {
    /// Left as the kernel chose.
    Unchanged,
    /// Lowest underlay NIC MTU minus this overhead, applied only when the result exceeds
    /// [`MIN_VETH_MTU`] (otherwise left unchanged).
    UnderlayMinus(u32),
}

impl Mtu {
    /// Resolves the rule against the lowest underlay MTU observed (None when unknown).
    pub fn resolve(self, lowest_underlay_mtu: Option<u32>) -> Option<u32> {
        match (self, lowest_underlay_mtu) {
            (Mtu::UnderlayMinus(overhead), Some(m)) => {
                let v = m.saturating_sub(overhead);
                (v > MIN_VETH_MTU).then_some(v)
            }
            _ => None,
        }
    }
}

/// IPv6 address generation mode of a link (`addr_gen_mode` sysctl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AddrGenMode {
    /// No link-local address is generated (`addr_gen_mode = 1`).
    None,
}

/// What kind of link, with the attributes that define it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LinkKind {
    /// The namespace loopback (carries the VTEP addresses in the router).
    Loopback,
    /// An existing host NIC moved into the router namespace, keeping its addresses.
    Underlay,
    /// A VRF; its routing table is the lowest free id at apply time.
    Vrf,
    /// A Linux bridge.
    Bridge,
    /// A VXLAN device without remote or group (EVPN programs the FDB).
    #[serde(rename_all = "camelCase")]
    Vxlan {
        /// VXLAN network identifier.
        vni: u32,
        /// Local VTEP address.
        local: IpAddr,
        /// UDP destination port.
        port: u16,
        /// MAC learning (always off: zebra programs the FDB).
        learning: bool,
        /// Lower device.
        device: String,
    },
    /// One leg of a veth pair.
    #[serde(rename_all = "camelCase")]
    Veth {
        /// Name of the other leg.
        peer: String,
        /// Namespace of the other leg.
        peer_side: Side,
    },
}

impl LinkKind {
    /// Short name for tables.
    pub fn label(&self) -> &'static str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Underlay => "underlay",
            LinkKind::Vrf => "vrf",
            LinkKind::Bridge => "bridge",
            LinkKind::Vxlan { .. } => "vxlan",
            LinkKind::Veth { .. } => "veth",
        }
    }
}

/// Bridge-port settings of a link enslaved to a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgePort {
    /// ARP/ND suppression on the port.
    pub neigh_suppress: bool,
    /// MAC learning on the port.
    pub learning: bool,
}

/// A link as it should exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Namespace.
    pub side: Side,
    /// Kind and defining attributes.
    pub kind: LinkKind,
    /// Master device (VRF or bridge), by name in the same namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// MTU rule.
    pub mtu: Mtu,
    /// Fixed MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Addresses the link must carry (others added by us are removed; for an underlay NIC,
    /// the addresses it had on the host are kept as well).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpNet>,
    /// Administrative state.
    pub up: bool,
    /// Link group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// IPv6 address generation mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr_gen_mode: Option<AddrGenMode>,
    /// Bridge-port settings (when enslaved to a bridge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_port: Option<BridgePort>,
    /// Whether the object is ours to create and delete. `false` for objects that exist on
    /// their own (the loopback, an External host bridge): only attributes listed here are set.
    pub managed: bool,
    /// The resource that wants it.
    pub owner: Owner,
}

impl Link {
    /// A managed link with everything else at its neutral value.
    pub fn new(name: impl Into<String>, side: Side, kind: LinkKind, owner: Owner) -> Link {
        Link {
            name: name.into(),
            side,
            kind,
            master: None,
            mtu: Mtu::Unchanged,
            mac: None,
            addresses: Vec::new(),
            up: true,
            group: None,
            addr_gen_mode: None,
            bridge_port: None,
            managed: true,
            owner,
        }
    }
}

/// A per-namespace sysctl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sysctl {
    /// Path under `/proc/sys`, e.g. `net/ipv4/conf/all/forwarding`.
    pub key: String,
    /// Value to write.
    pub value: String,
    /// Missing on older kernels: skipped with a warning instead of failing.
    pub optional: bool,
    /// Namespace.
    pub side: Side,
}

/// The kernel state a node should have.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostNetwork {
    /// Links of both namespaces, in creation order (masters before their ports).
    pub links: Vec<Link>,
    /// Sysctls of the router namespace.
    pub sysctls: Vec<Sysctl>,
    /// Host legs attached to Open vSwitch bridges (an L2VNI's `OVSBridge` host master). Their
    /// master in the kernel is Open vSwitch's business: the kernel diff leaves it alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ovs_ports: Vec<ovs::OvsPort>,
}

impl HostNetwork {
    /// Links of one namespace.
    pub fn links_in(&self, side: Side) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.side == side)
    }

    /// A link by namespace and name.
    pub fn link(&self, side: Side, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.side == side && l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anycast_mac_is_vni_plus_one_big_endian() {
        assert_eq!(MacAddr::anycast_gateway(110).to_string(), "00:f3:00:00:00:6f");
        assert_eq!(MacAddr::anycast_gateway(0x00ff_ffff).to_string(), "00:f3:01:00:00:00");
    }

    #[test]
    fn mtu_rule_respects_floor() {
        assert_eq!(Mtu::UnderlayMinus(50).resolve(Some(1500)), Some(1450));
        assert_eq!(Mtu::UnderlayMinus(50).resolve(Some(1330)), None);
        assert_eq!(Mtu::UnderlayMinus(50).resolve(Some(1331)), Some(1281));
        assert_eq!(Mtu::UnderlayMinus(50).resolve(None), None);
        assert_eq!(Mtu::Unchanged.resolve(Some(9000)), None);
    }
}
