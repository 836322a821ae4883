//! The canonical renderer.
//!
//! The text produced by [`Config::render`] is, line for line, what FRR 8.4.4
//! prints in `show running-config` (vtysh, integrated config) after loading
//! it into freshly started daemons, once that output went through
//! [`normalize_running_config`](crate::normalize_running_config). The rules
//! below were established by loading configs into real zebra/bgpd/staticd/
//! bfdd 8.4.4 and reading the 8.4.4 sources (vtysh_config.c, bgp_vty.c,
//! bfdd_cli.c); see the crate documentation for the full list.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::FrrVersion;
use crate::dialect::Dialect;
use crate::model::*;
use crate::render_isis;

/// The debug lines rendered with [`LogLevel::Debugging`], exactly as FRR
/// 8.4.4 prints them back, in its order (zebra's, then bgpd's, then bfdd's
/// lines, each daemon in the order of its own config writer).
///
/// All the requested debug commands are accepted by FRR 8.4.4, none had to
/// be dropped; but `debug bgp updates` is printed back as the two lines
/// `debug bgp updates in` and `debug bgp updates out`, so those are rendered.
pub const DEBUG_LINES: &[&str] = &[
    "debug zebra events",
    "debug zebra kernel",
    "debug zebra rib",
    "debug zebra nht",
    "debug zebra nexthop",
    "debug bgp keepalives",
    "debug bgp neighbor-events",
    "debug bgp nht",
    "debug bgp updates in",
    "debug bgp updates out",
    "debug bgp zebra",
    "debug bfd peer",
    "debug bfd zebra",
    "debug bfd network",
];

impl Config {
    /// The canonical FRR configuration text for [`FrrVersion::DEFAULT`]
    /// (8.4.4), with real passwords. Code that talks to a running FRR renders
    /// for its version instead ([`Config::render_for`]).
    pub fn render(&self) -> String {
        self.render_for(FrrVersion::DEFAULT)
    }

    /// The canonical FRR configuration text for FRR `version`, with real
    /// passwords: this is the content of `frr.conf`. The differences
    /// between versions are the rules of [`Dialect`].
    pub fn render_for(&self, version: FrrVersion) -> String {
        Renderer::new(false, Dialect::of(version)).config(self)
    }

    /// Same as [`Config::render`] with every password replaced by
    /// [`REDACTED`]; for logs and human display only.
    pub fn render_redacted(&self) -> String {
        self.render_redacted_for(FrrVersion::DEFAULT)
    }

    /// Same as [`Config::render_for`] with every password replaced by
    /// [`REDACTED`].
    pub fn render_redacted_for(&self, version: FrrVersion) -> String {
        Renderer::new(true, Dialect::of(version)).config(self)
    }

    /// Normalises the output of vtysh's `show running-config` so that it can
    /// be compared with [`Config::render`]: see
    /// [`normalize_running_config`](crate::normalize_running_config); the
    /// `hostname` line is dropped when this config has no hostname.
    pub fn normalize_running(&self, show_running_config: &str) -> String {
        crate::normalize_running_config(show_running_config, self.hostname.is_none())
    }

    /// Runs [`check_syntax`](crate::check_syntax) on [`Config::render`], with
    /// the passwords scrubbed from the error text.
    pub fn check_syntax(&self) -> Result<(), crate::SyntaxError> {
        crate::check_syntax(&self.render()).map_err(|err| err.scrub(&self.secrets()))
    }

    fn secrets(&self) -> Vec<&str> {
        self.bgp
            .iter()
            .flat_map(|b| b.neighbors.iter())
            .filter_map(|n| n.password.as_ref())
            .map(Secret::expose)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

struct Renderer {
    out: String,
    redact: bool,
    dialect: Dialect,
}

impl Renderer {
    fn new(redact: bool, dialect: Dialect) -> Self {
        Renderer { out: String::new(), redact, dialect }
    }

    fn lines(&mut self, lines: Vec<String>) {
        for l in lines {
            self.out.push_str(&l);
            self.out.push('\n');
        }
    }

    fn line(&mut self, args: fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = self.out.write_fmt(args);
        self.out.push('\n');
    }

    fn config(mut self, config: &Config) -> String {
        // Top section (vtysh's config_top): the daemons' global lines in the
        // order zebra prints them, then a single "!".
        if let Some(hostname) = &config.hostname {
            self.line(format_args!("hostname {hostname}"));
        }
        match config.log_level {
            // `log stdout` without a level means the default level,
            // debugging: FRR prints it that way.
            LogLevel::Debugging => self.line(format_args!("log stdout")),
            level => self.line(format_args!("log stdout {level}")),
        }
        if !config.resolve_nht_via_default && self.dialect.nht_resolve_via_default_is_default {
            // Off is not the default here: zebra prints it in its global
            // lines, before the forwarding ones (FRR 10.3).
            self.line(format_args!("no ip nht resolve-via-default"));
            self.line(format_args!("no ipv6 nht resolve-via-default"));
        }
        if !config.ipv4_forwarding {
            self.line(format_args!("no ip forwarding"));
        }
        if !config.ipv6_forwarding {
            self.line(format_args!("no ipv6 forwarding"));
        }
        self.line(format_args!("!"));

        if self.dialect.route_maps_before_vrfs {
            self.route_maps(config);
        }

        // DEBUG_NODE: no "!" between the lines, one after the group.
        if config.log_level == LogLevel::Debugging {
            for debug in DEBUG_LINES {
                self.line(format_args!("{debug}"));
            }
            self.line(format_args!("!"));
        }

        // VRF_NODE: zebra writes VRFs sorted by name.
        let mut vrfs: Vec<&VrfVni> = config.vrf_vnis.iter().collect();
        vrfs.sort_by(|a, b| a.vrf.as_bytes().cmp(b.vrf.as_bytes()));
        for vrf in vrfs {
            self.line(format_args!("vrf {}", vrf.vrf));
            self.line(format_args!(" vni {}", vrf.vni));
            self.line(format_args!("exit-vrf"));
            self.line(format_args!("!"));
        }

        // INTERFACE_NODE: interfaces by name.
        let mut interfaces: Vec<&Interface> = config.interfaces.iter().filter(|i| i.isis.is_some()).collect();
        interfaces.sort_by(|a, b| cmp_interface_names(&a.name, &b.name));
        for interface in interfaces {
            self.lines(render_isis::interface(interface));
        }

        // BGP_NODE: bgpd writes instances in creation order; the canonical
        // (and loading) order is the default instance, then VRF instances
        // sorted by name.
        let mut instances: Vec<&BgpInstance> = config.bgp.iter().collect();
        instances.sort_by(|a, b| match (&a.vrf, &b.vrf) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        });
        for instance in instances {
            self.bgp_instance(instance);
        }

        if !self.dialect.route_maps_before_vrfs {
            self.route_maps(config);
        }

        if let Some(isis) = &config.isis {
            self.lines(render_isis::router_isis(isis));
        }
        if !config.srv6_locators.is_empty() || config.srv6_encapsulation_source.is_some() {
            self.lines(render_isis::segment_routing(config.srv6_encapsulation_source, &config.srv6_locators));
        }

        // PROTOCOL_NODE: each line is its own block, followed by "!" (only
        // where resolving via the default route is not the default already).
        if config.resolve_nht_via_default && !self.dialect.nht_resolve_via_default_is_default {
            self.line(format_args!("ip nht resolve-via-default"));
            self.line(format_args!("!"));
            self.line(format_args!("ipv6 nht resolve-via-default"));
            self.line(format_args!("!"));
        }

        // BFD_NODE.
        if !config.bfd_profiles.is_empty() {
            let mut profiles: Vec<&BfdProfile> = config.bfd_profiles.iter().collect();
            profiles.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
            self.line(format_args!("bfd"));
            for profile in profiles {
                self.bfd_profile(profile);
            }
            self.line(format_args!("exit"));
            self.line(format_args!("!"));
        }

        for snippet in &config.raw {
            self.out.push_str(snippet);
            if !snippet.ends_with('\n') {
                self.out.push('\n');
            }
        }
        self.out
    }

    /// RMAP_NODE: route-maps in creation order, entries by sequence; the
    /// canonical order is by name then sequence.
    fn route_maps(&mut self, config: &Config) {
        let mut route_maps: Vec<&RouteMap> = config.route_maps.iter().collect();
        route_maps.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()).then(a.seq.cmp(&b.seq)));
        route_maps.dedup_by(|a, b| a.name == b.name && a.seq == b.seq);
        for map in route_maps {
            self.line(format_args!("route-map {} {} {}", map.name, map.action.as_str(), map.seq));
            self.line(format_args!("exit"));
            self.line(format_args!("!"));
        }
    }

    fn bfd_profile(&mut self, profile: &BfdProfile) {
        // YANG schema order of frr-bfdd's profile; defaults are not printed.
        self.line(format_args!(" profile {}", profile.name));
        if let Some(m) = profile.detect_multiplier.filter(|m| *m != DEFAULT_BFD_DETECT_MULTIPLIER) {
            self.line(format_args!("  detect-multiplier {m}"));
        }
        if let Some(ms) = profile.transmit_interval.filter(|ms| *ms != DEFAULT_BFD_INTERVAL_MS) {
            self.line(format_args!("  transmit-interval {ms}"));
        }
        if let Some(ms) = profile.receive_interval.filter(|ms| *ms != DEFAULT_BFD_INTERVAL_MS) {
            self.line(format_args!("  receive-interval {ms}"));
        }
        if profile.passive_mode {
            self.line(format_args!("  passive-mode"));
        }
        if let Some(ttl) = profile.minimum_ttl.filter(|ttl| *ttl != DEFAULT_BFD_MINIMUM_TTL) {
            self.line(format_args!("  minimum-ttl {ttl}"));
        }
        self.line(format_args!(" exit"));
        self.line(format_args!(" !"));
    }

    fn bgp_instance(&mut self, bgp: &BgpInstance) {
        match &bgp.vrf {
            Some(vrf) => self.line(format_args!("router bgp {} vrf {vrf}", bgp.asn)),
            None => self.line(format_args!("router bgp {}", bgp.asn)),
        }
        if let Some(id) = bgp.router_id.filter(|id| !id.is_unspecified()) {
            self.line(format_args!(" bgp router-id {id}"));
        }
        self.line(format_args!(" no bgp ebgp-requires-policy"));
        self.line(format_args!(" no bgp default ipv4-unicast"));
        if let Some(id) = bgp.cluster_id {
            self.line(format_args!(" bgp cluster-id {id}"));
        }
        if let Some(gr) = &bgp.graceful_restart {
            if gr.stalepath_time != DEFAULT_GR_STALEPATH_TIME {
                self.line(format_args!(" bgp graceful-restart stalepath-time {}", gr.stalepath_time));
            }
            if gr.restart_time != DEFAULT_GR_RESTART_TIME {
                self.line(format_args!(" bgp graceful-restart restart-time {}", gr.restart_time));
            }
            self.line(format_args!(" bgp graceful-restart"));
            if gr.preserve_fw_state {
                self.line(format_args!(" bgp graceful-restart preserve-fw-state"));
            }
        }
        self.line(format_args!(" no bgp network import-check"));

        // Peer-groups (sorted by name), then peers in bgpd's peer_cmp order.
        let mut neighbors: Vec<&Neighbor> = bgp.neighbors.iter().collect();
        neighbors.sort_by(|a, b| cmp_peers(&a.target, &b.target));
        for neighbor in &neighbors {
            self.neighbor(bgp.asn, neighbor);
        }

        if let Some(limit) = bgp.listen_limit.filter(|l| *l != DEFAULT_LISTEN_LIMIT) {
            self.line(format_args!(" bgp listen limit {limit}"));
        }
        for neighbor in &neighbors {
            if let PeerTarget::ListenRange(net) = &neighbor.target {
                let range = net.trunc();
                self.line(format_args!(" bgp listen range {range} peer-group {range}"));
            }
        }

        if bgp.sid_vpn_per_vrf_export_auto {
            self.line(format_args!(" sid vpn per-vrf export auto"));
        }
        if let Some(locator) = &bgp.srv6_locator {
            self.line(format_args!(" !"));
            self.line(format_args!(" segment-routing srv6"));
            self.line(format_args!("  locator {locator}"));
            self.line(format_args!(" exit"));
        }

        for (afi, af) in merge_address_families(&bgp.address_families) {
            let lines = af_lines(bgp, afi, &af);
            if lines.is_empty() {
                continue;
            }
            self.line(format_args!(" !"));
            self.line(format_args!(" address-family {}", afi.as_str()));
            for l in lines {
                self.line(format_args!("  {l}"));
            }
            self.line(format_args!(" exit-address-family"));
        }
        self.line(format_args!("exit"));
        self.line(format_args!("!"));
    }

    fn neighbor(&mut self, local_asn: u32, n: &Neighbor) {
        let name = n.target.name();
        match &n.target {
            PeerTarget::Address(_) => {
                self.line(format_args!(" neighbor {name} remote-as {}", n.remote_as));
            }
            PeerTarget::Interface(_) => {
                self.line(format_args!(" neighbor {name} interface remote-as {}", n.remote_as));
            }
            PeerTarget::ListenRange(_) => {
                self.line(format_args!(" neighbor {name} peer-group"));
                self.line(format_args!(" neighbor {name} remote-as {}", n.remote_as));
            }
        }
        if let Some(bfd) = &n.bfd {
            self.line(format_args!(" neighbor {name} bfd"));
            if let Some(profile) = &bfd.profile {
                self.line(format_args!(" neighbor {name} bfd profile {profile}"));
            }
        }
        if let Some(password) = &n.password {
            let shown = if self.redact { REDACTED } else { password.expose() };
            self.line(format_args!(" neighbor {name} password {shown}"));
        }
        if let Some(port) = n.port.filter(|p| *p != DEFAULT_BGP_PORT) {
            self.line(format_args!(" neighbor {name} port {port}"));
        }
        if let Some(hops) = n.ebgp_multihop {
            // `ebgp-multihop` alone sets the TTL to 255; a TTL of 1 is the
            // default. Ignored for iBGP, rejected for interface peers.
            let ttl = hops.unwrap_or(255);
            let interface = matches!(n.target, PeerTarget::Interface(_));
            if ttl != 1 && !interface && !is_ibgp(local_asn, n.remote_as) {
                if ttl == 255 && self.dialect.bare_ebgp_multihop_max_ttl {
                    self.line(format_args!(" neighbor {name} ebgp-multihop"));
                } else {
                    self.line(format_args!(" neighbor {name} ebgp-multihop {ttl}"));
                }
            }
        }
        if n.disable_connected_check {
            self.line(format_args!(" neighbor {name} disable-connected-check"));
        }
        if let Some(source) = &n.update_source {
            match source.parse::<IpAddr>() {
                Ok(ip) => self.line(format_args!(" neighbor {name} update-source {ip}")),
                Err(_) => self.line(format_args!(" neighbor {name} update-source {source}")),
            }
        }
        if let Some((keepalive, hold)) = n.timers {
            self.line(format_args!(" neighbor {name} timers {keepalive} {hold}"));
        }
        if let Some(connect) = n.connect_time {
            self.line(format_args!(" neighbor {name} timers connect {connect}"));
        }
        if n.extended_nexthop && !matches!(n.target, PeerTarget::Interface(_)) {
            self.line(format_args!(" neighbor {name} capability extended-nexthop"));
        }
    }
}

fn is_ibgp(local_asn: u32, remote_as: RemoteAs) -> bool {
    match remote_as {
        RemoteAs::Internal => true,
        RemoteAs::External => false,
        RemoteAs::Number(n) => n == local_asn,
    }
}

/// The merged content of all entries of one address family.
struct MergedAf<'a> {
    networks: Vec<IpNet>,
    neighbors: Vec<AfNeighbor>,
    advertise_all_vni: bool,
    advertise_ipv4_unicast: bool,
    advertise_ipv6_unicast: bool,
    rt_import: Vec<&'a str>,
    rt_export: Vec<&'a str>,
    vnis: Vec<&'a EvpnVni>,
    vpn: Option<&'a VpnLeak>,
}

fn merge_address_families(afs: &[AddressFamily]) -> BTreeMap<Afi, MergedAf<'_>> {
    let mut merged: BTreeMap<Afi, MergedAf<'_>> = BTreeMap::new();
    for af in afs {
        let entry = merged.entry(af.afi).or_insert_with(|| MergedAf {
            networks: Vec::new(),
            neighbors: Vec::new(),
            advertise_all_vni: false,
            advertise_ipv4_unicast: false,
            advertise_ipv6_unicast: false,
            rt_import: Vec::new(),
            rt_export: Vec::new(),
            vnis: Vec::new(),
            vpn: None,
        });
        entry.networks.extend(af.networks.iter().map(IpNet::trunc));
        for n in &af.neighbors {
            match entry.neighbors.iter_mut().find(|m| cmp_peers(&m.peer, &n.peer) == Ordering::Equal) {
                Some(m) => {
                    m.activate |= n.activate;
                    m.allowas_in |= n.allowas_in;
                    m.next_hop_self_force |= n.next_hop_self_force;
                    m.next_hop_self |= n.next_hop_self;
                    m.route_reflector_client |= n.route_reflector_client;
                    if m.route_map_in.is_none() {
                        m.route_map_in.clone_from(&n.route_map_in);
                    }
                    if m.route_map_out.is_none() {
                        m.route_map_out.clone_from(&n.route_map_out);
                    }
                }
                None => entry.neighbors.push(n.clone()),
            }
        }
        entry.advertise_all_vni |= af.advertise_all_vni;
        entry.advertise_ipv4_unicast |= af.advertise_ipv4_unicast;
        entry.advertise_ipv6_unicast |= af.advertise_ipv6_unicast;
        entry.rt_import.extend(af.route_targets_import.iter().map(String::as_str));
        entry.rt_export.extend(af.route_targets_export.iter().map(String::as_str));
        entry.vnis.extend(af.vnis.iter());
        if entry.vpn.is_none() {
            entry.vpn = af.vpn.as_ref();
        }
    }
    merged
}

/// The lines inside ` address-family X` (without indentation).
fn af_lines(bgp: &BgpInstance, afi: Afi, af: &MergedAf<'_>) -> Vec<String> {
    let mut lines = Vec::new();

    // Networks come from a route table walk: pre-order of the prefix trie,
    // i.e. by masked address, then shorter prefix first.
    let mut networks = af.networks.clone();
    networks.sort_by(|a, b| {
        let family = |n: &IpNet| matches!(n, IpNet::V6(_));
        family(a).cmp(&family(b)).then(a.network().cmp(&b.network())).then(a.prefix_len().cmp(&b.prefix_len()))
    });
    networks.dedup();
    for net in networks {
        lines.push(format!("network {net}"));
    }

    let mut neighbors: Vec<&AfNeighbor> = af.neighbors.iter().collect();
    neighbors.sort_by(|a, b| cmp_peers(&a.peer, &b.peer));
    for n in neighbors {
        let name = n.peer.name();
        if n.activate {
            lines.push(format!("neighbor {name} activate"));
        }
        if n.route_reflector_client {
            let declared = bgp.neighbors.iter().find(|g| cmp_peers(&g.target, &n.peer) == Ordering::Equal);
            let ebgp = declared.is_some_and(|g| !is_ibgp(bgp.asn, g.remote_as));
            if !ebgp {
                lines.push(format!("neighbor {name} route-reflector-client"));
            }
        }
        if n.next_hop_self_force {
            lines.push(format!("neighbor {name} next-hop-self force"));
        } else if n.next_hop_self {
            lines.push(format!("neighbor {name} next-hop-self"));
        }
        if n.allowas_in {
            lines.push(format!("neighbor {name} allowas-in"));
        }
        if let Some(map) = &n.route_map_in {
            lines.push(format!("neighbor {name} route-map {map} in"));
        }
        if let Some(map) = &n.route_map_out {
            lines.push(format!("neighbor {name} route-map {map} out"));
        }
    }

    if let Some(vpn) = af.vpn.filter(|_| matches!(afi, Afi::Ipv4Unicast | Afi::Ipv6Unicast)) {
        lines.push(format!("rd vpn export {}", vpn.rd));
        let import: Vec<&str> = vpn.import.iter().map(String::as_str).collect();
        let export: Vec<&str> = vpn.export.iter().map(String::as_str).collect();
        if !import.is_empty() {
            lines.push(format!("rt vpn import {}", ecommunity_order(&import).join(" ")));
        }
        if !export.is_empty() {
            lines.push(format!("rt vpn export {}", ecommunity_order(&export).join(" ")));
        }
        lines.push("export vpn".to_string());
        lines.push("import vpn".to_string());
    }

    if afi == Afi::L2vpnEvpn {
        if af.advertise_all_vni {
            lines.push("advertise-all-vni".to_string());
        }
        if af.advertise_ipv4_unicast {
            lines.push("advertise ipv4 unicast".to_string());
        }
        if af.advertise_ipv6_unicast {
            lines.push("advertise ipv6 unicast".to_string());
        }
        for rt in sorted_route_targets(&af.rt_import) {
            lines.push(format!("route-target import {rt}"));
        }
        for rt in sorted_route_targets(&af.rt_export) {
            lines.push(format!("route-target export {rt}"));
        }
        lines.extend(evpn_vni_lines(bgp.asn, &af.vnis));
    }
    lines
}

/// The `vni N` blocks of an EVPN address family: highest VNI first, import then export, as
/// bgpd prints them. A side holding only the derived route target is omitted, a VNI with nothing
/// left is omitted. Within a side the route targets are in `strcmp` order (bgpd's), except the
/// derived one, which goes last: bgpd reads it as "keep deriving" while no other route target of
/// that side is configured yet, so sent (or booted) first it would be lost. Comparisons of
/// configurations ignore the order of lines within a block.
fn evpn_vni_lines(asn: u32, vnis: &[&EvpnVni]) -> Vec<String> {
    let mut by_vni: BTreeMap<u32, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    for v in vnis {
        let entry = by_vni.entry(v.vni).or_default();
        entry.0.extend(v.route_targets_import.iter().map(String::as_str));
        entry.1.extend(v.route_targets_export.iter().map(String::as_str));
    }
    let mut lines = Vec::new();
    for (vni, (import, export)) in by_vni.into_iter().rev() {
        let derived = derived_route_target(asn, vni);
        let printed = |rts: &[&str]| {
            let mut sorted = sorted_route_targets(rts);
            if sorted.len() == 1 && sorted[0] == derived {
                return Vec::new();
            }
            sorted.sort_by_key(|rt| *rt == derived);
            sorted
        };
        let (import, export) = (printed(&import), printed(&export));
        if import.is_empty() && export.is_empty() {
            continue;
        }
        lines.push(format!("vni {vni}"));
        lines.extend(import.iter().map(|rt| format!(" route-target import {rt}")));
        lines.extend(export.iter().map(|rt| format!(" route-target export {rt}")));
        lines.push("exit-vni".to_string());
    }
    lines
}

/// The route target bgpd derives for a layer-2 VNI: `ASN:VNI`, with the VNI cut to 16 bits
/// when the ASN needs four bytes.
pub fn derived_route_target(asn: u32, vni: u32) -> String {
    if asn > 65535 { format!("{asn}:{}", vni & 0xffff) } else { format!("{asn}:{vni}") }
}

/// Route targets of an extended-community list as bgpd keeps them: deduplicated and sorted by
/// their encoded value (type, then administrator, then assigned number), printed canonically.
fn ecommunity_order(rts: &[&str]) -> Vec<String> {
    let key = |rt: &str| -> (u8, u64, u64, String) {
        let canonical = canonical_route_target(rt);
        let (admin, number) = canonical.rsplit_once(':').unwrap_or((canonical.as_str(), ""));
        let number: u64 = number.parse().unwrap_or(u64::MAX);
        match admin.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => (1, u64::from(u32::from(ip)), number, canonical.clone()),
            Err(_) => {
                let asn: u64 = admin.parse().unwrap_or(u64::MAX);
                (if asn > 65535 { 2 } else { 0 }, asn, number, canonical.clone())
            }
        }
    };
    let mut keyed: Vec<(u8, u64, u64, String)> = rts.iter().map(|rt| key(rt)).collect();
    keyed.sort();
    keyed.dedup();
    keyed.into_iter().map(|k| k.3).collect()
}

/// Route targets as FRR prints them, deduplicated, sorted the way bgpd keeps
/// its VRF RT lists (strcmp of the printed form).
fn sorted_route_targets(rts: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = rts.iter().map(|rt| canonical_route_target(rt)).collect();
    out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    out.dedup();
    out
}

/// `ASN:NN` or `A.B.C.D:NN` printed back without leading zeros or spaces;
/// anything else is kept as given.
pub(crate) fn canonical_route_target(rt: &str) -> String {
    let rt = rt.trim();
    if let Some((admin, assigned)) = rt.rsplit_once(':') {
        if let Ok(ip) = admin.parse::<Ipv4Addr>()
            && let Ok(n) = assigned.parse::<u16>()
        {
            return format!("{ip}:{n}");
        }
        if admin.bytes().all(|b| b.is_ascii_digit())
            && let (Ok(asn), Ok(n)) = (admin.parse::<u32>(), assigned.parse::<u32>())
        {
            return format!("{asn}:{n}");
        }
    }
    rt.to_string()
}

/// Order of neighbors (and peer-groups) in bgpd's output: peer-groups first,
/// by name (strcmp); then peers by `peer_cmp`: interface peers first (by
/// `if_cmp_name_func`, i.e. natural order: eth2 < eth10), then IPv4 addresses
/// numerically, then IPv6 addresses bytewise.
pub fn cmp_peers(a: &PeerTarget, b: &PeerTarget) -> Ordering {
    fn rank(t: &PeerTarget) -> u8 {
        match t {
            PeerTarget::ListenRange(_) => 0,
            PeerTarget::Interface(_) => 1,
            PeerTarget::Address(_) => 2,
        }
    }
    match (a, b) {
        (PeerTarget::ListenRange(_), PeerTarget::ListenRange(_)) => a.name().as_bytes().cmp(b.name().as_bytes()),
        (PeerTarget::Interface(x), PeerTarget::Interface(y)) => cmp_interface_names(x, y),
        (PeerTarget::Address(x), PeerTarget::Address(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// FRR's `if_cmp_name_func`: names are compared piecewise, the non-digit
/// parts as bytes and the digit runs as numbers.
pub fn cmp_interface_names(a: &str, b: &str) -> Ordering {
    let is_digit = |c: &u8| c.is_ascii_digit();
    let (mut p1, mut p2) = (a.as_bytes(), b.as_bytes());
    while !p1.is_empty() && !p2.is_empty() {
        let l1 = p1.iter().position(is_digit).unwrap_or(p1.len());
        let l2 = p2.iter().position(is_digit).unwrap_or(p2.len());
        if l1 != l2 {
            return p1.cmp(p2);
        }
        match p1[..l1].cmp(&p2[..l1]) {
            Ordering::Equal => {}
            other => return other,
        }
        p1 = &p1[l1..];
        p2 = &p2[l1..];
        match (p1.is_empty(), p2.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let d1 = p1.iter().position(|c| !c.is_ascii_digit()).unwrap_or(p1.len());
        let d2 = p2.iter().position(|c| !c.is_ascii_digit()).unwrap_or(p2.len());
        match digits_value(&p1[..d1]).cmp(&digits_value(&p2[..d2])) {
            Ordering::Equal => {}
            other => return other,
        }
        if d1 != d2 {
            // Same value, different spelling (foo-1 / foo-001).
            return p1.cmp(p2);
        }
        p1 = &p1[d1..];
        p2 = &p2[d2..];
    }
    match (p1.is_empty(), p2.is_empty()) {
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (true, true) => Ordering::Equal,
    }
}

/// The value of a run of ASCII digits, saturating like `strtol`.
fn digits_value(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| acc.saturating_mul(10).saturating_add(i64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_sort_naturally() {
        let mut names = vec!["swp1", "eth10", "eth2", "eth1.100", "eth1", "e0", "eth-001", "eth-1"];
        names.sort_by(|a, b| cmp_interface_names(a, b));
        assert_eq!(names, vec!["e0", "eth-001", "eth-1", "eth1", "eth1.100", "eth2", "eth10", "swp1"]);
        assert_eq!(cmp_interface_names("eth1", "eth1"), Ordering::Equal);
        assert_eq!(cmp_interface_names("eth", "eth0"), Ordering::Less);
    }

    #[test]
    fn peers_sort_like_bgpd() {
        let mut peers = [
            PeerTarget::Address("fd00::1".parse().unwrap()),
            PeerTarget::Address("10.0.0.10".parse().unwrap()),
            PeerTarget::Interface("eth10".into()),
            PeerTarget::ListenRange("fd00:10::/64".parse().unwrap()),
            PeerTarget::Address("2001:db8::1".parse().unwrap()),
            PeerTarget::Address("10.0.0.9".parse().unwrap()),
            PeerTarget::Interface("eth2".into()),
            PeerTarget::ListenRange("192.168.10.0/24".parse().unwrap()),
        ];
        peers.sort_by(cmp_peers);
        let names: Vec<String> = peers.iter().map(PeerTarget::name).collect();
        assert_eq!(
            names,
            vec!["192.168.10.0/24", "fd00:10::/64", "eth2", "eth10", "10.0.0.9", "10.0.0.10", "2001:db8::1", "fd00::1"]
        );
    }

    #[test]
    fn route_targets_are_canonical_and_sorted() {
        assert_eq!(canonical_route_target(" 64512:0100"), "64512:100");
        assert_eq!(canonical_route_target("1.2.3.4:7"), "1.2.3.4:7");
        assert_eq!(canonical_route_target("auto"), "auto");
        assert_eq!(
            sorted_route_targets(&["65000:5", "64512:100", "4200000000:100", "1.2.3.4:7", "64512:100"]),
            vec!["1.2.3.4:7", "4200000000:100", "64512:100", "65000:5"]
        );
    }

    #[test]
    fn listen_range_name_is_masked() {
        let t = PeerTarget::ListenRange("192.168.10.7/24".parse().unwrap());
        assert_eq!(t.name(), "192.168.10.0/24");
    }

    #[test]
    fn debugging_log_level_prints_without_level() {
        let config = Config { log_level: LogLevel::Debugging, ..Config::default() };
        let text = config.render();
        assert!(text.starts_with("log stdout\n!\ndebug zebra events\n"), "{text}");
        assert!(text.contains("debug bgp updates in\ndebug bgp updates out\n"));
    }

    #[test]
    fn log_levels_use_frr_keywords() {
        let levels = [
            (LogLevel::Emergencies, "log stdout emergencies\n"),
            (LogLevel::Alerts, "log stdout alerts\n"),
            (LogLevel::Critical, "log stdout critical\n"),
            (LogLevel::Errors, "log stdout errors\n"),
            (LogLevel::Warnings, "log stdout warnings\n"),
            (LogLevel::Notifications, "log stdout notifications\n"),
            (LogLevel::Informational, "log stdout informational\n"),
            (LogLevel::Debugging, "log stdout\n"),
        ];
        for (level, line) in levels {
            let text = Config { log_level: level, ..Config::default() }.render();
            assert!(text.starts_with(line), "{level}: {text}");
            assert_eq!(text.contains("debug "), level == LogLevel::Debugging);
        }
    }

    #[test]
    fn update_source_addresses_are_normalised() {
        let mut bgp = BgpInstance::new(64512, None);
        let mut n = Neighbor::new(PeerTarget::Address("fd00::2".parse().unwrap()), RemoteAs::External);
        n.update_source = Some("fd00:0:0::1".into());
        bgp.neighbors.push(n);
        let text = Config { bgp: vec![bgp], ..Config::default() }.render();
        assert!(text.contains(" neighbor fd00::2 update-source fd00::1\n"), "{text}");
    }

    #[test]
    fn dropped_options_follow_frr() {
        let mut bgp = BgpInstance::new(64512, None);
        let mut ibgp = Neighbor::new(PeerTarget::Address("10.0.0.1".parse().unwrap()), RemoteAs::Number(64512));
        ibgp.ebgp_multihop = Some(Some(4));
        ibgp.port = Some(179);
        let mut iface = Neighbor::new(PeerTarget::Interface("eth0".into()), RemoteAs::External);
        iface.ebgp_multihop = Some(None);
        iface.extended_nexthop = true;
        let mut ebgp = Neighbor::new(PeerTarget::Address("10.0.0.2".parse().unwrap()), RemoteAs::External);
        ebgp.ebgp_multihop = Some(None);
        let mut ttl1 = Neighbor::new(PeerTarget::Address("10.0.0.3".parse().unwrap()), RemoteAs::Number(65000));
        ttl1.ebgp_multihop = Some(Some(1));
        bgp.neighbors = vec![ibgp, iface, ebgp, ttl1];
        let mut af = AddressFamily::new(Afi::Ipv4Unicast);
        af.neighbors = vec![
            AfNeighbor {
                route_reflector_client: true,
                ..AfNeighbor::new(PeerTarget::Address("10.0.0.2".parse().unwrap()))
            },
            AfNeighbor {
                route_reflector_client: true,
                ..AfNeighbor::new(PeerTarget::Address("10.0.0.1".parse().unwrap()))
            },
        ];
        bgp.address_families = vec![af];
        let text = Config { bgp: vec![bgp], ..Config::default() }.render();
        assert!(!text.contains(" port "), "{text}");
        assert!(!text.contains("10.0.0.1 ebgp-multihop"), "{text}");
        assert!(!text.contains("eth0 ebgp-multihop"), "{text}");
        assert!(!text.contains("extended-nexthop"), "{text}");
        assert!(!text.contains("10.0.0.3 ebgp-multihop"), "{text}");
        assert!(text.contains(" neighbor 10.0.0.2 ebgp-multihop 255\n"), "{text}");
        assert!(text.contains("  neighbor 10.0.0.1 route-reflector-client\n"), "{text}");
        assert!(!text.contains("10.0.0.2 route-reflector-client"), "{text}");
    }

    #[test]
    fn empty_address_families_are_omitted_and_duplicates_merged() {
        let mut bgp = BgpInstance::new(64512, Some("red".into()));
        let peer = PeerTarget::Address("10.0.0.2".parse().unwrap());
        let mut v4a = AddressFamily::new(Afi::Ipv4Unicast);
        v4a.neighbors.push(AfNeighbor::activated(peer.clone()));
        let mut v4b = AddressFamily::new(Afi::Ipv4Unicast);
        v4b.neighbors.push(AfNeighbor { route_map_in: Some("allowall".into()), ..AfNeighbor::new(peer) });
        v4b.networks.push("10.1.2.3/16".parse().unwrap());
        bgp.address_families = vec![AddressFamily::new(Afi::L2vpnEvpn), v4a, AddressFamily::new(Afi::Ipv6Unicast), v4b];
        let text = Config { bgp: vec![bgp], ..Config::default() }.render();
        assert_eq!(text.matches("address-family").count(), 2, "{text}");
        assert!(text.contains(
            " address-family ipv4 unicast\n  network 10.1.0.0/16\n  neighbor 10.0.0.2 activate\n  neighbor 10.0.0.2 route-map allowall in\n exit-address-family\n"
        ), "{text}");
    }

    #[test]
    fn vni_route_targets_print_like_bgpd() {
        let vni = |vni, import: &[&str], export: &[&str]| EvpnVni {
            vni,
            route_targets_import: import.iter().map(|s| s.to_string()).collect(),
            route_targets_export: export.iter().map(|s| s.to_string()).collect(),
        };
        let vnis = [
            vni(110, &["64514:110"], &["64514:7", "64514:111"]),
            vni(5000, &["64514:5000"], &[]),
            vni(120, &["64514:9", "64514:120"], &["64514:120"]),
        ];
        let refs: Vec<&EvpnVni> = vnis.iter().collect();
        assert_eq!(
            evpn_vni_lines(64514, &refs),
            [
                "vni 120",
                " route-target import 64514:9",
                " route-target import 64514:120",
                "exit-vni",
                "vni 110",
                " route-target export 64514:111",
                " route-target export 64514:7",
                "exit-vni",
            ]
        );
        assert_eq!(derived_route_target(4200000000, 70000), "4200000000:4464");
    }
}
