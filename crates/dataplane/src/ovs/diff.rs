//! Wanted OVS ports + the database's bridges → ordered steps (pure).
//!
//! Order: stale bridges of ours are deleted and ports of ours on the wrong bridge detached
//! first (a port moving between bridges is detached before it is attached again); then, per
//! wanted port in the plan's order, its bridge is created when it is ours and missing, and the
//! port attached when it is not on it. An External bridge that does not exist is a problem of
//! the resource that wants it, and nothing is done for that resource.

use std::collections::{BTreeSet, HashMap};

use super::{OvsAction, OvsDiff, OvsObserved, OvsOp, OvsPort};
use crate::{Failure, Side};

/// `name` is `prefix` followed by digits only.
fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The steps from `observed` to `wanted`.
pub fn diff(wanted: &[OvsPort], observed: &OvsObserved) -> OvsDiff {
    let mut out = OvsDiff::default();
    let wanted_bridges: BTreeSet<&str> = wanted.iter().map(|p| p.bridge.as_str()).collect();
    let wanted_port: HashMap<&str, &OvsPort> = wanted.iter().map(|p| (p.port.as_str(), p)).collect();

    // Removals.
    for b in &observed.bridges {
        if b.created_by_us && numbered(&b.name, "br-hs-") && !wanted_bridges.contains(b.name.as_str()) {
            out.ops.push(OvsOp { owner: None, action: OvsAction::DeleteBridge { bridge: b.name.clone() } });
            continue;
        }
        for port in b.ports.iter().filter(|p| numbered(p, "host-e-")) {
            let want = wanted_port.get(port.as_str());
            if want.is_some_and(|w| w.bridge == b.name) {
                continue;
            }
            out.ops.push(OvsOp {
                owner: want.map(|w| w.owner.clone()),
                action: OvsAction::DeletePort { bridge: b.name.clone(), port: port.clone() },
            });
        }
    }

    // What is wanted.
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for p in wanted {
        let bridge = observed.bridge(&p.bridge);
        if bridge.is_none() && !p.managed_bridge {
            out.problems.push(Failure {
                owner: Some(p.owner.clone()),
                side: Side::Host,
                object: format!("ovs bridge {}", p.bridge),
                message: format!(
                    "the Open vSwitch bridge {} does not exist, so {} cannot be attached to it: create the bridge, or use lifecycle Managed",
                    p.bridge, p.port
                ),
            });
            continue;
        }
        if bridge.is_none() && created.insert(p.bridge.as_str()) {
            out.ops.push(OvsOp {
                owner: Some(p.owner.clone()),
                action: OvsAction::AddBridge { bridge: p.bridge.clone() },
            });
        }
        if !bridge.is_some_and(|b| b.ports.contains(&p.port)) {
            out.ops.push(OvsOp {
                owner: Some(p.owner.clone()),
                action: OvsAction::AddPort { bridge: p.bridge.clone(), port: p.port.clone() },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Owner;
    use crate::ovs::OvsBridgeState;

    fn port(vni: u32, bridge: &str, managed: bool) -> OvsPort {
        OvsPort {
            port: format!("host-e-{vni}"),
            bridge: bridge.into(),
            managed_bridge: managed,
            owner: Owner { kind: "L2VNI".into(), name: format!("l2-{vni}") },
        }
    }

    fn bridge(name: &str, ours: bool, ports: &[&str]) -> OvsBridgeState {
        let mut ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        ports.push(name.to_string());
        ports.sort();
        OvsBridgeState { name: name.into(), created_by_us: ours, ports }
    }

    fn lines(d: &OvsDiff) -> Vec<String> {
        d.ops
            .iter()
            .map(|o| match &o.owner {
                Some(owner) => format!("{} [{owner}]", o.action),
                None => format!("{} (no longer wanted)", o.action),
            })
            .collect()
    }

    #[test]
    fn steps_print_like_the_kernel_steps() {
        let d = diff(&[port(10, "br-hs-10", true)], &OvsObserved { bridges: vec![bridge("br-hs-9", true, &[])] });
        let text: Vec<String> = d.ops.iter().map(|o| o.to_string()).collect();
        assert_eq!(text[0], "ovs    delete bridge br-hs-9 (no longer wanted)");
        assert_eq!(text[1], format!("{:<72} [L2VNI/l2-10]", "ovs    create bridge br-hs-10"));
    }

    #[test]
    fn managed_bridge_is_created_then_the_port_attached() {
        let d = diff(&[port(10, "br-hs-10", true)], &OvsObserved::default());
        assert_eq!(lines(&d), ["create bridge br-hs-10 [L2VNI/l2-10]", "attach host-e-10 to br-hs-10 [L2VNI/l2-10]"]);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn nothing_to_do_when_in_place() {
        let obs = OvsObserved {
            bridges: vec![bridge("br-ext", false, &["eth9", "host-e-11"]), bridge("br-hs-10", true, &["host-e-10"])],
        };
        let d = diff(&[port(10, "br-hs-10", true), port(11, "br-ext", false)], &obs);
        assert_eq!(d, OvsDiff::default());
    }

    #[test]
    fn stale_means_ours_by_name_and_tag_only() {
        let obs = OvsObserved {
            bridges: vec![
                bridge("br-ext", false, &["eth9", "host-e-12", "host-e-x"]),
                bridge("br-hs-13", false, &["host-e-13"]),
                bridge("br-hs-14", true, &["host-e-14"]),
                bridge("br-hs-15x", true, &[]),
                bridge("br-other", true, &[]),
            ],
        };
        let d = diff(&[], &obs);
        assert_eq!(
            lines(&d),
            [
                "detach host-e-12 from br-ext (no longer wanted)",
                "detach host-e-13 from br-hs-13 (no longer wanted)",
                "delete bridge br-hs-14 (no longer wanted)",
            ]
        );
    }

    #[test]
    fn a_port_moving_bridges_is_detached_first() {
        let obs = OvsObserved { bridges: vec![bridge("br-ext", false, &["host-e-10"])] };
        let d = diff(&[port(10, "br-hs-10", true)], &obs);
        assert_eq!(
            lines(&d),
            [
                "detach host-e-10 from br-ext [L2VNI/l2-10]",
                "create bridge br-hs-10 [L2VNI/l2-10]",
                "attach host-e-10 to br-hs-10 [L2VNI/l2-10]",
            ]
        );
    }

    #[test]
    fn a_missing_external_bridge_fails_its_resource_only() {
        let d = diff(&[port(20, "br-nope", false), port(21, "br-hs-21", true)], &OvsObserved::default());
        assert_eq!(d.problems.len(), 1);
        assert_eq!(d.problems[0].owner.as_ref().unwrap().name, "l2-20");
        assert!(d.problems[0].message.contains("br-nope does not exist"), "{}", d.problems[0].message);
        assert_eq!(lines(&d), ["create bridge br-hs-21 [L2VNI/l2-21]", "attach host-e-21 to br-hs-21 [L2VNI/l2-21]"]);
    }
}
