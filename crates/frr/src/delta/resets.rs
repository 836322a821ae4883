//! Which BGP sessions a change resets. bgpd applies some neighbor settings only by resetting an
//! established session (it sends a Cease notification, "Other Configuration Change"): an address
//! family activated or deactivated (unless both sides negotiated the dynamic capability), and
//! the settings of the transport and the OPEN message. While the session comes back its routes
//! are withdrawn, on FRR 10.3 even with graceful restart. Neighbors that come or go with the
//! change are not listed: they have no session to reset.

use std::collections::BTreeSet;

use super::{Change, DeltaLine};

/// A session a change resets, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionReset {
    /// The BGP instance (`router bgp 64514`, `router bgp 64514 vrf red`).
    pub instance: String,
    /// The neighbor (address, interface or peer group).
    pub neighbor: String,
    /// What changed: `ipv6 unicast activated`, `disable-connected-check set`…
    pub reason: String,
}

impl std::fmt::Display for SessionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {} ({})", self.neighbor, self.instance, self.reason)
    }
}

/// Neighbor settings bgpd applies by resetting the session.
const RESETTING: &[&str] =
    &["disable-connected-check", "ebgp-multihop", "update-source", "password", "port", "capability", "local-as"];

/// The sessions `change` resets, each once, with every reason.
pub fn session_resets(change: &Change) -> Vec<SessionReset> {
    let defined = |lines: &[DeltaLine]| -> BTreeSet<(String, String)> {
        lines
            .iter()
            .filter(|l| l.context.len() == 1)
            .filter_map(|l| Some((l.context[0].clone(), super::defined_neighbor(&l.line)?.to_string())))
            .collect()
    };
    // Neighbors defined, or deleted, by the change itself.
    let new_or_gone: BTreeSet<(String, String)> =
        defined(&change.delta.added).into_iter().chain(defined(&change.delta.removed)).collect();
    let mut found: Vec<SessionReset> = Vec::new();
    // The commands, not the delta: a family block that goes is one line of the delta, but a
    // `no neighbor X activate` per neighbor among the commands; a value replaced by another is
    // one command.
    for command in &change.commands {
        let (line, added) = match command.text.strip_prefix("no ") {
            Some(line) => (line, false),
            None => (command.text.as_str(), true),
        };
        let Some(instance) = command.context.first() else { continue };
        let Some(neighbor) = super::neighbor_of(line) else { continue };
        if new_or_gone.contains(&(instance.clone(), neighbor.to_string())) {
            continue;
        }
        let Some(reason) = reason(&command.context, line, neighbor, added) else { continue };
        match found.iter_mut().find(|r| &r.instance == instance && r.neighbor == neighbor) {
            Some(r) if !r.reason.contains(&reason) => r.reason = format!("{}, {reason}", r.reason),
            Some(_) => {}
            None => found.push(SessionReset { instance: instance.clone(), neighbor: neighbor.to_string(), reason }),
        }
    }
    found.sort();
    found
}

/// Why `line` (added, or removed) resets its neighbor's session, if it does.
fn reason(context: &[String], line: &str, neighbor: &str, added: bool) -> Option<String> {
    let setting = line.strip_prefix("neighbor ")?.strip_prefix(neighbor)?.trim();
    let word = setting.split_whitespace().next()?;
    let done = if added { "set" } else { "cleared" };
    match (context, word) {
        ([_, family], "activate") => {
            let family = family.strip_prefix("address-family ")?;
            Some(format!("{family} {}", if added { "activated" } else { "deactivated" }))
        }
        ([_], "remote-as") if added => Some("remote AS changed".into()),
        // A password is named without its value.
        ([_], "password") => Some(format!("password {done}")),
        ([_], w) if RESETTING.contains(&w) => Some(format!("{setting} {done}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::*;

    const BASE: &str = "router bgp 64514\n neighbor 192.168.11.2 remote-as 64512\n neighbor 192.168.11.2 timers connect 5\n !\n address-family ipv4 unicast\n  neighbor 192.168.11.2 activate\n exit-address-family\nexit\n!\n";

    #[test]
    fn a_family_activated_on_a_running_neighbor_resets_it() {
        let to = BASE.replace(
            " neighbor 192.168.11.2 timers connect 5\n",
            " neighbor 192.168.11.2 timers connect 5\n neighbor 192.168.11.2 disable-connected-check\n",
        ) + "router bgp 64514\n address-family ipv6 unicast\n  neighbor 192.168.11.2 activate\n exit-address-family\nexit\n";
        let resets = session_resets(&diff(BASE, &to));
        assert_eq!(resets.len(), 1, "{resets:?}");
        assert_eq!(resets[0].neighbor, "192.168.11.2");
        assert_eq!(
            resets[0].to_string(),
            "192.168.11.2 in router bgp 64514 (disable-connected-check set, ipv6 unicast activated)"
        );
        // And back: the same session, the other way.
        let back = session_resets(&diff(&to, BASE));
        assert_eq!(back[0].reason, "ipv6 unicast deactivated, disable-connected-check cleared");
    }

    #[test]
    fn new_neighbors_and_harmless_settings_reset_nothing() {
        let with_new = BASE.replace(
            " neighbor 192.168.11.2 timers connect 5\n",
            " neighbor 192.168.11.2 timers connect 9\n neighbor 10.0.0.9 remote-as 64515\n neighbor 10.0.0.9 disable-connected-check\n neighbor 192.168.11.2 bfd\n",
        ) + "router bgp 64514\n address-family ipv4 unicast\n  neighbor 10.0.0.9 activate\n exit-address-family\nexit\n";
        assert_eq!(session_resets(&diff(BASE, &with_new)), []);
        assert_eq!(session_resets(&diff(&with_new, BASE)), []);
    }

    #[test]
    fn a_replaced_value_is_said_once() {
        let from =
            BASE.replace(" timers connect 5\n", " timers connect 5\n neighbor 192.168.11.2 update-source 10.0.0.1\n");
        let to = from.replace("update-source 10.0.0.1", "update-source 10.0.0.2");
        let resets = session_resets(&diff(&from, &to));
        assert_eq!(resets.len(), 1);
        assert_eq!(resets[0].reason, "update-source 10.0.0.2 set");
        // A password, set or changed, is named without its value.
        let with_password =
            from.replace(" timers connect 5\n", " timers connect 5\n neighbor 192.168.11.2 password s3cret\n");
        for (a, b) in [(&from, &with_password), (&with_password, &with_password.replace("s3cret", "n3w"))] {
            let said = session_resets(&diff(a, b))[0].to_string();
            assert!(said.ends_with("(password set)") && !said.contains("s3cret") && !said.contains("n3w"), "{said}");
        }
    }
}
