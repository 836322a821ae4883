//! The configuration churn drill's model, pure: a seeded random sequence of changes to a PE
//! configuration, the configuration text after each, and what the node must report for it.
//!
//! The changes touch only resources of their own (L3VNIs `churn-l3-<k>` with VNI 1000+k, L2VNIs
//! `churn-l2-<k>` with VNI 2000+k, raw snippets, invalid L3VNIs) and two settings of the base
//! configuration that carry no probed traffic: the passthrough's IPv6 pool and BFD on the ToR
//! session. The base L3VNIs and L2VNIs are never touched: the drill probes them throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How many of each churned resource may exist at once (k = 1..=SLOTS).
const SLOTS: u32 = 3;

/// xorshift64*: small, seeded, the same sequence on every machine.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One churned L3VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct L3 {
    session: bool,
    route_targets: bool,
}

/// One churned L2VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct L2 {
    /// The churned L3VNI it is routed through (with a gateway), if any.
    routed: Option<u32>,
    /// A managed Linux host bridge, or none.
    bridge: bool,
}

/// One change of the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    AddL3 { k: u32, session: bool },
    RemoveL3(u32),
    ToggleRouteTargets(u32),
    AddL2 { k: u32, routed: Option<u32>, bridge: bool },
    RemoveL2(u32),
    ToggleHostBridge(u32),
    AddRaw(u32),
    RemoveRaw(u32),
    AddInvalid(u32),
    RemoveInvalid(u32),
    TogglePassthroughIpv6,
    ToggleBfd,
}

impl Change {
    /// Whether the change resets the PE's BGP session with the fabric: the passthrough's IPv6
    /// pool activates (or deactivates) `ipv6 unicast` on the fabric neighbor and sets (or
    /// clears) its `disable-connected-check`, and bgpd applies either only by resetting the
    /// session. Every VNI then loses traffic for a few seconds, graceful restart or not (FRR
    /// 10.3 drops the routes both ways; see docs/frr-versions.md).
    pub(super) fn resets_fabric_session(&self) -> bool {
        matches!(self, Change::TogglePassthroughIpv6)
    }

    /// The kind of change, without its arguments (`AddL3`, `ToggleBfd`, …).
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Change::AddL3 { .. } => "AddL3",
            Change::RemoveL3(_) => "RemoveL3",
            Change::ToggleRouteTargets(_) => "ToggleRouteTargets",
            Change::AddL2 { .. } => "AddL2",
            Change::RemoveL2(_) => "RemoveL2",
            Change::ToggleHostBridge(_) => "ToggleHostBridge",
            Change::AddRaw(_) => "AddRaw",
            Change::RemoveRaw(_) => "RemoveRaw",
            Change::AddInvalid(_) => "AddInvalid",
            Change::RemoveInvalid(_) => "RemoveInvalid",
            Change::TogglePassthroughIpv6 => "TogglePassthroughIpv6",
            Change::ToggleBfd => "ToggleBfd",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddL3 { k, session } => {
                write!(f, "add L3VNI churn-l3-{k}{}", if *session { " with a host session" } else { "" })
            }
            Change::RemoveL3(k) => write!(f, "remove L3VNI churn-l3-{k}"),
            Change::ToggleRouteTargets(k) => write!(f, "toggle route targets of churn-l3-{k}"),
            Change::AddL2 { k, routed, bridge } => write!(
                f,
                "add L2VNI churn-l2-{k}{}{}",
                routed.map(|j| format!(" routed via churn-l3-{j}")).unwrap_or_default(),
                if *bridge { " on a managed bridge" } else { "" }
            ),
            Change::RemoveL2(k) => write!(f, "remove L2VNI churn-l2-{k}"),
            Change::ToggleHostBridge(k) => write!(f, "toggle the host bridge of churn-l2-{k}"),
            Change::AddRaw(k) => write!(f, "add RawFRRConfig churn-raw-{k}"),
            Change::RemoveRaw(k) => write!(f, "remove RawFRRConfig churn-raw-{k}"),
            Change::AddInvalid(k) => write!(f, "add invalid L3VNI churn-bad-{k}"),
            Change::RemoveInvalid(k) => write!(f, "remove invalid L3VNI churn-bad-{k}"),
            Change::TogglePassthroughIpv6 => write!(f, "toggle the passthrough's IPv6 pool"),
            Change::ToggleBfd => write!(f, "toggle BFD on the ToR session"),
        }
    }
}

/// `(kind, name)` of a resource, as the status names it.
pub(super) type Key = (String, String);

fn key(kind: &str, name: String) -> Key {
    (kind.to_string(), name)
}

/// What the churned configuration holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Model {
    l3: BTreeMap<u32, L3>,
    l2: BTreeMap<u32, L2>,
    raw: BTreeSet<u32>,
    invalid: BTreeSet<u32>,
    passthrough_ipv6: bool,
    bfd: bool,
}

const BFD_ANCHOR: &str = "    - asn: 64512\n";
const PASSTHROUGH_V4: &str = "localCIDR: {ipv4: 192.169.30.0/24}";

impl Model {
    /// A change that applies to the current state, chosen at random (adds and removes weigh
    /// alike, so the configuration neither drains nor fills up for long).
    pub(super) fn choose(&self, rng: &mut Rng) -> Change {
        let free = |used: &dyn Fn(u32) -> bool| (1..=SLOTS).find(|k| !used(*k));
        let mut options = Vec::new();
        if let Some(k) = free(&|k| self.l3.contains_key(&k)) {
            options.push(Change::AddL3 { k, session: rng.below(2) == 0 });
        }
        if let Some(k) = free(&|k| self.l2.contains_key(&k)) {
            let routed = if self.l3.is_empty() || rng.below(3) == 0 {
                None
            } else {
                self.l3.keys().nth(rng.below(self.l3.len())).copied()
            };
            options.push(Change::AddL2 { k, routed, bridge: rng.below(2) == 0 });
        }
        if let Some(k) = free(&|k| self.raw.contains(&k)) {
            options.push(Change::AddRaw(k));
        }
        if let Some(k) = free(&|k| self.invalid.contains(&k)) {
            options.push(Change::AddInvalid(k));
        }
        for k in self.l3.keys() {
            options.push(Change::RemoveL3(*k));
            options.push(Change::ToggleRouteTargets(*k));
        }
        for k in self.l2.keys() {
            options.push(Change::RemoveL2(*k));
            options.push(Change::ToggleHostBridge(*k));
        }
        options.extend(self.raw.iter().map(|k| Change::RemoveRaw(*k)));
        options.extend(self.invalid.iter().map(|k| Change::RemoveInvalid(*k)));
        options.push(Change::TogglePassthroughIpv6);
        options.push(Change::ToggleBfd);
        options[rng.below(options.len())]
    }

    pub(super) fn apply(&mut self, change: Change) {
        match change {
            Change::AddL3 { k, session } => {
                self.l3.insert(k, L3 { session, route_targets: false });
            }
            Change::RemoveL3(k) => {
                self.l3.remove(&k);
            }
            Change::ToggleRouteTargets(k) => {
                if let Some(l) = self.l3.get_mut(&k) {
                    l.route_targets = !l.route_targets;
                }
            }
            Change::AddL2 { k, routed, bridge } => {
                self.l2.insert(k, L2 { routed, bridge });
            }
            Change::RemoveL2(k) => {
                self.l2.remove(&k);
            }
            Change::ToggleHostBridge(k) => {
                if let Some(l) = self.l2.get_mut(&k) {
                    l.bridge = !l.bridge;
                }
            }
            Change::AddRaw(k) => {
                self.raw.insert(k);
            }
            Change::RemoveRaw(k) => {
                self.raw.remove(&k);
            }
            Change::AddInvalid(k) => {
                self.invalid.insert(k);
            }
            Change::RemoveInvalid(k) => {
                self.invalid.remove(&k);
            }
            Change::TogglePassthroughIpv6 => self.passthrough_ipv6 = !self.passthrough_ipv6,
            Change::ToggleBfd => self.bfd = !self.bfd,
        }
    }

    /// The configuration: `base` (the lab's PE configuration of the node) with this state's
    /// settings and resources. Err when `base` lacks what the base settings change.
    pub(super) fn render(&self, base: &str) -> Result<String, String> {
        let mut text = base.trim_end().to_string();
        if self.bfd {
            if !text.contains(BFD_ANCHOR) {
                return Err(format!("the base configuration has no ToR neighbor {BFD_ANCHOR:?}"));
            }
            text = text.replace(BFD_ANCHOR, &format!("{BFD_ANCHOR}      bfd: {{}}\n"));
        }
        if self.passthrough_ipv6 {
            if !text.contains(PASSTHROUGH_V4) {
                return Err(format!("the base configuration has no passthrough {PASSTHROUGH_V4:?}"));
            }
            text = text.replace(PASSTHROUGH_V4, "localCIDR: {ipv4: 192.169.30.0/24, ipv6: \"2001:db8:169:30::/64\"}");
        }
        let head = |kind: &str, name: &str| {
            format!(
                "\n---\napiVersion: network.openperouter.io/v1alpha1\nkind: {kind}\n\
                 metadata: {{name: {name}, namespace: openperouter-system}}\nspec:\n"
            )
        };
        for (k, l) in &self.l3 {
            text.push_str(&head("L3VNI", &format!("churn-l3-{k}")));
            text.push_str(&format!("  vrf: churn{k}\n  vni: {}\n", 1000 + k));
            if l.session {
                text.push_str(&format!(
                    "  hostSession:\n    asn: 64514\n    hostASN: 64515\n    localCIDR: {{ipv4: 192.172.{k}.0/24}}\n"
                ));
            }
            if l.route_targets {
                // The export side is FRR's derived route target (ASN:VNI), which bgpd takes on a
                // running VRF only by way of a placeholder (frr::delta's route_targets).
                text.push_str(&format!("  importRTs: [\"64520:{0}\"]\n  exportRTs: [\"64514:{0}\"]\n", 1000 + k));
            }
        }
        for (k, l) in &self.l2 {
            text.push_str(&head("L2VNI", &format!("churn-l2-{k}")));
            text.push_str(&format!("  vni: {}\n", 2000 + k));
            if let Some(j) = l.routed {
                text.push_str(&format!(
                    "  routingDomain: {{type: L3VNI, l3vni: {{name: churn-l3-{j}}}}}\n  gatewayIPs: [\"192.173.{k}.1/24\"]\n"
                ));
            }
            if l.bridge {
                text.push_str("  hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}\n");
            }
        }
        for k in &self.raw {
            text.push_str(&head("RawFRRConfig", &format!("churn-raw-{k}")));
            text.push_str(&format!("  rawConfig: \"ip prefix-list churn{k} seq 5 permit 10.{}.0.0/16\"\n", 100 + k));
        }
        for k in &self.invalid {
            text.push_str(&head("L3VNI", &format!("churn-bad-{k}")));
            // One past the largest VNI: refused by the schema, the rest applies.
            text.push_str(&format!("  vrf: churnbad{k}\n  vni: 16777216\n"));
        }
        text.push('\n');
        Ok(text)
    }

    /// The churned resources the node must report as failed: the invalid ones, and the L2VNIs
    /// routed through an L3VNI that is gone.
    pub(super) fn expected_failed(&self) -> BTreeSet<Key> {
        let mut out: BTreeSet<Key> = self.invalid.iter().map(|k| key("L3VNI", format!("churn-bad-{k}"))).collect();
        for (k, l) in &self.l2 {
            if l.routed.is_some_and(|j| !self.l3.contains_key(&j)) {
                out.insert(key("L2VNI", format!("churn-l2-{k}")));
            }
        }
        out
    }

    /// The churned resources the node must report as applied.
    pub(super) fn expected_applied(&self) -> BTreeSet<Key> {
        let failed = self.expected_failed();
        let l3 = self.l3.keys().map(|k| key("L3VNI", format!("churn-l3-{k}")));
        let l2 = self.l2.keys().map(|k| key("L2VNI", format!("churn-l2-{k}")));
        let raw = self.raw.iter().map(|k| key("RawFRRConfig", format!("churn-raw-{k}")));
        l3.chain(l2).chain(raw).filter(|k| !failed.contains(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = include_str!("../../../../examples/lab/openpe.yaml");

    #[test]
    fn a_seed_gives_the_same_sequence_and_every_kind_of_change_comes_up() {
        let run = |seed| {
            let (mut rng, mut model) = (Rng::new(seed), Model::default());
            (0..200)
                .map(|_| {
                    let c = model.choose(&mut rng);
                    model.apply(c);
                    c
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let kinds: BTreeSet<String> = run(7).iter().map(|c| c.kind().to_string()).collect();
        assert_eq!(kinds.len(), 12, "{kinds:?}");
    }

    #[test]
    fn the_rendered_configuration_says_what_the_model_holds() {
        let mut model = Model::default();
        for c in [
            Change::AddL3 { k: 1, session: true },
            Change::AddL2 { k: 2, routed: Some(1), bridge: true },
            Change::AddInvalid(3),
            Change::ToggleBfd,
            Change::TogglePassthroughIpv6,
            Change::ToggleRouteTargets(1),
            Change::AddRaw(1),
        ] {
            model.apply(c);
        }
        let text = model.render(BASE).unwrap();
        for want in [
            "    - asn: 64512\n      bfd: {}\n",
            "ipv6: \"2001:db8:169:30::/64\"",
            "name: churn-l3-1,",
            "localCIDR: {ipv4: 192.172.1.0/24}",
            "importRTs: [\"64520:1001\"]",
            "exportRTs: [\"64514:1001\"]",
            "routingDomain: {type: L3VNI, l3vni: {name: churn-l3-1}}",
            "vni: 16777216",
            "ip prefix-list churn1 seq 5 permit 10.101.0.0/16",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let k = |kind: &str, name: &str| key(kind, name.to_string());
        assert_eq!(model.expected_failed(), BTreeSet::from([k("L3VNI", "churn-bad-3")]));
        model.apply(Change::RemoveL3(1));
        assert_eq!(model.expected_failed(), BTreeSet::from([k("L2VNI", "churn-l2-2"), k("L3VNI", "churn-bad-3")]));
        assert_eq!(model.expected_applied(), BTreeSet::from([k("RawFRRConfig", "churn-raw-1")]));
        assert!(Model::default().render("kind: Underlay\n").unwrap().starts_with("kind: Underlay"));
        let bfd = Model { bfd: true, ..Model::default() };
        assert!(bfd.render("kind: Underlay\n").is_err());
    }
}
