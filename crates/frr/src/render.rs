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
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use crate::FrrVersion;
use crate::dialect::Dialect;
use crate::model::*;
use crate::order::{cmp_interface_names, cmp_peers};
use crate::render_af::{af_lines, is_ibgp, merge_address_families};
use crate::render_isis;

/// Seconds bgpd waits after a route-map (or prefix-list) change before it applies route-maps
/// again (`bgp route-map delay-timer`; FRR's default is 5). It also holds back the sessions of
/// peers configured in the same batch until it fires.
pub const ROUTE_MAP_DELAY_TIMER: u32 = 1;

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
        if !config.bgp.is_empty() {
            // bgpd's global line, printed in the top section after zebra's. bgpd holds the
            // sessions of peers created in a batch until the route-map update timer of the
            // batch's route-map changes has fired (5 s by default): 1 s brings a fresh FRR's
            // sessions up 4 s sooner and still folds a batch's route-map edits into one update.
            self.line(format_args!("bgp route-map delay-timer {ROUTE_MAP_DELAY_TIMER}"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
