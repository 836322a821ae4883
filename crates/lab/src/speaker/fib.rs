//! The lab's route installer for GoBGP nodes.
//!
//! GoBGP keeps what it learns in its RIB and installs nothing into the kernel (Cilium and
//! kube-vip only announce with it). A node whose pods must reach the external hosts through the
//! PE needs those routes in its kernel, and the component that puts them there is the CNI
//! (kube-router, for one, runs GoBGP and programs the learned routes itself). The lab plays that
//! part: this loop, run as `openperouter lab gobgp-fib` in the node's host namespace, reads
//! GoBGP's best learned paths every second and makes the kernel's main table hold exactly those,
//! as `proto bgp` routes (no other program in a GoBGP node's namespace writes that protocol).
//! It reads the kernel again when GoBGP's view changed and every few seconds otherwise, so
//! routes the kernel dropped with a vanished interface come back.
//!
//! The alternative, GoBGP's zebra client feeding an FRR zebra in the node, would put FRR back
//! into the node this layout exists to keep FRR-free.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The kernel protocol of the routes this installer owns.
pub const PROTO: &str = "bgp";
/// Polls between two kernel reads when GoBGP's view did not change.
const KERNEL_READ_EVERY: u32 = 5;

/// One kernel change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// Add the route, or move it to another next hop.
    Replace { prefix: String, via: String },
    /// Remove a route GoBGP no longer has.
    Delete { prefix: String },
}

/// The ops that turn `installed` into `desired` (both `(prefix, next hop)`): deletions first,
/// nothing for routes already right.
pub fn diff(desired: &[(String, String)], installed: &[(String, String)]) -> Vec<RouteOp> {
    let mut ops: Vec<RouteOp> = installed
        .iter()
        .filter(|(p, _)| !desired.iter().any(|(d, _)| d == p))
        .map(|(p, _)| RouteOp::Delete { prefix: p.clone() })
        .collect();
    ops.extend(
        desired
            .iter()
            .filter(|d| !installed.contains(d))
            .map(|(p, via)| RouteOp::Replace { prefix: p.clone(), via: via.clone() }),
    );
    ops
}

/// `(prefix, gateway)` of the routes in `ip -j route show proto bgp` (a host route's `dst`
/// has no length there: it gets `/32`).
pub fn parse_kernel_routes(json: &str) -> Result<Vec<(String, String)>, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("ip -j route: {e}"))?;
    let mut out: Vec<(String, String)> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let dst = r.get("dst")?.as_str()?;
            let dst = if dst.contains('/') { dst.to_string() } else { format!("{dst}/32") };
            Some((dst, r.get("gateway").and_then(Value::as_str).unwrap_or_default().to_string()))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn run_cmd(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn kernel_routes() -> Result<Vec<(String, String)>, String> {
    parse_kernel_routes(&run_cmd("ip", &["-j", "-4", "route", "show", "proto", PROTO])?)
}

fn apply(op: &RouteOp) -> Result<(), String> {
    match op {
        RouteOp::Replace { prefix, via } => {
            run_cmd("ip", &["route", "replace", prefix, "via", via, "proto", PROTO]).map(|_| ())
        }
        RouteOp::Delete { prefix } => run_cmd("ip", &["route", "del", prefix, "proto", PROTO]).map(|_| ()),
    }
}

/// Keeps the current namespace's kernel in line with the GoBGP whose API is `target`
/// (`unix:///…`), polling every `interval`; returns only when it cannot run at all.
pub fn run(target: &str, interval: Duration) -> Result<(), String> {
    run_cmd("ip", &["-V"]).map_err(|e| format!("iproute2 is needed: {e}"))?;
    let mut last: Option<Vec<(String, String)>> = None;
    let mut since_read = 0;
    loop {
        match run_cmd("gobgp", &["--target", target, "-j", "global", "rib", "-a", "ipv4"])
            .and_then(|json| super::gobgp::best_learned(&json))
        {
            Ok(desired) => {
                since_read += 1;
                if last.as_ref() != Some(&desired) || since_read >= KERNEL_READ_EVERY {
                    since_read = 0;
                    match kernel_routes() {
                        Ok(installed) => {
                            let mut all_applied = true;
                            for op in diff(&desired, &installed) {
                                match apply(&op) {
                                    Ok(()) => println!("{op:?}"),
                                    Err(e) => {
                                        all_applied = false;
                                        println!("{op:?} failed (retrying): {e}");
                                    }
                                }
                            }
                            last = all_applied.then_some(desired);
                        }
                        Err(e) => println!("cannot read the kernel's routes: {e}"),
                    }
                }
            }
            // GoBGP not answering yet (starting) or any more (stopping): keep the kernel as it
            // is, as a CNI keeps forwarding when its BGP daemon restarts.
            Err(e) => println!("gobgp: {e}"),
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str, via: &str) -> (String, String) {
        (p.to_string(), via.to_string())
    }

    #[test]
    fn diff_removes_stale_routes_first_and_leaves_right_ones_alone() {
        let desired = [r("10.244.1.0/24", "192.169.10.1"), r("192.168.20.0/24", "192.169.10.1")];
        let installed = [r("192.168.20.0/24", "192.169.10.1"), r("192.168.120.0/24", "192.169.10.1")];
        assert_eq!(
            diff(&desired, &installed),
            vec![
                RouteOp::Delete { prefix: "192.168.120.0/24".into() },
                RouteOp::Replace { prefix: "10.244.1.0/24".into(), via: "192.169.10.1".into() },
            ]
        );
        assert!(diff(&desired, &desired).is_empty(), "a converged kernel gets no op");
        // A next-hop change is one replace, no delete.
        assert_eq!(
            diff(&[r("10.244.1.0/24", "192.169.30.1")], &[r("10.244.1.0/24", "192.169.10.1")]),
            vec![RouteOp::Replace { prefix: "10.244.1.0/24".into(), via: "192.169.30.1".into() }]
        );
    }

    #[test]
    fn kernel_routes_get_a_prefix_length() {
        let json = r#"[{"dst":"192.168.20.0/24","gateway":"192.169.10.1","dev":"host-e-100","protocol":"bgp","flags":[]},
                       {"dst":"192.169.10.2","gateway":"192.169.10.1","dev":"host-e-100","protocol":"bgp","flags":[]}]"#;
        assert_eq!(
            parse_kernel_routes(json).unwrap(),
            vec![r("192.168.20.0/24", "192.169.10.1"), r("192.169.10.2/32", "192.169.10.1")]
        );
        assert_eq!(parse_kernel_routes("[]").unwrap(), vec![]);
    }
}
