//! The Underlay's IS-IS and SRv6 settings (the underlay of SRv6 L3VPNs), with upstream's
//! schema rules.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// IS-IS in the underlay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IsisConfig {
    /// The base NET (`49.0001.0002.0003.0004.00`): its system ID is offset by the node index.
    #[schemars(length(min = 25, max = 25))]
    #[x_kube(validation = Rule::new(r"self.matches('^[0-9a-f]{2}\\.([0-9a-f]{4}\\.){4}[0-9a-f]{2}$')").message("baseNet must look like 49.0001.0002.0003.0004.00"))]
    pub base_net: String,
    /// Features of the IS-IS process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub features: Vec<IsisFeature>,
    /// Per-interface settings (the router's loopback and its fabric interfaces take part
    /// anyway, over IPv6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub interfaces: Vec<IsisInterface>,
    /// IS-IS level, 1 or 2 (level-1-2 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [1, 2]))]
    pub level: Option<i32>,
}

/// A feature of the IS-IS process.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IsisFeature {
    /// Advertise only the prefixes of passive interfaces.
    #[serde(rename = "advertisePassiveOnly")]
    AdvertisePassiveOnly,
}

/// IS-IS settings of one interface.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IsisInterface {
    /// Interface name.
    #[schemars(length(min = 1, max = 15))]
    #[x_kube(validation = Rule::new("!self.contains('/') && !self.contains(':') && !self.matches('\\\\s') && self != '.' && self != '..'").message("invalid interface name"))]
    pub name: String,
    /// Address families IS-IS routes on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_family: Option<IpFamily>,
    /// Features of the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub features: Vec<IsisInterfaceFeature>,
}

/// Address families.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IpFamily {
    /// IPv4 only.
    IPv4,
    /// IPv6 only.
    IPv6,
    /// Both.
    DualStack,
}

/// A feature of an IS-IS interface.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IsisInterfaceFeature {
    /// Advertised but no adjacency is formed on it.
    #[serde(rename = "passive")]
    Passive,
}

/// SRv6 in the underlay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Srv6Config {
    /// How IPv4/IPv6 traffic is encapsulated (`H.Encaps` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encap_behavior: Option<Srv6EncapBehavior>,
    /// The locator the node's SIDs are allocated from.
    pub locator: Srv6Locator,
}

/// SRv6 head-end encapsulation behaviours.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Srv6EncapBehavior {
    /// A full outer IPv6 header with a segment routing header.
    #[serde(rename = "H.Encaps")]
    HEncaps,
    /// Reduced: the first SID only in the outer destination address.
    #[serde(rename = "H.Encaps.Red")]
    HEncapsRed,
}

/// An SRv6 locator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Srv6Locator {
    /// The IPv6 prefix of node 0's locator; each node's is the next /48 along by its index.
    #[schemars(length(min = 1, max = 43))]
    #[x_kube(validation = Rule::new("isCIDR(self) && cidr(self).ip().family() == 6").message("basePrefix must be an IPv6 CIDR"))]
    pub base_prefix: String,
    /// SID format.
    pub format: Srv6LocatorFormat,
}

/// SRv6 SID formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Srv6LocatorFormat {
    /// Micro-SIDs: a 32-bit block and a 16-bit node ID.
    #[serde(rename = "usid-f3216")]
    UsidF3216,
}
