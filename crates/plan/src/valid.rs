//! The validated view of a node: what `validate` keeps of each resource, with the values
//! derived for this node (addresses, VTEPs, the IS-IS NET, the SRv6 locator).

use std::net::IpAddr;

use api::{HostSession, L3VNI, L3VPN, ResourceKind, UnderlaySpec};
use ipnet::IpNet;

use crate::Applied;
use crate::ipam::VethIps;

/// A validated Underlay with its derived addresses.
#[derive(Debug, Clone)]
pub struct ValidUnderlay {
    /// Resource name.
    pub name: String,
    /// The spec.
    pub spec: UnderlaySpec,
    /// This node's router id.
    pub router_id: std::net::Ipv4Addr,
    /// This node's IPv4 VTEP.
    pub vtep_v4: Option<IpAddr>,
    /// This node's IPv6 VTEP.
    pub vtep_v6: Option<IpAddr>,
    /// This node's IS-IS NET (the base NET's system ID plus the node index).
    pub isis_net: Option<String>,
    /// This node's SRv6 locator (the base prefix advanced by the node index).
    pub srv6_locator: Option<ipnet::Ipv6Net>,
    /// The password of each neighbor (same order as `spec.neighbors`) read from its
    /// `passwordSecret`; `None` for a neighbor without one or when passwords were not read.
    pub secret_passwords: Vec<Option<frr::Secret>>,
}

impl ValidUnderlay {
    /// True when the Underlay has a tunnel endpoint (VNIs can be used).
    pub fn has_tunnel_endpoint(&self) -> bool {
        self.vtep_v4.is_some() || self.vtep_v6.is_some()
    }
}

/// Veth addresses of a host session, per family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionIps {
    /// IPv4 pair.
    pub v4: Option<VethIps>,
    /// IPv6 pair.
    pub v6: Option<VethIps>,
}

impl SessionIps {
    /// Both families in order (v4 first).
    pub fn pairs(&self) -> impl Iterator<Item = VethIps> {
        self.v4.into_iter().chain(self.v6)
    }
}

/// A validated L3VNI.
#[derive(Debug, Clone)]
pub struct ValidL3Vni {
    /// The resource.
    pub resource: L3VNI,
    /// Resource name.
    pub name: String,
    /// VNI.
    pub vni: u32,
    /// VTEP used by its VXLAN device.
    pub vtep: IpAddr,
    /// VXLAN port.
    pub port: u16,
    /// Host session addresses (absent without a host session).
    pub session: Option<SessionIps>,
}

/// A validated L3VPN.
#[derive(Debug, Clone)]
pub struct ValidL3Vpn {
    /// The resource.
    pub resource: L3VPN,
    /// Resource name.
    pub name: String,
    /// The assigned number of its route distinguisher.
    pub rd: u32,
    /// Route targets imported (at least one).
    pub import_rts: Vec<String>,
    /// Route targets exported (`<underlay ASN>:<rd>` when none are given).
    pub export_rts: Vec<String>,
    /// Host session addresses (absent without a host session).
    pub session: Option<SessionIps>,
}

/// Where the host leg of an L2VNI goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostBridge {
    /// Left unattached.
    None,
    /// `br-hs-<vni>`, created by us.
    Managed,
    /// An existing bridge.
    External(String),
    /// `br-hs-<vni>`, an Open vSwitch bridge created by us.
    OvsManaged,
    /// An existing Open vSwitch bridge.
    OvsExternal(String),
}

/// A validated L2VNI.
#[derive(Debug, Clone)]
pub struct ValidL2Vni {
    /// Resource name.
    pub name: String,
    /// VNI.
    pub vni: u32,
    /// VTEP used by its VXLAN device.
    pub vtep: IpAddr,
    /// VXLAN port.
    pub port: u16,
    /// VRF of its routing domain.
    pub vrf: Option<String>,
    /// Anycast gateway addresses (with prefix length).
    pub gateways: Vec<IpNet>,
    /// Host bridge.
    pub host_bridge: HostBridge,
    /// Route targets imported (empty: FRR derives them).
    pub import_rts: Vec<String>,
    /// Route targets exported (empty: FRR derives them).
    pub export_rts: Vec<String>,
}

/// A validated L3Passthrough.
#[derive(Debug, Clone)]
pub struct ValidPassthrough {
    /// Resource name.
    pub name: String,
    /// The host session.
    pub session: HostSession,
    /// Veth addresses.
    pub ips: SessionIps,
}

/// Everything that is valid on the node.
#[derive(Debug, Clone, Default)]
pub struct Valid {
    /// The Underlay (absent: no Underlay selects the node).
    pub underlay: Option<ValidUnderlay>,
    /// L3VNIs, by name.
    pub l3vnis: Vec<ValidL3Vni>,
    /// L3VPNs, by name.
    pub l3vpns: Vec<ValidL3Vpn>,
    /// L2VNIs, by name.
    pub l2vnis: Vec<ValidL2Vni>,
    /// The passthrough.
    pub passthrough: Option<ValidPassthrough>,
    /// Raw FRR snippets in render order, with their names.
    pub raw: Vec<(String, String)>,
}

impl Valid {
    /// Resources that are part of the plan.
    pub fn applied(&self) -> Vec<Applied> {
        let mut out = Vec::new();
        let mut push = |kind, name: &str| out.push(Applied { kind, name: name.to_string() });
        if let Some(u) = &self.underlay {
            push(ResourceKind::Underlay, &u.name);
        }
        for v in &self.l3vnis {
            push(ResourceKind::L3VNI, &v.name);
        }
        for v in &self.l3vpns {
            push(ResourceKind::L3VPN, &v.name);
        }
        for v in &self.l2vnis {
            push(ResourceKind::L2VNI, &v.name);
        }
        if let Some(p) = &self.passthrough {
            push(ResourceKind::L3Passthrough, &p.name);
        }
        for (name, _) in &self.raw {
            push(ResourceKind::RawFRRConfig, name);
        }
        out
    }
}
