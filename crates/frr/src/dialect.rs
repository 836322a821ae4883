//! How each FRR line prints a configuration back: the per-version rules of
//! the one canonical renderer.
//!
//! The renderer ([`Config::render_for`](crate::Config::render_for)) is
//! written once; wherever FRR 10.3 prints something differently from
//! 8.4.4, it asks the [`Dialect`] of the target version. Each field is one
//! difference, with the FRR version that introduced it as far as we know
//! it and how it was established. `docs/frr-versions.md` lists them all,
//! together with the differences outside the renderer (daemons, JSON).

use crate::FrrVersion;

/// The printing rules of one FRR version (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// The version these rules describe.
    pub version: FrrVersion,
    /// `ip nht resolve-via-default` / `ipv6 nht resolve-via-default` are
    /// the `traditional` profile's default, so zebra prints neither line
    /// when they are set.
    ///
    /// FRR ≥ 9.1 (zebra's defaults changed in 9.1); seen in 10.3: after
    /// loading both lines, `show running-config` has neither, and
    /// `frr-reload.py --test` offers to add them again on every run if they
    /// are in the file. Off prints as `no ip nht resolve-via-default` and
    /// `no ipv6 nht resolve-via-default` among zebra's global lines, after
    /// `log stdout` and before `no ip forwarding` (8.4.4 prints the positive
    /// lines as blocks of their own after the route-maps).
    pub nht_resolve_via_default_is_default: bool,
    /// vtysh prints the route-map entries right after the global lines,
    /// before the debug lines and the `vrf` blocks (8.4.4 prints them after
    /// the `router bgp` blocks).
    ///
    /// Seen in 10.3's `show running-config` (vtysh's node order changed
    /// between the lines; the 9.x releases were not checked, so the rule
    /// starts at 10.0). The order of top-level blocks does not matter to
    /// `frr-reload.py` nor to [`same_blocks`](crate::same_blocks), but the
    /// renderer prints what FRR prints.
    pub route_maps_before_vrfs: bool,
    /// `neighbor X ebgp-multihop` with the maximum TTL (255, what the bare
    /// command sets) prints as the bare command; 8.4.4 prints
    /// `ebgp-multihop 255`.
    ///
    /// Seen in 10.3 (9.x not checked, so the rule starts at 10.0).
    /// `frr-reload.py --test` of 10.3 treats both spellings as equal, but
    /// `show running-config` only has the bare one.
    pub bare_ebgp_multihop_max_ttl: bool,
}

impl Dialect {
    /// The rules of `version`.
    pub fn of(version: FrrVersion) -> Self {
        Dialect {
            version,
            nht_resolve_via_default_is_default: version.at_least(9, 1),
            route_maps_before_vrfs: version.at_least(10, 0),
            bare_ebgp_multihop_max_ttl: version.at_least(10, 0),
        }
    }
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect::of(FrrVersion::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_8_4_has_no_difference_and_10_3_has_all() {
        let old = Dialect::of(FrrVersion::FRR_8_4);
        assert!(!old.nht_resolve_via_default_is_default && !old.route_maps_before_vrfs);
        assert!(!old.bare_ebgp_multihop_max_ttl);
        assert_eq!(Dialect::default(), old);
        let new = Dialect::of(FrrVersion::FRR_10_3);
        assert!(new.nht_resolve_via_default_is_default && new.route_maps_before_vrfs);
        assert!(new.bare_ebgp_multihop_max_ttl);
    }
}
