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

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use ipnet::IpNet;
use kernel::netlink::uapi::{RT_TABLE_MAIN, RTPROT_BGP};
use kernel::{Socket, rtnl};

/// The kernel protocol of the routes this installer owns (`proto bgp`).
pub const PROTO: u8 = RTPROT_BGP;
/// Polls between two kernel reads when GoBGP's view did not change.
const KERNEL_READ_EVERY: u32 = 5;

/// A route: destination and next hop.
pub type Route = (IpNet, IpAddr);

/// One kernel change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// Add the route, or move it to another next hop.
    Replace { prefix: IpNet, via: IpAddr },
    /// Remove a route GoBGP no longer has.
    Delete { prefix: IpNet },
}

/// The ops that turn `installed` into `desired`: deletions first, nothing for routes already
/// right.
pub fn diff(desired: &[Route], installed: &[Route]) -> Vec<RouteOp> {
    let mut ops: Vec<RouteOp> = installed
        .iter()
        .filter(|(p, _)| !desired.iter().any(|(d, _)| d == p))
        .map(|(p, _)| RouteOp::Delete { prefix: *p })
        .collect();
    ops.extend(
        desired.iter().filter(|d| !installed.contains(d)).map(|(p, via)| RouteOp::Replace { prefix: *p, via: *via }),
    );
    ops
}

/// GoBGP's `(prefix, next hop)` texts as routes; a pair that does not parse is reported and left
/// out.
pub fn parse_learned(learned: &[(String, String)]) -> Vec<Route> {
    let mut out: Vec<Route> = learned
        .iter()
        .filter_map(|(p, via)| match (p.parse::<IpNet>(), via.parse::<IpAddr>()) {
            (Ok(p), Ok(via)) => Some((p.trunc(), via)),
            _ => {
                println!("ignored a path gobgp printed as {p} via {via}");
                None
            }
        })
        .collect();
    out.sort();
    out
}

fn run_cmd(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The IPv4 routes of the main table this installer owns, one next hop each.
fn kernel_routes(sock: &mut Socket) -> Result<Vec<Route>, String> {
    let mut out: Vec<Route> = sock
        .routes()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.protocol == PROTO && r.table == u32::from(RT_TABLE_MAIN) && r.destination.addr().is_ipv4())
        .filter_map(|r| Some((r.destination, *r.gateways.first()?)))
        .collect();
    out.sort();
    Ok(out)
}

fn apply(sock: &mut Socket, op: &RouteOp) -> Result<(), String> {
    let mut msg = match op {
        RouteOp::Replace { prefix, via } => rtnl::replace_route(prefix, *via, PROTO),
        RouteOp::Delete { prefix } => rtnl::delete_route(prefix, PROTO),
    };
    sock.request(&mut msg).map_err(|e| e.to_string())
}

/// Keeps the current namespace's kernel in line with the GoBGP whose API is `target`
/// (`unix:///…`), polling every `interval`; returns only when it cannot run at all.
pub fn run(target: &str, interval: Duration) -> Result<(), String> {
    let mut sock = Socket::open().map_err(|e| format!("netlink socket: {e}"))?;
    let mut last: Option<Vec<Route>> = None;
    let mut since_read = 0;
    loop {
        match run_cmd("gobgp", &["--target", target, "-j", "global", "rib", "-a", "ipv4"])
            .and_then(|json| super::gobgp::best_learned(&json))
        {
            Ok(learned) => {
                let desired = parse_learned(&learned);
                since_read += 1;
                if last.as_ref() != Some(&desired) || since_read >= KERNEL_READ_EVERY {
                    since_read = 0;
                    match kernel_routes(&mut sock) {
                        Ok(installed) => {
                            let mut all_applied = true;
                            for op in diff(&desired, &installed) {
                                match apply(&mut sock, &op) {
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

    fn r(p: &str, via: &str) -> Route {
        (p.parse().unwrap(), via.parse().unwrap())
    }

    #[test]
    fn diff_removes_stale_routes_first_and_leaves_right_ones_alone() {
        let desired = [r("10.244.1.0/24", "192.169.10.1"), r("192.168.20.0/24", "192.169.10.1")];
        let installed = [r("192.168.20.0/24", "192.169.10.1"), r("192.168.120.0/24", "192.169.10.1")];
        assert_eq!(
            diff(&desired, &installed),
            vec![
                RouteOp::Delete { prefix: "192.168.120.0/24".parse().unwrap() },
                RouteOp::Replace { prefix: "10.244.1.0/24".parse().unwrap(), via: "192.169.10.1".parse().unwrap() },
            ]
        );
        assert!(diff(&desired, &desired).is_empty(), "a converged kernel gets no op");
        // A next-hop change is one replace, no delete.
        assert_eq!(
            diff(&[r("10.244.1.0/24", "192.169.30.1")], &[r("10.244.1.0/24", "192.169.10.1")]),
            vec![RouteOp::Replace { prefix: "10.244.1.0/24".parse().unwrap(), via: "192.169.30.1".parse().unwrap() }]
        );
    }

    #[test]
    fn learned_paths_are_parsed_and_bad_ones_left_out() {
        let learned = [
            ("192.168.20.0/24".to_string(), "192.169.10.1".to_string()),
            ("192.169.10.2/32".to_string(), "192.169.10.1".to_string()),
            ("not-a-prefix".to_string(), "192.169.10.1".to_string()),
            ("10.1.0.0/16".to_string(), "".to_string()),
        ];
        assert_eq!(
            parse_learned(&learned),
            vec![r("192.168.20.0/24", "192.169.10.1"), r("192.169.10.2/32", "192.169.10.1")]
        );
    }
}
