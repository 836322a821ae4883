//! A route target that bgpd would refuse, added by way of a placeholder.
//!
//! While a VRF's L3VNI is live and no route target of one side (import or export) is
//! configured, bgpd keeps the one it derives (`ASN:VNI`) in that side's list. Adding the same
//! route target by hand is then refused on FRR 10.3 ("RT specified already configured for this
//! VRF") and silently dropped on 8.4, although it is valid and FRR takes it from a file at start.
//! So a change that adds the derived route target to a VRF's `address-family l2vpn evpn` first
//! adds a placeholder of the same side (which makes bgpd drop the derived one), then the wanted
//! route target, then takes the placeholder out. The three commands go in one batch; the VRF's
//! routes are sent once the batch is in.

use std::collections::BTreeMap;

use super::{Change, Command, Node};
use crate::render_af::derived_route_target;

/// Route targets no VRF should carry (AS 65535 is reserved, RFC 7300); the first one the
/// block does not use is the placeholder.
const PLACEHOLDERS: [&str; 2] = ["65535:65535", "65535:65534"];

/// Puts the placeholder around every added route target that equals its VRF's derived one.
pub(super) fn detour_derived(target: &[Node], change: &mut Change) {
    let vnis = l3vnis(target);
    let mut i = 0;
    while i < change.commands.len() {
        let Some(around) = detour(&change.commands[i], &vnis, target) else {
            i += 1;
            continue;
        };
        let [before, after] = around;
        change.commands.insert(i + 1, after);
        change.commands.insert(i, before);
        // Steps start at or before the additions, never inside them; keep them pointing at the
        // same commands all the same.
        for step in change.steps.iter_mut().filter(|s| **s > i) {
            *step += 2;
        }
        i += 3;
    }
}

/// The VNI of each VRF (`vrf NAME` / `vni N`).
fn l3vnis(target: &[Node]) -> BTreeMap<&str, u32> {
    target
        .iter()
        .filter_map(|n| {
            let vrf = n.line.strip_prefix("vrf ")?.trim();
            let vni =
                n.children.iter().find_map(|c| c.line.strip_prefix("vni ")?.split_whitespace().next()?.parse().ok())?;
            Some((vrf, vni))
        })
        .collect()
}

/// The placeholder's addition and removal for `command`, when it adds its VRF's derived route
/// target.
fn detour(command: &Command, vnis: &BTreeMap<&str, u32>, target: &[Node]) -> Option<[Command; 2]> {
    let [instance, family] = command.context.as_slice() else { return None };
    if family != "address-family l2vpn evpn" {
        return None;
    }
    let (asn, vrf) = instance.strip_prefix("router bgp ")?.split_once(" vrf ")?;
    let asn: u32 = asn.trim().parse().ok()?;
    let vni = *vnis.get(vrf.trim())?;
    let words: Vec<&str> = command.text.split_whitespace().collect();
    let ["route-target", side @ ("import" | "export"), rt] = words.as_slice() else { return None };
    if *rt != derived_route_target(asn, vni) {
        return None;
    }
    let used = |p: &str| {
        target
            .iter()
            .filter(|n| &n.line == instance)
            .flat_map(|n| &n.children)
            .filter(|n| &n.line == family)
            .any(|af| af.children.iter().any(|l| l.line.split_whitespace().last() == Some(p)))
    };
    let placeholder = PLACEHOLDERS.into_iter().find(|p| !used(p))?;
    let line = format!("route-target {side} {placeholder}");
    let at = |text: String| Command { context: command.context.clone(), text, enters: false };
    Some([at(line.clone()), at(super::negate(&line))])
}

#[cfg(test)]
mod tests {
    use super::super::diff;

    const RUNNING: &str = "vrf red\n vni 100\nexit-vrf\n!\nrouter bgp 64514 vrf red\n address-family l2vpn evpn\n  advertise ipv4 unicast\n exit-address-family\nexit\n!\n";

    fn texts(from: &str, to: &str) -> Vec<String> {
        diff(from, to).commands.iter().map(|c| c.text.clone()).collect()
    }

    #[test]
    fn the_derived_route_target_goes_in_by_a_placeholder() {
        let to =
            RUNNING.replace("advertise ipv4 unicast\n", "advertise ipv4 unicast\n  route-target export 64514:100\n");
        assert_eq!(
            texts(RUNNING, &to),
            ["route-target export 65535:65535", "route-target export 64514:100", "no route-target export 65535:65535"]
        );
        // Its delta (what a human reads) is the one line.
        assert_eq!(diff(RUNNING, &to).delta.added.len(), 1);
    }

    #[test]
    fn other_route_targets_go_in_directly() {
        let to =
            RUNNING.replace("advertise ipv4 unicast\n", "advertise ipv4 unicast\n  route-target import 64514:1100\n");
        assert_eq!(texts(RUNNING, &to), ["route-target import 64514:1100"]);
    }

    #[test]
    fn a_four_byte_asn_derives_with_the_vni_cut_to_16_bits() {
        let running = RUNNING.replace("64514", "4200000001").replace("vni 100", "vni 65636");
        let to = running
            .replace("advertise ipv4 unicast\n", "advertise ipv4 unicast\n  route-target import 4200000001:100\n");
        assert_eq!(texts(&running, &to)[0], "route-target import 65535:65535");
    }

    #[test]
    fn a_placeholder_in_use_is_not_taken() {
        let to = RUNNING.replace(
            "advertise ipv4 unicast\n",
            "advertise ipv4 unicast\n  route-target import 65535:65535\n  route-target import 64514:100\n",
        );
        let sent = texts(RUNNING, &to);
        assert!(sent.contains(&"route-target import 65535:65534".to_string()), "{sent:?}");
        assert_eq!(sent.last().map(String::as_str), Some("no route-target import 65535:65534"));
    }

    #[test]
    fn a_vrf_without_a_vni_is_left_alone() {
        let running = RUNNING.replace(" vni 100\n", "");
        let to =
            running.replace("advertise ipv4 unicast\n", "advertise ipv4 unicast\n  route-target export 64514:100\n");
        assert_eq!(texts(&running, &to), ["route-target export 64514:100"]);
    }
}
