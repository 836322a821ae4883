//! The custom resources of `network.openperouter.io/v1alpha1`.
//!
//! Field names, enum values, defaults and single-object rules follow the upstream API so that
//! existing manifests apply unchanged. Single-object rules live in the schema (ranges, lengths,
//! patterns, enums) and in CEL (`x-kubernetes-validations`); [`crate::check`] evaluates both
//! locally so host mode gets exactly the checks the API server would run.
//!
//! Defaults are advertised in the schema and applied by the accessor methods (for example
//! [`UnderlaySpec::router_id_cidr`]), so a value that was never written stays `None` here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::isis_srv6::{IsisConfig, Srv6Config};

/// API group of every kind.
pub const GROUP: &str = "network.openperouter.io";
/// API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "network.openperouter.io/v1alpha1";

/// Default `routerIDCIDR` of an Underlay.
pub const DEFAULT_ROUTER_ID_CIDR: &str = "10.0.0.0/24";
/// Default VXLAN UDP port.
pub const DEFAULT_VXLAN_PORT: i32 = 4789;
/// Default route-reflector cluster id.
pub const DEFAULT_CLUSTER_ID: &str = "192.0.2.1";
/// Default graceful-restart restart time (seconds).
pub const DEFAULT_RESTART_TIME: i64 = 120;
/// Default graceful-restart stale-path time (seconds).
pub const DEFAULT_STALE_PATH_TIME: i64 = 360;

/// The (empty) status every spec kind carries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct EmptyStatus {}

// ---------------------------------------------------------------------------------------------
// Underlay
// ---------------------------------------------------------------------------------------------

/// The node's connection to the fabric: BGP sessions towards the ToR, the NICs moved into the
/// router namespace, and the per-node tunnel endpoint.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "Underlay",
    doc = "Underlay: the node's BGP sessions to the fabric, its fabric NICs and its tunnel endpoint.",
    plural = "underlays",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[x_kube(
    validation = Rule::new("!has(self.srv6) || has(self.isis)").message("SRv6 can only be configured if isis is set"),
    validation = Rule::new("!has(self.srv6) || (has(self.tunnelEndpoint) && has(self.tunnelEndpoint.cidrs) && self.tunnelEndpoint.cidrs.exists(c, isCIDR(c) && cidr(c).ip().family() == 6))").message("SRv6 requires at least one IPv6 CIDR in tunnelEndpoint.cidrs"),
    validation = Rule::new("!has(self.routeReflector) || !has(self.routeReflector.clusterID) || !isIP(self.routeReflector.clusterID) || !has(self.routerIDCIDR) || !isCIDR(self.routerIDCIDR) || !cidr(self.routerIDCIDR).containsIP(self.routeReflector.clusterID)").message("routeReflector.clusterID must be outside the routerIDCIDR range")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnderlaySpec {
    /// Nodes this Underlay applies to; empty or absent means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// The router's AS number towards the fabric.
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub asn: i64,
    /// IPv4 CIDR the per-node router id is taken from (host `index+1`).
    #[serde(rename = "routerIDCIDR", default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "10.0.0.0/24"))]
    pub router_id_cidr: Option<String>,
    /// BGP neighbors (ToR switches, route reflectors, listen ranges).
    #[schemars(length(min = 1, max = 128))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub neighbors: Vec<Neighbor>,
    /// Interfaces connecting the node to the fabric, moved into the router namespace.
    #[schemars(length(min = 1))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(validation = Rule::new("self.all(i, i.type == self[0].type)").message("mixing NetworkDevice and CNIDevice is not supported"))]
    pub interfaces: Vec<UnderlayInterface>,
    /// Where the per-node VTEP addresses come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel_endpoint: Option<TunnelEndpointConfig>,
    /// BGP graceful restart; present (even empty) means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// IS-IS in the underlay (needed by SRv6): its NET, level and interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isis: Option<IsisConfig>,
    /// SRv6: the per-node locator and how traffic is encapsulated (L3VPNs ride on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srv6: Option<Srv6Config>,
    /// Makes this node a BGP route reflector; present means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reflector: Option<RouteReflectorConfig>,
}

impl UnderlaySpec {
    /// `routerIDCIDR` with its default applied.
    pub fn router_id_cidr(&self) -> &str {
        self.router_id_cidr.as_deref().unwrap_or(DEFAULT_ROUTER_ID_CIDR)
    }
}

/// An object accepted as-is (schema `type: object` preserving unknown fields).
fn opaque_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// Kind of an underlay interface.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum UnderlayInterfaceType {
    /// An existing host device moved into the router namespace.
    NetworkDevice,
    /// A device created by a CNI plugin inside the router namespace.
    CNIDevice,
}

/// One interface of the underlay (a discriminated union on `type`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("has(self.networkDevice) == (self.type == 'NetworkDevice')").message("type/config mismatch: 'NetworkDevice' requires the networkDevice field and no other"),
    validation = Rule::new("has(self.cniDevice) == (self.type == 'CNIDevice')").message("type/config mismatch: 'CNIDevice' requires the cniDevice field and no other")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnderlayInterface {
    /// Discriminator.
    #[serde(rename = "type")]
    pub kind: UnderlayInterfaceType,
    /// Set when `type: NetworkDevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_device: Option<NetworkDevice>,
    /// Set when `type: CNIDevice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_device: Option<CniDevice>,
}

/// An existing host interface.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkDevice {
    /// Name of the host interface.
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9._-]*$"))]
    pub interface_name: String,
}

/// Source of a CNI configuration.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CniConfigType {
    /// The conflist is given inline in `rawConfig`.
    RawConfig,
}

/// A CNI-provisioned underlay interface.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.rawConfig) == (self.type == 'RawConfig')").message("type/config mismatch: 'RawConfig' requires the rawConfig field"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CniDevice {
    /// Discriminator of the configuration source.
    #[serde(rename = "type")]
    pub kind: CniConfigType,
    /// The CNI conflist (spec ≥ 1.0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "opaque_object")]
    pub raw_config: Option<Value>,
    /// Interface name passed as CNI_IFNAME (default `net1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = r"^[a-zA-Z][a-zA-Z0-9._-]*$"))]
    #[schemars(extend("default" = "net1"))]
    pub interface_name: Option<String>,
    /// CNI capability arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "opaque_object")]
    pub runtime_config: Option<Value>,
}

/// The name a CNI-made underlay interface gets when `interfaceName` is not set.
pub const DEFAULT_CNI_IFNAME: &str = "net1";

/// Per-node VTEP addresses.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TunnelEndpointConfig {
    /// One IPv4 and/or one IPv6 CIDR; node `i` gets host `i` of each.
    #[schemars(length(min = 1, max = 2))]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    #[x_kube(
        validation = Rule::new("self.all(c, isCIDR(c))").message("every tunnel endpoint entry must be a CIDR"),
        validation = Rule::new("self.filter(c, isCIDR(c) && cidr(c).ip().family() == 4).size() <= 1").message("at most one IPv4 tunnel endpoint CIDR is allowed"),
        validation = Rule::new("self.filter(c, isCIDR(c) && cidr(c).ip().family() == 6).size() <= 1").message("at most one IPv6 tunnel endpoint CIDR is allowed")
    )]
    pub cidrs: Vec<String>,
}

/// BGP graceful restart settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GracefulRestartConfig {
    /// Restart time advertised to peers (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4095))]
    #[schemars(extend("default" = 120))]
    pub restart_time_seconds: Option<i64>,
    /// How long stale paths are kept (default 360).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4095))]
    #[schemars(extend("default" = 360))]
    pub stale_path_time_seconds: Option<i64>,
}

/// Route-reflector settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteReflectorConfig {
    /// BGP cluster id (default 192.0.2.1).
    #[serde(rename = "clusterID", default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 7, max = 15))]
    #[schemars(extend("default" = "192.0.2.1"))]
    #[x_kube(validation = Rule::new("isIP(self) && ip(self).family() == 4").message("clusterID must be an IPv4 address"))]
    pub cluster_id: Option<String>,
}

/// `External` or `Internal` peering.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PeerType {
    /// eBGP with whatever AS the peer announces (`remote-as external`).
    External,
    /// iBGP (`remote-as internal`).
    Internal,
}

/// A BGP neighbor of the underlay.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(
    validation = Rule::new("has(self.asn) || has(self.type)").message("either ASN or Type must be set"),
    validation = Rule::new("!has(self.asn) || !has(self.type)").message("ASN and Type cannot be set together"),
    validation = Rule::new("has(self.holdTimeSeconds) == has(self.keepaliveTimeSeconds)").message("holdTimeSeconds and keepaliveTimeSeconds must be set together"),
    validation = Rule::new("!has(self.holdTimeSeconds) || self.holdTimeSeconds == 0 || self.holdTimeSeconds >= 3").message("holdTimeSeconds must be 0 or at least 3"),
    validation = Rule::new("!has(self.holdTimeSeconds) || !has(self.keepaliveTimeSeconds) || self.keepaliveTimeSeconds <= self.holdTimeSeconds").message("keepaliveTimeSeconds must not exceed holdTimeSeconds"),
    validation = Rule::new("has(self.address) || has(self.interface) || has(self.listenRange)").message("one of address, interface or listenRange must be set"),
    validation = Rule::new("!has(self.address) || !has(self.interface)").message("address and interface cannot be set together"),
    validation = Rule::new("!has(self.interface) || !has(self.addressFamilies) || !self.addressFamilies.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn')").message("ipv4vpn and ipv6vpn cannot be used with an interface (unnumbered) neighbor"),
    validation = Rule::new("!has(self.address) || !isIP(self.address) || ip(self.address).family() != 4 || !has(self.addressFamilies) || !self.addressFamilies.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn')").message("ipv4vpn and ipv6vpn require an IPv6 neighbor address"),
    validation = Rule::new("!has(self.listenRange) || !has(self.address)").message("listenRange and address cannot be set together"),
    validation = Rule::new("!has(self.listenRange) || !has(self.interface)").message("listenRange and interface cannot be set together"),
    validation = Rule::new("!has(self.password) || !has(self.passwordSecret)").message("password and passwordSecret cannot be set together"),
    validation = Rule::new("!has(self.addressFamilies) || !self.addressFamilies.exists(f, has(f.properties) && f.properties.exists(p, p.type == 'routeReflectorClient')) || (has(self.type) && self.type == 'Internal')").message("the routeReflectorClient address family property requires type Internal")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Neighbor {
    /// Peer AS number (exclusive with `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub asn: Option<i64>,
    /// `External` or `Internal` (exclusive with `asn`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub peer_type: Option<PeerType>,
    /// Peer IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 39))]
    #[x_kube(validation = Rule::new("isIP(self)").message("address must be an IP address"))]
    pub address: Option<String>,
    /// Interface for a BGP unnumbered session (IPv6 link-local).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15))]
    #[x_kube(validation = Rule::new("self.matches('^[^/:\\\\s]+$') && self != '.' && self != '..'").message("interface must be a valid interface name"))]
    pub interface: Option<String>,
    /// Accept dynamic peers from this range (a peer-group named after the CIDR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 43))]
    #[x_kube(
        validation = Rule::new("isCIDR(self)").message("listenRange must be a CIDR"),
        validation = Rule::new("!isCIDR(self) || !cidr(self).ip().isLinkLocalUnicast()").message("listenRange must not be an IPv6 link-local range")
    )]
    pub listen_range: Option<String>,
    /// Peer TCP port (default 179).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16384))]
    pub port: Option<i32>,
    /// TCP MD5 password. Never logged, never shown in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = r"^\S+$"))]
    pub password: Option<String>,
    /// The TCP MD5 password from a Secret in the Underlay's namespace (in host mode, the file
    /// `<secrets dir>/<name>/<key>`). Never logged, never shown in status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretKeyRef>,
    /// BGP hold time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time_seconds: Option<i64>,
    /// BGP keepalive time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time_seconds: Option<i64>,
    /// BGP connect retry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub connect_time_seconds: Option<i64>,
    /// Session properties (today only `ebgpMultiHop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub properties: Option<Vec<NeighborProperty>>,
    /// BFD for this session; `{}` enables it with FRR defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdSettings>,
    /// Explicit address families; absent means the defaults derived from the node's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    #[x_kube(validation = Rule::new("!(self.exists(f, f.type == 'evpn') && self.exists(f, f.type == 'ipv4vpn' || f.type == 'ipv6vpn'))").message("evpn and ipv4vpn/ipv6vpn address families are mutually exclusive"))]
    pub address_families: Option<Vec<NeighborAddressFamily>>,
}

/// A key of a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the password (default `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub key: Option<String>,
}

/// The key a password is read from when a [`SecretKeyRef`] names none.
pub const DEFAULT_PASSWORD_KEY: &str = "password";

impl SecretKeyRef {
    /// The key, with its default applied.
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(DEFAULT_PASSWORD_KEY)
    }
}

/// Kind of a neighbor property.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum NeighborPropertyType {
    /// eBGP multi-hop session.
    #[serde(rename = "ebgpMultiHop")]
    EbgpMultiHop,
}

/// A neighbor property.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.ebgpMultiHop) || self.type == 'ebgpMultiHop'").message("ebgpMultiHop parameters are only allowed when type is ebgpMultiHop"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeighborProperty {
    /// Discriminator.
    #[serde(rename = "type")]
    pub kind: NeighborPropertyType,
    /// Multi-hop parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multi_hop: Option<EbgpMultiHop>,
}

/// eBGP multi-hop parameters.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EbgpMultiHop {
    /// Maximum hop count (FRR default 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub ttl: Option<i32>,
}

/// BFD session mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BfdSessionMode {
    /// Send control packets (default).
    Active,
    /// Wait for the peer to start.
    Passive,
}

/// BFD settings of a neighbor; any field set turns into a BFD profile.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BfdSettings {
    /// Minimum receive interval in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub receive_interval: Option<i32>,
    /// Minimum transmit interval in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub transmit_interval: Option<i32>,
    /// Detection multiplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 255))]
    pub detect_multiplier: Option<i32>,
    /// Active (default) or Passive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_mode: Option<BfdSessionMode>,
    /// Minimum expected TTL (multi-hop only).
    #[serde(rename = "minimumTTL", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 254))]
    pub minimum_ttl: Option<i32>,
}

impl BfdSettings {
    /// True when any tuning knob is set (and a BFD profile is needed).
    pub fn has_profile_fields(&self) -> bool {
        self.receive_interval.is_some()
            || self.transmit_interval.is_some()
            || self.detect_multiplier.is_some()
            || self.session_mode.is_some()
            || self.minimum_ttl.is_some()
    }
}

/// A BGP address family a neighbor can activate.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum AddressFamilyType {
    /// IPv4 unicast.
    #[serde(rename = "ipv4unicast")]
    Ipv4Unicast,
    /// IPv6 unicast.
    #[serde(rename = "ipv6unicast")]
    Ipv6Unicast,
    /// L2VPN EVPN.
    #[serde(rename = "evpn")]
    Evpn,
    /// IPv4 VPN (SRv6).
    #[serde(rename = "ipv4vpn")]
    Ipv4Vpn,
    /// IPv6 VPN (SRv6).
    #[serde(rename = "ipv6vpn")]
    Ipv6Vpn,
}

/// Kind of an address-family property.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AddressFamilyPropertyType {
    /// The neighbor is a route-reflector client in this family.
    #[serde(rename = "routeReflectorClient")]
    RouteReflectorClient,
}

/// An address-family property.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddressFamilyProperty {
    /// Discriminator.
    #[serde(rename = "type")]
    pub kind: AddressFamilyPropertyType,
}

/// An address family activated for a neighbor.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeighborAddressFamily {
    /// The family.
    #[serde(rename = "type")]
    pub kind: AddressFamilyType,
    /// Per-family properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub properties: Option<Vec<AddressFamilyProperty>>,
}

impl NeighborAddressFamily {
    /// True when the routeReflectorClient property is set.
    pub fn route_reflector_client(&self) -> bool {
        self.properties.iter().flatten().any(|p| p.kind == AddressFamilyPropertyType::RouteReflectorClient)
    }
}

// ---------------------------------------------------------------------------------------------
// Host sessions
// ---------------------------------------------------------------------------------------------

/// The BGP session between the router and the host's speaker across the veth.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("has(self.hostASN) || has(self.hostType)").message("either hostASN or hostType must be set"),
    validation = Rule::new("!has(self.hostASN) || !has(self.hostType)").message("hostASN and hostType cannot be set together")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSession {
    /// The router-side AS number of this session.
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub asn: i64,
    /// The host speaker's AS number.
    #[serde(rename = "hostASN", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub host_asn: Option<i64>,
    /// `External` or `Internal` instead of a host AS number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_type: Option<PeerType>,
    /// The veth addressing pool (same on every node).
    #[serde(rename = "localCIDR")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("LocalCIDR can't be changed"))]
    pub local_cidr: LocalCidrConfig,
}

/// IPv4 and/or IPv6 pools for a host session.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("has(self.ipv4) || has(self.ipv6)").message("at least one of ipv4 or ipv6 must be set"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalCidrConfig {
    /// IPv4 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 4").message("ipv4 must be an IPv4 CIDR"))]
    pub ipv4: Option<String>,
    /// IPv6 pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 6").message("ipv6 must be an IPv6 CIDR"))]
    pub ipv6: Option<String>,
}

/// VTEP address family of a VNI.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum UnderlayAddressFamily {
    /// Use the IPv4 VTEP.
    IPv4,
    /// Use the IPv6 VTEP.
    IPv6,
}

// ---------------------------------------------------------------------------------------------
// L3Passthrough, RawFRRConfig
// ---------------------------------------------------------------------------------------------

/// Plain BGP between the host and the fabric through the router, no encapsulation.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "L3Passthrough",
    doc = "L3Passthrough: plain BGP between the host and the fabric through the router.",
    plural = "l3passthroughs",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L3PassthroughSpec {
    /// Nodes this passthrough applies to; at most one may match a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Session with the host speaker.
    pub host_session: HostSession,
}

/// A verbatim FRR snippet appended to the rendered configuration (experimental, unsupported).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "RawFRRConfig",
    doc = "RawFRRConfig: a verbatim FRR snippet appended to the configuration (experimental).",
    plural = "rawfrrconfigs",
    namespaced,
    status = "EmptyStatus",
    cel
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawFRRConfigSpec {
    /// Nodes this snippet applies to; empty or absent means every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Lower values render first (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    #[schemars(extend("default" = 0))]
    pub priority: Option<i32>,
    /// The FRR configuration text.
    #[schemars(length(min = 1))]
    pub raw_config: String,
}

// ---------------------------------------------------------------------------------------------
// RouterNodeConfigurationStatus
// ---------------------------------------------------------------------------------------------

/// Per-node outcome of applying the configuration (written by the router, read by users).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "RouterNodeConfigurationStatus",
    doc = "RouterNodeConfigurationStatus: the outcome of applying the configuration on one node.",
    plural = "routernodeconfigurationstatuses",
    namespaced,
    status = "RouterNodeConfigurationStatusStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Degraded","type":"string","jsonPath":".status.conditions[?(@.type==\"Degraded\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.appliedRevision","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouterNodeConfigurationStatusSpec {}

/// Status of a node's configuration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterNodeConfigurationStatusStatus {
    /// Resources that could not be applied on this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub failed_resources: Vec<FailedResource>,
    /// `Ready` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The resources this node applied, each with the `metadata.generation` it applied: a
    /// change to a resource is live on the node when its generation appears here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub applied_resources: Vec<AppliedResource>,
    /// A digest of what this node selected when it last reconciled (its resources with their
    /// generations, and its index): it changes exactly when what the node should run changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<String>,
    /// The router's BGP sessions as last sampled (their state only; counters stay on the node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub sessions: Vec<BgpSessionState>,
}

/// One BGP session of the router.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpSessionState {
    /// The VRF (`default` for the fabric and passthrough sessions).
    #[schemars(length(max = 64))]
    pub vrf: String,
    /// The neighbor: an address or, for an unnumbered session, an interface.
    #[schemars(length(min = 1, max = 64))]
    pub peer: String,
    /// FRR's state word: `Established`, `Active`, `Connect`, `Idle`, …
    #[schemars(length(max = 32))]
    pub state: String,
}

/// One resource applied on a node, at a given generation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedResource {
    /// Kind of the resource.
    pub kind: ResourceKind,
    /// metadata.namespace of the resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// metadata.name of the resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The metadata.generation that was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Kind of a resource in an outcome.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum ResourceKind {
    /// An Underlay.
    Underlay,
    /// An L2VNI.
    L2VNI,
    /// An L3VNI.
    L3VNI,
    /// An L3VPN (recognised, not supported yet).
    L3VPN,
    /// An L3Passthrough.
    L3Passthrough,
    /// A RawFRRConfig.
    RawFRRConfig,
    /// The FRR configuration as a whole.
    FrrConfiguration,
}

impl ResourceKind {
    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Underlay => "Underlay",
            ResourceKind::L2VNI => "L2VNI",
            ResourceKind::L3VNI => "L3VNI",
            ResourceKind::L3VPN => "L3VPN",
            ResourceKind::L3Passthrough => "L3Passthrough",
            ResourceKind::RawFRRConfig => "RawFRRConfig",
            ResourceKind::FrrConfiguration => "FrrConfiguration",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a resource failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum FailureReason {
    /// The resource is invalid on this node.
    ValidationFailed,
    /// A resource it depends on is missing or invalid.
    DependencyFailed,
    /// Its kernel objects could not be created.
    OverlayAttachmentFailed,
    /// FRR rejected the configuration.
    FrrConfigurationFailed,
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureReason::ValidationFailed => "ValidationFailed",
            FailureReason::DependencyFailed => "DependencyFailed",
            FailureReason::OverlayAttachmentFailed => "OverlayAttachmentFailed",
            FailureReason::FrrConfigurationFailed => "FrrConfigurationFailed",
        })
    }
}

/// Longest message kept in a [`FailedResource`] (the CRD's limit).
pub const MAX_MESSAGE_LEN: usize = 500;

/// One resource that could not be applied on a node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedResource {
    /// Kind of the resource.
    pub kind: ResourceKind,
    /// metadata.name of the resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Why it failed.
    pub reason: FailureReason,
    /// What is wrong and what to do (at most 500 characters).
    #[schemars(length(min = 1, max = 500))]
    pub message: String,
}

impl FailedResource {
    /// Builds an outcome, capping the message at [`MAX_MESSAGE_LEN`] characters on a char
    /// boundary (a longer message would make the status write fail).
    pub fn new(kind: ResourceKind, name: impl Into<String>, reason: FailureReason, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.chars().count() > MAX_MESSAGE_LEN {
            let cut: String = message.chars().take(MAX_MESSAGE_LEN - 1).collect();
            message = format!("{cut}…");
        }
        if message.is_empty() {
            message = "no details".to_string();
        }
        FailedResource { kind, name: name.into(), reason, message }
    }
}

impl std::fmt::Display for FailedResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}: {}: {}", self.kind, self.name, self.reason, self.message)
    }
}
