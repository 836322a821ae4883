//! BFD taken off a neighbor whose session a change resets, and put back once the reset is done.
//!
//! FRR 10.3's bgpd leaves a session it resets for a configuration change (an address family
//! activated, `disable-connected-check`…) in Idle for good when the neighbor has `bfd` and its
//! BFD session is down, as it is towards a peer that runs no BFD: no start timer, `clear bgp`
//! does not bring it back, only a change of the neighbor's BFD configuration does (seen in the
//! lab, see `docs/frr-versions.md`). So such a change first takes BFD off each of those
//! neighbors, in a step of its own, and sets the target's BFD lines again in a last step. A BFD
//! line the change adds to such a neighbor moves to that last step.

use super::{Change, Command, Node, session_resets};

/// The `neighbor N bfd…` lines of block `instance` in `config`.
fn bfd_lines<'a>(config: &'a [Node], instance: &str, neighbor: &str) -> Vec<&'a str> {
    let bfd = format!("neighbor {neighbor} bfd");
    config
        .iter()
        .filter(|n| n.line == instance)
        .flat_map(|n| n.children.iter().map(|c| c.line.as_str()))
        .filter(|l| *l == bfd || l.strip_prefix(&bfd).is_some_and(|rest| rest.starts_with(' ')))
        .collect()
}

/// Moves BFD out of the way of every session reset of `change` (see the module documentation).
pub(super) fn around_resets(running: &[Node], target: &[Node], change: &mut Change) {
    let mut off = Vec::new();
    let mut on = Vec::new();
    for reset in session_resets(change) {
        let wanted = bfd_lines(target, &reset.instance, &reset.neighbor);
        if wanted.is_empty() {
            continue;
        }
        let context = vec![reset.instance.clone()];
        if !bfd_lines(running, &reset.instance, &reset.neighbor).is_empty() {
            off.push(Command {
                context: context.clone(),
                text: format!("no neighbor {} bfd", reset.neighbor),
                enters: false,
            });
        }
        // Added by the change itself: set in the last step instead.
        let mut i = 0;
        while i < change.commands.len() {
            let c = &change.commands[i];
            if c.context == context && wanted.contains(&c.text.as_str()) {
                change.commands.remove(i);
                for step in change.steps.iter_mut().filter(|s| **s > i) {
                    *step -= 1;
                }
            } else {
                i += 1;
            }
        }
        on.extend(wanted.into_iter().map(|l| Command { context: context.clone(), text: l.to_string(), enters: false }));
    }
    if on.is_empty() {
        return;
    }
    let first = off.len();
    change.commands.splice(0..0, off);
    for step in change.steps.iter_mut() {
        *step += first;
    }
    change.steps.retain(|s| *s < change.commands.len());
    change.steps.dedup();
    if first > 0 {
        change.steps.insert(0, first);
    }
    change.step();
    change.commands.extend(on);
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::*;

    const BASE: &str = "router bgp 64514\n neighbor 192.168.11.2 remote-as 64512\n neighbor 192.168.11.2 bfd\n neighbor 192.168.11.2 bfd profile fast\n neighbor 10.0.0.9 remote-as 64515\n !\n address-family ipv4 unicast\n  neighbor 192.168.11.2 activate\n  neighbor 10.0.0.9 activate\n exit-address-family\nexit\n!\n";

    fn steps(change: &Change) -> Vec<Vec<String>> {
        change.in_steps().iter().map(|s| s.iter().map(|c| c.text.clone()).collect()).collect()
    }

    #[test]
    fn bfd_is_off_while_its_neighbor_resets_and_back_after() {
        let to = BASE.replace(
            " neighbor 10.0.0.9 remote-as 64515\n",
            " neighbor 10.0.0.9 remote-as 64515\n neighbor 192.168.11.2 disable-connected-check\n",
        );
        let steps = steps(&diff(BASE, &to));
        assert_eq!(steps.first().unwrap(), &["no neighbor 192.168.11.2 bfd"]);
        assert!(
            steps[1..steps.len() - 1].iter().flatten().any(|c| c == "neighbor 192.168.11.2 disable-connected-check")
        );
        assert_eq!(steps.last().unwrap(), &["neighbor 192.168.11.2 bfd", "neighbor 192.168.11.2 bfd profile fast"]);
    }

    #[test]
    fn bfd_added_with_a_reset_waits_for_the_last_step() {
        let from = BASE.replace(" neighbor 192.168.11.2 bfd\n neighbor 192.168.11.2 bfd profile fast\n", "");
        let to = from.replace("  neighbor 10.0.0.9 activate\n", "  neighbor 10.0.0.9 activate\n exit-address-family\n !\n address-family ipv6 unicast\n  neighbor 192.168.11.2 activate\n")
            .replace(" neighbor 10.0.0.9 remote-as 64515\n", " neighbor 10.0.0.9 remote-as 64515\n neighbor 192.168.11.2 bfd\n");
        let steps = steps(&diff(&from, &to));
        let all: Vec<&String> = steps.iter().flatten().collect();
        assert_eq!(all.iter().filter(|c| c.as_str() == "neighbor 192.168.11.2 bfd").count(), 1, "{steps:?}");
        assert!(!all.iter().any(|c| c.starts_with("no neighbor")), "{steps:?}");
        assert_eq!(steps.last().unwrap(), &["neighbor 192.168.11.2 bfd"]);
        assert!(steps.len() >= 2, "{steps:?}");
    }

    #[test]
    fn changes_that_reset_no_bfd_neighbor_are_left_alone() {
        // A reset of a neighbor without BFD, and a harmless change of one with it.
        let to = BASE
            .replace(
                " neighbor 10.0.0.9 remote-as 64515\n",
                " neighbor 10.0.0.9 remote-as 64515\n neighbor 10.0.0.9 disable-connected-check\n",
            )
            .replace("  neighbor 10.0.0.9 activate\n", "  neighbor 10.0.0.9 activate\n  network 10.1.0.0/16\n");
        let change = diff(BASE, &to);
        assert!(!change.commands.iter().any(|c| c.text.contains(" bfd")), "{:?}", steps(&change));
    }
}
