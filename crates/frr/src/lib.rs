//! FRR: the typed configuration model and its canonical renderer, running
//! FRR in a network namespace, applying configurations safely, and reading
//! FRR's state back.
//!
//! - [`Config`] and friends: plain data describing an FRR 8.4 configuration
//!   (BGP/EVPN, L3VNI VRFs, BFD profiles, route-maps). FRR-centric: the
//!   planner decides the semantics, this crate only prints.
//! - [`Config::render_for`] / [`Config::render_redacted_for`]: the
//!   canonical text of an FRR release ([`FrrVersion`]: 8.4.4 or 10.3), its
//!   differences being the rules of [`Dialect`] (`docs/frr-versions.md`);
//!   [`Config::render`] / [`Config::render_redacted`] are the 8.4.4 form.
//! - [`normalize_running_config`]: turns vtysh's `show running-config` into
//!   the form `render()` produces; [`same_blocks`] compares two texts
//!   ignoring the order of top-level blocks.
//! - [`check_syntax`] / [`Config::check_syntax`]: `vtysh -C` dry run.
//! - [`instance`]: an FRR instance (zebra, bgpd, staticd, bfdd, and
//!   mgmtd on FRR ≥ 9, under watchfrr) in a network namespace with private or pathspace
//!   directories: start/stop many at once, status, restart detection.
//! - [`vtysh`]: [`Vtysh`], how to reach an instance.
//! - [`tree`]: a configuration text as a tree of blocks.
//! - [`delta`]: the change between two configuration texts as data: the
//!   lines that differ ([`Delta`]) and the ordered commands that make
//!   the change, in steps (the FRR quirks they respect are listed there).
//! - [`vty`]: the daemons' vty sockets spoken directly, as vtysh does.
//! - [`Applier`]: applies one configuration at a time over one vty session,
//!   verifies that FRR runs it, retries once, puts the previous
//!   configuration back on failure, does not ask FRR when nothing changed, and
//!   leaves out `raw` snippets FRR refuses ([`ApplyReport`]).
//! - [`reload`]: `frr-reload.py --test`/`--reload` ([`FrrReload`]): the
//!   oracle of the tests and the baseline of the benchmark, not the product's
//!   path.
//! - [`reloader`]: the reloader sidecar (HTTP on a unix socket + health on
//!   TCP) and its client.
//! - [`state`]: typed readers over `show … json` (BGP neighbors, EVPN VNIs,
//!   EVPN routes, BFD peers).
//! - [`testing`]: throwaway namespaces and instances for tests and the lab.
//!
//! # The hostname
//!
//! FRR 8.4 prints, in `show running-config`, the hostname of the UTS
//! namespace vtysh runs in and, when different, the daemons' one too; a
//! `hostname` command loaded through vtysh changes neither. A config file
//! whose hostname differs (or that has none) therefore never gets an empty
//! `frr-reload.py` delta. The planner leaves [`Config::hostname`] empty and
//! [`Applier::apply`] fills in the hostname FRR prints (read from the
//! running config just before rendering). Instances that need a hostname of
//! their own (the lab runs several "nodes" on one machine) get a private UTS
//! namespace ([`InstanceSpec::hostname`]); the crate then runs vtysh and
//! frr-reload.py inside it (`nsenter --uts`). In Kubernetes the router pod
//! and the reloader share the node's UTS namespace (host network).
//!
//! # Canonical form
//!
//! For a [`Config`] without [`Config::raw`] snippets, `render()` is exactly
//! what FRR 8.4.4 (`frr defaults traditional`) prints in vtysh's
//! `show running-config` after loading the rendered file into freshly started
//! zebra, bgpd, staticd and bfdd (`vtysh -f`), after
//! [`normalize_running_config`] removed the lines FRR adds itself (header,
//! `frr version`, `frr defaults`, `service integrated-vtysh-config`, `end`).
//! `frr-reload.py --test` on the rendered file then reports nothing to add
//! or delete. This was established by experiment with the installed FRR
//! 8.4.4 and checked against its sources; the integration test
//! `tests/live_frr.rs` re-checks it.
//!
//! What the renderer reproduces:
//!
//! - **Indentation**: one space per level (`router bgp` → ` neighbor` →
//!   ` address-family` → `  neighbor X activate`; `bfd` → ` profile` →
//!   `  detect-multiplier`).
//! - **Block order** (vtysh groups the daemons' output by node type):
//!   global lines (`hostname`, `log stdout`, `no ip[v6] forwarding`) and a
//!   `!`; the debug lines followed by a single `!`; `vrf` blocks; `router
//!   bgp` blocks; `route-map` entries; `ip nht resolve-via-default` and
//!   `ipv6 nht resolve-via-default` (each followed by `!`); the `bfd` block.
//!   Every `vrf`, `router bgp`, `route-map` and `bfd` block ends with its
//!   `exit-vrf`/`exit` line followed by `!`. Inside `router bgp`, each
//!   address family is preceded by ` !`; inside `bfd`, each profile ends with
//!   ` exit` and ` !`.
//! - **Sorting**: VRFs by name (zebra keeps them in a name-ordered tree);
//!   BGP instances default first, then VRF instances by name; route-maps by
//!   name then sequence; BFD profiles by name. (bgpd, lib/routemap and bfdd
//!   keep these in *creation* order: loading the rendered file creates them
//!   in the canonical order, but in daemons configured incrementally the
//!   order can differ, which `frr-reload.py` does not care about.)
//!   Neighbors: peer-groups (listen ranges) first, by name (`strcmp`), then
//!   interface peers in FRR's natural interface order (eth2 < eth10), then
//!   IPv4 peers numerically, then IPv6 peers bytewise (bgpd's `peer_cmp`).
//!   The same order applies to per-AF neighbor lines. Address families:
//!   ipv4 unicast, ipv6 unicast, l2vpn evpn. `network` statements: by masked
//!   address, shorter prefix first (route-table walk). Route targets:
//!   deduplicated, sorted as strings (bgpd's `bgp_evpn_route_target_cmp`).
//! - **Line order within a neighbor**: `remote-as` (with `peer-group` first
//!   for listen ranges; `interface remote-as` for unnumbered peers), `bfd`,
//!   `bfd profile`, `password`, `port`, `ebgp-multihop`,
//!   `disable-connected-check`, `update-source`, `timers`, `timers connect`,
//!   `capability extended-nexthop`. Per AF: `activate`,
//!   `route-reflector-client`, `next-hop-self force`, `allowas-in`,
//!   `route-map in`, `route-map out`; then for EVPN `advertise-all-vni`,
//!   `advertise ipv4 unicast`, `advertise ipv6 unicast`, `route-target
//!   import`, `route-target export`.
//! - **Instance header order**: `bgp router-id`, `no bgp
//!   ebgp-requires-policy`, `no bgp default ipv4-unicast`, `bgp cluster-id`,
//!   `bgp graceful-restart stalepath-time`, `… restart-time`, `bgp
//!   graceful-restart`, `… preserve-fw-state`, `no bgp network
//!   import-check`, neighbors, `bgp listen limit`, `bgp listen range`.
//! - **What FRR rewrites or drops** (and so does the renderer): values equal
//!   to FRR's defaults are not printed (GR restart-time 120, stalepath-time
//!   360, listen limit 100, port 179, BFD intervals 300, detect-multiplier 3,
//!   minimum-ttl 254, `ebgp-multihop 1`); `log stdout debugging` prints as
//!   `log stdout`; `debug bgp updates` prints as `debug bgp updates in` and
//!   `debug bgp updates out`; `ebgp-multihop` without TTL prints as
//!   `ebgp-multihop 255`; `neighbor X bfd profile P` also prints
//!   `neighbor X bfd`; `ebgp-multihop` is ignored for iBGP peers;
//!   `capability extended-nexthop` is implicit (not printed) for interface
//!   peers; address families with nothing to print are omitted; prefixes are
//!   printed with host bits cleared; IP addresses in their canonical form.
//! - **What FRR rejects** (the renderer leaves it out rather than produce a
//!   file that fails to load): `ebgp-multihop` on an interface peer ("Operation
//!   not allowed on a directly connected neighbor") and
//!   `route-reflector-client` on an eBGP peer ("Not an internal neighbor").
//!
//! The canonical form below is 8.4.4's; FRR 10.3 differs from it only by
//! the [`Dialect`] rules (route-maps after the global lines, NHT via the
//! default route implied, bare `ebgp-multihop` for TTL 255), which
//! `tests/live_frr.rs` checks on whichever FRR is installed.
//!
//! # FRR 8.4 limitations found
//!
//! - `hostname X` loaded through vtysh is not sent to the daemons: the
//!   running config always shows the hostname of the system (UTS namespace)
//!   vtysh and the daemons run in; if they differ, both lines appear.
//!   [`Config::hostname`] should therefore be the container's hostname.
//! - `ip forwarding` is read back from the kernel: zebra prints nothing when
//!   forwarding is on and `no ip forwarding` / `no ipv6 forwarding` when it
//!   is off (the case in a fresh network namespace), see
//!   [`Config::ipv4_forwarding`].
//! - `vrf red` and `router bgp X vrf red` are accepted without a kernel VRF
//!   device. zebra prints a `vrf` block only when it has content (`vni`).

// The configuration as data: pure.
pub mod delta;
mod dialect;
mod model;
mod normalize;
mod order;
pub mod render;
mod render_af;
mod render_isis;
mod syntax;
pub mod tree;
mod version;

// Running FRR and talking to it (feature `runtime`).
#[cfg(feature = "runtime")]
mod applier;
#[cfg(feature = "runtime")]
mod apply_report;
#[cfg(feature = "runtime")]
mod daemons;
#[cfg(feature = "runtime")]
mod exec;
#[cfg(feature = "runtime")]
pub mod instance;
#[cfg(feature = "runtime")]
mod layout;
#[cfg(feature = "runtime")]
pub(crate) mod mgmtd;
#[cfg(feature = "runtime")]
pub mod reloader;
#[cfg(feature = "runtime")]
pub mod state;
#[cfg(feature = "runtime")]
mod state_interfaces;
#[cfg(feature = "runtime")]
pub mod target;
#[cfg(feature = "runtime")]
pub mod vty;
#[cfg(feature = "runtime")]
pub mod vtysh;

// For tests and benchmarks (feature `testing`).
#[cfg(feature = "testing")]
pub mod reload;
#[cfg(feature = "testing")]
pub mod testing;

pub use delta::{Delta, DeltaLine};
pub use dialect::Dialect;
pub use model::*;
pub use normalize::{normalize_running_config, same_blocks, top_level_blocks};
pub use syntax::{SyntaxError, VTYSH, check_syntax, check_syntax_with, refused_line, vtysh_available};
pub use version::{BadVersion, FrrVersion};

#[cfg(feature = "runtime")]
pub use applier::{Applier, ApplyOptions, Identity};
#[cfg(feature = "runtime")]
pub use apply_report::{ApplyError, ApplyReport, FailedLine, RejectedSnippet, Rollback};
#[cfg(feature = "runtime")]
pub use exec::ExecError;
#[cfg(feature = "runtime")]
pub use instance::{Instance, InstanceError, InstanceSpec, NetnsRef};
#[cfg(feature = "testing")]
pub use reload::FrrReload;
#[cfg(feature = "runtime")]
pub use vtysh::{Vtysh, VtyshError};
