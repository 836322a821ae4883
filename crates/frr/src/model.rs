//! The typed FRR configuration model.
//!
//! Plain data: the caller (the planner) decides every semantic choice, the
//! renderer in [`crate::render`] only prints. Vectors may be given in any
//! order; the renderer sorts them the way FRR 8.4 does.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde::{Serialize, Serializer};

/// The text printed instead of a secret by [`Secret`]'s `Debug`/`Serialize`
/// and by [`Config::render_redacted`](crate::Config::render_redacted).
pub const REDACTED: &str = "<redacted>";

/// FRR's default BGP graceful-restart restart time (seconds); not printed.
pub const DEFAULT_GR_RESTART_TIME: u32 = 120;
/// FRR's default BGP graceful-restart stale-path time (seconds); not printed.
pub const DEFAULT_GR_STALEPATH_TIME: u32 = 360;
/// FRR's default `bgp listen limit`; not printed.
pub const DEFAULT_LISTEN_LIMIT: u32 = 100;
/// The BGP port; `neighbor X port 179` is not printed by FRR.
pub const DEFAULT_BGP_PORT: u16 = 179;
/// bfdd's default receive/transmit interval (milliseconds); not printed.
pub const DEFAULT_BFD_INTERVAL_MS: u32 = 300;
/// bfdd's default detect multiplier; not printed.
pub const DEFAULT_BFD_DETECT_MULTIPLIER: u8 = 3;
/// bfdd's default minimum TTL for multi-hop sessions; not printed.
pub const DEFAULT_BFD_MINIMUM_TTL: u8 = 254;

/// The whole FRR configuration (the content of `frr.conf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// `hostname X`. FRR 8.4 does not propagate a `hostname` command loaded
    /// through vtysh to the daemons: `show running-config` always prints the
    /// hostname of the system (UTS namespace) the daemons and vtysh run in.
    /// Set it to that hostname, or leave it `None` to not manage it (then
    /// [`normalize_running_config`](crate::normalize_running_config) must be
    /// told to drop FRR's line, and `frr-reload.py` will offer to remove it).
    pub hostname: Option<String>,
    /// `log stdout LEVEL`; [`LogLevel::Debugging`] also enables the debug
    /// lines listed in [`crate::render::DEBUG_LINES`].
    pub log_level: LogLevel,
    /// Kernel IPv4 forwarding as zebra reports it. `true` renders nothing
    /// (FRR prints nothing when forwarding is on, its default), `false`
    /// renders `no ip forwarding` (what zebra prints when it is off, e.g. in a
    /// fresh network namespace). Loading the file applies it to the kernel.
    pub ipv4_forwarding: bool,
    /// Same as [`Config::ipv4_forwarding`] for `no ipv6 forwarding`.
    pub ipv6_forwarding: bool,
    /// `ip nht resolve-via-default` and `ipv6 nht resolve-via-default`.
    pub resolve_nht_via_default: bool,
    /// `vrf NAME` / ` vni N` / `exit-vrf` blocks (zebra's L3VNI mapping).
    pub vrf_vnis: Vec<VrfVni>,
    /// Profiles under the `bfd` node.
    pub bfd_profiles: Vec<BfdProfile>,
    /// Route-map entries (without clauses), e.g. `route-map allowall permit 1`.
    pub route_maps: Vec<RouteMap>,
    /// BGP instances: the default one (`vrf: None`) and VRF instances.
    pub bgp: Vec<BgpInstance>,
    /// `interface NAME` blocks (IS-IS on the interface).
    pub interfaces: Vec<Interface>,
    /// `router isis NAME`.
    pub isis: Option<Isis>,
    /// `segment-routing` / ` srv6` / `  locators`: the SRv6 locators.
    pub srv6_locators: Vec<Srv6Locator>,
    /// `segment-routing` / ` srv6` / `  encapsulation` / `   source-address A`: the outer source
    /// address of the packets zebra encapsulates in SRv6 (the kernel's `ip sr tunsrc`, `::`
    /// without it: the kernel then picks one of the node's addresses).
    pub srv6_encapsulation_source: Option<std::net::Ipv6Addr>,
    /// Verbatim snippets appended at the end, in the given order, each
    /// terminated by a newline. They are not canonicalised: FRR re-sorts them
    /// into its own node order, so a config with raw snippets is only
    /// canonical when the snippets are canonical and belong at the end.
    pub raw: Vec<String>,
}

impl Config {
    /// Whether the configuration uses SRv6 (micro-SID locators or an encapsulation source), which
    /// FRR knows from 10.0 on (8.4 refuses `behavior usid` and `format`).
    pub fn needs_srv6(&self) -> bool {
        !self.srv6_locators.is_empty() || self.srv6_encapsulation_source.is_some()
    }

    /// Whether the configuration has IS-IS (its daemon, isisd, must run).
    pub fn needs_isisd(&self) -> bool {
        self.isis.is_some() || self.interfaces.iter().any(|i| i.isis.is_some())
    }
}

impl Default for Config {
    /// Nothing configured: no hostname, `log stdout informational`,
    /// forwarding on (renders nothing), no NHT, no blocks.
    fn default() -> Self {
        Config {
            hostname: None,
            log_level: LogLevel::Informational,
            ipv4_forwarding: true,
            ipv6_forwarding: true,
            resolve_nht_via_default: false,
            vrf_vnis: Vec::new(),
            bfd_profiles: Vec::new(),
            route_maps: Vec::new(),
            bgp: Vec::new(),
            interfaces: Vec::new(),
            isis: None,
            srv6_locators: Vec::new(),
            srv6_encapsulation_source: None,
            raw: Vec::new(),
        }
    }
}

/// Syslog-style levels, spelled the way FRR prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Emergencies,
    Alerts,
    Critical,
    Errors,
    Warnings,
    Notifications,
    Informational,
    Debugging,
}

impl LogLevel {
    /// FRR's keyword for the level (`zlog_priority[]`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Emergencies => "emergencies",
            LogLevel::Alerts => "alerts",
            LogLevel::Critical => "critical",
            LogLevel::Errors => "errors",
            LogLevel::Warnings => "warnings",
            LogLevel::Notifications => "notifications",
            LogLevel::Informational => "informational",
            LogLevel::Debugging => "debugging",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `interface NAME` with its IS-IS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    /// `ip router isis P` / `ipv6 router isis P` / `isis passive`.
    pub isis: Option<InterfaceIsis>,
}

/// IS-IS on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceIsis {
    /// The IS-IS process (`router isis NAME`).
    pub process: String,
    /// `ip router isis NAME`.
    pub ipv4: bool,
    /// `ipv6 router isis NAME`.
    pub ipv6: bool,
    /// `isis passive`.
    pub passive: bool,
}

/// `router isis NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Isis {
    pub name: String,
    /// `net X`.
    pub net: String,
    /// `is-type …` (level-1-2, the default, is not printed).
    pub is_type: IsisLevel,
    /// `advertise-passive-only`.
    pub advertise_passive_only: bool,
    /// ` segment-routing srv6` / `  locator NAME`.
    pub srv6_locator: Option<String>,
}

/// IS-IS levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IsisLevel {
    /// `is-type level-1`.
    Level1,
    /// `is-type level-2-only`.
    Level2Only,
    /// Both (FRR's default).
    Level12,
}

/// An SRv6 locator under `segment-routing` / `srv6` / `locators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Srv6Locator {
    pub name: String,
    /// `prefix P block-len B node-len N func-bits F`.
    pub prefix: ipnet::Ipv6Net,
    pub block_len: u8,
    pub node_len: u8,
    pub func_bits: u8,
    /// `behavior usid`.
    pub usid: bool,
    /// `format NAME`.
    pub format: Option<String>,
}

/// `vrf NAME` with ` vni VNI`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VrfVni {
    pub vrf: String,
    pub vni: u32,
}

/// A bfdd profile. Values equal to bfdd's defaults are not printed by FRR,
/// so the renderer omits them too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdProfile {
    pub name: String,
    /// `receive-interval MS` (default 300).
    pub receive_interval: Option<u32>,
    /// `transmit-interval MS` (default 300).
    pub transmit_interval: Option<u32>,
    /// `detect-multiplier N` (default 3).
    pub detect_multiplier: Option<u8>,
    /// `passive-mode`.
    pub passive_mode: bool,
    /// `minimum-ttl N` (default 254).
    pub minimum_ttl: Option<u8>,
}

impl BfdProfile {
    /// A profile with every value at its default.
    pub fn new(name: impl Into<String>) -> Self {
        BfdProfile {
            name: name.into(),
            receive_interval: None,
            transmit_interval: None,
            detect_multiplier: None,
            passive_mode: false,
            minimum_ttl: None,
        }
    }
}

/// `permit` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteMapAction {
    Permit,
    Deny,
}

impl RouteMapAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteMapAction::Permit => "permit",
            RouteMapAction::Deny => "deny",
        }
    }
}

/// One route-map entry without match/set clauses:
/// `route-map NAME permit|deny SEQ` / `exit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteMap {
    pub name: String,
    pub action: RouteMapAction,
    pub seq: u32,
}

impl RouteMap {
    /// `route-map allowall permit 1`, the only route-map OpenPERouter uses.
    pub fn allow_all() -> Self {
        RouteMap { name: "allowall".to_string(), action: RouteMapAction::Permit, seq: 1 }
    }
}

/// `router bgp ASN [vrf NAME]`.
///
/// `no bgp ebgp-requires-policy`, `no bgp default ipv4-unicast` and
/// `no bgp network import-check` are always rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BgpInstance {
    pub asn: u32,
    pub vrf: Option<String>,
    pub router_id: Option<Ipv4Addr>,
    pub graceful_restart: Option<GracefulRestart>,
    /// `bgp cluster-id X`.
    pub cluster_id: Option<Ipv4Addr>,
    /// `bgp listen limit N`; 100 is FRR's default and is not printed.
    pub listen_limit: Option<u32>,
    pub neighbors: Vec<Neighbor>,
    pub address_families: Vec<AddressFamily>,
    /// ` segment-routing srv6` / `  locator NAME` (the default instance: SIDs for VPN routes
    /// come from this locator).
    pub srv6_locator: Option<String>,
    /// ` sid vpn per-vrf export auto` (a VRF instance exporting over SRv6).
    pub sid_vpn_per_vrf_export_auto: bool,
}

impl BgpInstance {
    pub fn new(asn: u32, vrf: Option<String>) -> Self {
        BgpInstance {
            asn,
            vrf,
            router_id: None,
            graceful_restart: None,
            cluster_id: None,
            listen_limit: None,
            neighbors: Vec::new(),
            address_families: Vec::new(),
            srv6_locator: None,
            sid_vpn_per_vrf_export_auto: false,
        }
    }
}

/// `bgp graceful-restart` and friends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GracefulRestart {
    /// `bgp graceful-restart restart-time N`, printed only when != 120.
    pub restart_time: u32,
    /// `bgp graceful-restart stalepath-time N`, printed only when != 360.
    pub stalepath_time: u32,
    /// `bgp graceful-restart preserve-fw-state`.
    pub preserve_fw_state: bool,
}

impl Default for GracefulRestart {
    /// FRR's default timers, with `preserve-fw-state`.
    fn default() -> Self {
        GracefulRestart {
            restart_time: DEFAULT_GR_RESTART_TIME,
            stalepath_time: DEFAULT_GR_STALEPATH_TIME,
            preserve_fw_state: true,
        }
    }
}

/// Who a `neighbor` statement is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum PeerTarget {
    /// `neighbor 192.168.1.2 remote-as ...`
    Address(IpAddr),
    /// Unnumbered: `neighbor eth1 interface remote-as ...`
    Interface(String),
    /// Dynamic neighbors: a peer-group named after the (masked) CIDR,
    /// `neighbor 192.168.10.0/24 peer-group`,
    /// `neighbor 192.168.10.0/24 remote-as ...` and
    /// `bgp listen range 192.168.10.0/24 peer-group 192.168.10.0/24`.
    /// Per-neighbor options apply to the peer-group.
    ListenRange(IpNet),
}

impl PeerTarget {
    /// The word used after `neighbor`: the address, the interface name, or
    /// the peer-group name (the CIDR with host bits cleared).
    pub fn name(&self) -> String {
        match self {
            PeerTarget::Address(ip) => ip.to_string(),
            PeerTarget::Interface(name) => name.clone(),
            PeerTarget::ListenRange(net) => net.trunc().to_string(),
        }
    }
}

impl From<IpAddr> for PeerTarget {
    fn from(ip: IpAddr) -> Self {
        PeerTarget::Address(ip)
    }
}

/// The `remote-as` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RemoteAs {
    Number(u32),
    Internal,
    External,
}

impl fmt::Display for RemoteAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteAs::Number(n) => write!(f, "{n}"),
            RemoteAs::Internal => f.write_str("internal"),
            RemoteAs::External => f.write_str("external"),
        }
    }
}

/// A secret string (BGP password). `Debug` and `Serialize` print
/// [`REDACTED`]; use [`Secret::expose`] to get the value.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// `neighbor X bfd` (and `neighbor X bfd profile P` when a profile is set;
/// FRR prints both lines in that case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bfd {
    pub profile: Option<String>,
}

/// Options of a neighbor that live directly under `router bgp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbor {
    pub target: PeerTarget,
    pub remote_as: RemoteAs,
    /// `neighbor X ebgp-multihop` (`Some(None)`, printed by FRR as
    /// `ebgp-multihop 255`) or `neighbor X ebgp-multihop N`.
    /// FRR 8.4 silently ignores it for iBGP peers, treats a TTL of 1 as "not
    /// set", and rejects it for interface peers ("Operation not allowed on a
    /// directly connected neighbor"): in those cases nothing is rendered.
    pub ebgp_multihop: Option<Option<u8>>,
    /// `neighbor X port N` (179 is not printed).
    pub port: Option<u16>,
    /// `(keepalive, hold)`: `neighbor X timers K H`.
    pub timers: Option<(u32, u32)>,
    /// `neighbor X timers connect N`.
    pub connect_time: Option<u32>,
    /// `neighbor X password P`.
    pub password: Option<Secret>,
    pub bfd: Option<Bfd>,
    /// `neighbor X disable-connected-check`.
    pub disable_connected_check: bool,
    /// `neighbor X capability extended-nexthop`. Always on for interface
    /// peers, for which FRR does not print it (so neither does the renderer).
    pub extended_nexthop: bool,
    /// `neighbor X update-source IF|ADDR` (addresses are normalised).
    pub update_source: Option<String>,
}

impl Neighbor {
    /// A neighbor with no options.
    pub fn new(target: PeerTarget, remote_as: RemoteAs) -> Self {
        Neighbor {
            target,
            remote_as,
            ebgp_multihop: None,
            port: None,
            timers: None,
            connect_time: None,
            password: None,
            bfd: None,
            disable_connected_check: false,
            extended_nexthop: false,
            update_source: None,
        }
    }
}

/// BGP address families, in the order FRR prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Afi {
    Ipv4Unicast,
    Ipv4Vpn,
    Ipv6Unicast,
    Ipv6Vpn,
    L2vpnEvpn,
}

impl Afi {
    /// The words after `address-family`.
    pub fn as_str(self) -> &'static str {
        match self {
            Afi::Ipv4Unicast => "ipv4 unicast",
            Afi::Ipv4Vpn => "ipv4 vpn",
            Afi::Ipv6Unicast => "ipv6 unicast",
            Afi::Ipv6Vpn => "ipv6 vpn",
            Afi::L2vpnEvpn => "l2vpn evpn",
        }
    }
}

/// ` address-family ...` / ` exit-address-family`. An address family that
/// would print nothing is omitted, as FRR does. Several entries with the
/// same `afi` are merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressFamily {
    pub afi: Afi,
    /// `network X` (host bits are cleared).
    pub networks: Vec<IpNet>,
    pub neighbors: Vec<AfNeighbor>,
    /// EVPN only: `advertise-all-vni`.
    pub advertise_all_vni: bool,
    /// EVPN only: `advertise ipv4 unicast`.
    pub advertise_ipv4_unicast: bool,
    /// EVPN only: `advertise ipv6 unicast`.
    pub advertise_ipv6_unicast: bool,
    /// EVPN only: `route-target import X`.
    pub route_targets_import: Vec<String>,
    /// EVPN only: `route-target export X`.
    pub route_targets_export: Vec<String>,
    /// EVPN of the default instance only: per-VNI settings (`vni N` … `exit-vni`).
    pub vnis: Vec<EvpnVni>,
    /// Unicast of a VRF instance: leaking to and from the VPN tables.
    pub vpn: Option<VpnLeak>,
}

/// `rd vpn export`, `rt vpn import|export`, `export vpn`, `import vpn` in a VRF instance's
/// unicast address family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VpnLeak {
    /// `rd vpn export RD`.
    pub rd: String,
    /// `rt vpn import RT…`.
    pub import: Vec<String>,
    /// `rt vpn export RT…`.
    pub export: Vec<String>,
}

impl AddressFamily {
    pub fn new(afi: Afi) -> Self {
        AddressFamily {
            afi,
            networks: Vec::new(),
            neighbors: Vec::new(),
            advertise_all_vni: false,
            advertise_ipv4_unicast: false,
            advertise_ipv6_unicast: false,
            route_targets_import: Vec::new(),
            route_targets_export: Vec::new(),
            vnis: Vec::new(),
            vpn: None,
        }
    }
}

/// ` vni N` / `  route-target import|export X` / ` exit-vni` in the default instance's EVPN
/// address family: the route targets of one layer-2 VNI. A side whose only route target is the
/// one bgpd derives itself (`ASN:VNI`) prints nothing, as bgpd keeps it as derived; a VNI with
/// nothing to print is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvpnVni {
    pub vni: u32,
    /// `route-target import X`.
    pub route_targets_import: Vec<String>,
    /// `route-target export X`.
    pub route_targets_export: Vec<String>,
}

/// Per address-family options of a neighbor (or listen-range peer-group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AfNeighbor {
    /// Must match the [`Neighbor::target`] it refers to.
    pub peer: PeerTarget,
    /// `neighbor X activate`.
    pub activate: bool,
    /// `neighbor X allowas-in` (FRR's default count, 3).
    pub allowas_in: bool,
    /// `neighbor X next-hop-self force`.
    pub next_hop_self_force: bool,
    /// `neighbor X next-hop-self` (without `force`).
    pub next_hop_self: bool,
    /// `neighbor X route-reflector-client`. FRR 8.4 rejects it for eBGP
    /// peers ("Not an internal neighbor"), so it is only rendered when the
    /// neighbor is iBGP (or not declared in the instance).
    pub route_reflector_client: bool,
    /// `neighbor X route-map NAME in`.
    pub route_map_in: Option<String>,
    /// `neighbor X route-map NAME out`.
    pub route_map_out: Option<String>,
}

impl AfNeighbor {
    /// No options set (not even `activate`).
    pub fn new(peer: PeerTarget) -> Self {
        AfNeighbor {
            peer,
            activate: false,
            allowas_in: false,
            next_hop_self_force: false,
            next_hop_self: false,
            route_reflector_client: false,
            route_map_in: None,
            route_map_out: None,
        }
    }

    /// Only `activate`.
    pub fn activated(peer: PeerTarget) -> Self {
        AfNeighbor { activate: true, ..AfNeighbor::new(peer) }
    }
}
