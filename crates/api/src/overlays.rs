//! The overlays: L3VNI (EVPN type-5), L3VPN (SRv6) and L2VNI (EVPN type-2/3) resources.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::*;

// ---------------------------------------------------------------------------------------------
// L3VNI
// ---------------------------------------------------------------------------------------------

/// An L3 VPN (EVPN type-5): a VRF in the router, optionally a veth and a BGP session to the host.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "L3VNI",
    doc = "L3VNI: an EVPN type-5 L3 VPN, a VRF in the router with an optional BGP session to the host.",
    plural = "l3vnis",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[x_kube(validation = Rule::new("!has(self.hostSession) || !has(self.hostSession.hostASN) || self.hostSession.hostASN != self.hostSession.asn").message("hostASN must be different from asn"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L3VNISpec {
    /// Nodes this L3VNI applies to; empty or absent means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Linux VRF name in the router namespace.
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$"))]
    pub vrf: String,
    /// VXLAN network identifier.
    #[schemars(range(min = 1, max = 16777215))]
    pub vni: i64,
    /// VXLAN UDP port (default 4789).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    #[schemars(extend("default" = 4789))]
    pub vxlan_port: Option<i32>,
    /// VTEP family for this VNI (IPv4 when available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_address_family: Option<UnderlayAddressFamily>,
    /// Session with the host speaker; absent means no veth and no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_session: Option<HostSession>,
    /// Route targets to export (FRR auto-derives when empty).
    #[serde(rename = "exportRTs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub export_rts: Option<Vec<String>>,
    /// Route targets to import (FRR auto-derives when empty).
    #[serde(rename = "importRTs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub import_rts: Option<Vec<String>>,
}

impl L3VNISpec {
    /// `vxlanPort` with its default applied.
    pub fn vxlan_port(&self) -> i32 {
        self.vxlan_port.unwrap_or(DEFAULT_VXLAN_PORT)
    }
}

// ---------------------------------------------------------------------------------------------
// L3VPN
// ---------------------------------------------------------------------------------------------

/// An L3 VPN over SRv6 (BGP VPNv4/VPNv6): a VRF in the router, optionally a veth and a BGP
/// session to the host.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "L3VPN",
    doc = "L3VPN: an SRv6 L3 VPN (BGP VPNv4/VPNv6), a VRF in the router with an optional BGP session to the host.",
    plural = "l3vpns",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[x_kube(validation = Rule::new("!has(self.hostSession) || !has(self.hostSession.hostASN) || self.hostSession.hostASN != self.hostSession.asn").message("hostASN must be different from asn"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L3VPNSpec {
    /// Nodes this L3VPN applies to; empty or absent means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Linux VRF name in the router namespace.
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$"))]
    pub vrf: String,
    /// The assigned number of the route distinguisher (`<router id>:<n>`); shares the number
    /// space of VNIs on a node.
    #[serde(rename = "rdAssignedNumber")]
    #[schemars(range(min = 1, max = 65535))]
    pub rd_assigned_number: i64,
    /// Session with the host speaker; absent means no veth and no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_session: Option<HostSession>,
    /// Route targets to export (`<underlay ASN>:<rdAssignedNumber>` when absent).
    #[serde(rename = "exportRTs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub export_rts: Option<Vec<String>>,
    /// Route targets to import (at least one: there is no wildcard).
    #[serde(rename = "importRTs")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub import_rts: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// L2VNI
// ---------------------------------------------------------------------------------------------

/// An L2 VPN (EVPN type-2/3): a stretched layer-2 domain handed to a host bridge.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "L2VNI",
    doc = "L2VNI: an EVPN type-2/3 layer-2 segment handed to a host bridge.",
    plural = "l2vnis",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[x_kube(validation = Rule::new("!has(self.gatewayIPs) || size(self.gatewayIPs) == 0 || has(self.routingDomain)").message("gatewayIPs cannot be set without routingDomain"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L2VNISpec {
    /// Nodes this L2VNI applies to; empty or absent means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The L3 domain this segment is routed in; absent means a disconnected segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_domain: Option<RoutingDomain>,
    /// VXLAN network identifier.
    #[schemars(range(min = 1, max = 16777215))]
    pub vni: i64,
    /// VXLAN UDP port (default 4789).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    #[schemars(extend("default" = 4789))]
    pub vxlan_port: Option<i32>,
    /// VTEP family for this VNI (IPv4 when available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay_address_family: Option<UnderlayAddressFamily>,
    /// The host bridge the host leg of the veth is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_master: Option<HostMaster>,
    /// Distributed anycast gateway addresses (one IPv4 and/or one IPv6, with prefix length).
    #[serde(rename = "gatewayIPs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("GatewayIPs cannot be changed"))]
    pub gateway_ips: Option<Vec<String>>,
    /// Route targets this segment's MAC/IP routes are exported with (FRR derives `ASN:VNI`
    /// when empty).
    #[serde(rename = "exportRTs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub export_rts: Option<Vec<String>>,
    /// Route targets whose MAC/IP routes this segment imports (FRR derives `ASN:VNI` when empty).
    #[serde(rename = "importRTs", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic", "items" = {"type": "string", "maxLength": 21}))]
    pub import_rts: Option<Vec<String>>,
}

impl L2VNISpec {
    /// `vxlanPort` with its default applied.
    pub fn vxlan_port(&self) -> i32 {
        self.vxlan_port.unwrap_or(DEFAULT_VXLAN_PORT)
    }
}

/// Kind of routing domain.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RoutingDomainType {
    /// Routed through an L3VNI's VRF.
    L3VNI,
    /// Routed through an L3VPN's VRF (routed traffic leaves over SRv6).
    L3VPN,
}

/// The routing domain of an L2VNI.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("self.type != 'L3VNI' || (has(self.l3vni) && !has(self.l3vpn))").message("type/config mismatch: 'L3VNI' requires the l3vni field and no other"),
    validation = Rule::new("self.type != 'L3VPN' || (has(self.l3vpn) && !has(self.l3vni))").message("type/config mismatch: 'L3VPN' requires the l3vpn field and no other")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoutingDomain {
    /// Discriminator.
    #[serde(rename = "type")]
    pub kind: RoutingDomainType,
    /// The L3VNI (by metadata.name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vni: Option<NamedReference>,
    /// The L3VPN (by metadata.name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l3vpn: Option<NamedReference>,
}

/// A reference to another resource by name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedReference {
    /// metadata.name of the referenced resource.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Kind of host bridge.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HostMasterType {
    /// A Linux bridge.
    LinuxBridge,
    /// An Open vSwitch bridge (not supported yet).
    OVSBridge,
}

/// Who owns the host bridge.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BridgeLifecycle {
    /// Created and deleted by the router (`br-hs-<vni>`).
    Managed,
    /// Exists already; only attached and detached.
    External,
}

/// The host bridge of an L2VNI.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("(self.type == 'LinuxBridge') == has(self.linuxBridge) && (self.type == 'OVSBridge') == has(self.ovsBridge)").message("type/config mismatch: 'LinuxBridge' requires linuxBridge field, 'OVSBridge' requires ovsBridge field"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostMaster {
    /// Discriminator.
    #[serde(rename = "type")]
    pub kind: HostMasterType,
    /// Linux bridge settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_bridge: Option<BridgeConfig>,
    /// OVS bridge settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_bridge: Option<BridgeConfig>,
}

/// Settings of a host bridge.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("(has(self.name) && self.name != '') != (self.lifecycle == 'Managed')").message("name is required for an External bridge and not allowed for a Managed one"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BridgeConfig {
    /// Managed or External.
    pub lifecycle: BridgeLifecycle,
    /// Name of an External bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9_-]*$"))]
    pub name: Option<String>,
}
