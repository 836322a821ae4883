//! What every scenario uses: the lab's names, its FRR instances and speakers, commands run in a
//! namespace, polling until a condition holds, pings and background probes.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use frr::state::{EvpnRouteKey, EvpnRouteType};

use crate::control::Lab;
use crate::pe;
use crate::speaker::Speaker;

pub(super) type Check = Result<String, String>;

/// Runs `ip netns exec NS ARGV…` (up to 30 s); `(success, stdout + stderr)`.
pub(super) async fn sh(ns: &str, argv: &[&str]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv).kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(30), cmd.output()).await {
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.success(), text)
        }
        Ok(Err(e)) => (false, format!("cannot run ip netns exec {ns}: {e}")),
        Err(_) => (false, format!("ip netns exec {ns} {argv:?} timed out")),
    }
}

/// Polls `f` every 500 ms until it succeeds or `timeout` passes (then its last error).
pub(super) async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> Check
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() >= timeout => return Err(format!("after {:.0} s: {e}", timeout.as_secs_f64())),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

pub(super) async fn ping(ns: &str, dst: &str) -> Check {
    let (ok, out) = sh(ns, &["ping", "-c1", "-W1", "-n", dst]).await;
    if ok { Ok(format!("{ns}→{dst}")) } else { Err(format!("ping {ns} → {dst} failed: {}", last_line(&out))) }
}

pub(super) fn last_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// Pings every `(namespace, destination)` until each answered once.
pub(super) async fn pings(pairs: &[(String, String)], timeout: Duration) -> Check {
    let mut done = Vec::new();
    for (ns, dst) in pairs {
        eventually(timeout, || ping(ns, dst)).await?;
        done.push(format!("{}→{dst}", ns.split_once('-').map_or(ns.as_str(), |(_, s)| s)));
    }
    Ok(format!("ping {}", done.join(", ")))
}

pub(super) struct Ctx<'a> {
    pub(super) lab: &'a Lab,
    pub(super) prefix: String,
    pub(super) nodes: u32,
}

impl Ctx<'_> {
    pub(super) fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    pub(super) fn pe_vtysh(&self, i: u32) -> frr::Vtysh {
        pe::pe_instance(&self.prefix, &self.lab.options.dir(), i).vtysh().with_timeout(Duration::from_secs(15))
    }

    pub(super) fn vtysh(&self, short: &str) -> Result<frr::Vtysh, String> {
        self.lab
            .instance(short)
            .map(|i| i.vtysh().with_timeout(Duration::from_secs(15)))
            .ok_or_else(|| format!("no FRR in {short}"))
    }

    pub(super) async fn established(&self, vtysh: &frr::Vtysh, who: &str, peers: &[String]) -> Check {
        let neighbors = frr::state::bgp_neighbors(vtysh).await.map_err(|e| format!("{who}: {e}"))?;
        for p in peers {
            match neighbors.iter().find(|n| &n.peer == p) {
                Some(n) if n.is_established() => {}
                Some(n) => return Err(format!("{who} → {p}: {}", n.state)),
                None => return Err(format!("{who} has no session with {p}")),
            }
        }
        Ok(String::new())
    }

    pub(super) async fn evpn_type5(
        &self,
        vtysh: &frr::Vtysh,
        who: &str,
    ) -> Result<Vec<(String, Vec<IpAddr>, Vec<u32>)>, String> {
        let routes =
            frr::state::evpn_routes(vtysh, Some(EvpnRouteType::Prefix)).await.map_err(|e| format!("{who}: {e}"))?;
        Ok(routes
            .into_iter()
            .filter_map(|r| match r.key {
                EvpnRouteKey::Prefix { prefix, .. } => Some((
                    prefix.to_string(),
                    r.paths.iter().flat_map(|p| p.next_hops.clone()).collect(),
                    r.paths.iter().flat_map(|p| p.vnis.clone()).collect(),
                )),
                _ => None,
            })
            .collect())
    }

    /// Node `i`'s host speaker (FRR, BIRD or GoBGP), for sessions and routes.
    pub(super) fn speaker(&self, i: u32) -> Speaker {
        self.lab.speaker(i)
    }

    pub(super) fn pairs(&self) -> Option<(u32, u32)> {
        (self.nodes >= 2).then_some((0, 1))
    }
}

pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// `(major, minor)` from `show version` ("FRRouting 8.4.4 (tor) on Linux…").
pub(super) fn frr_version(show_version: &str) -> Option<(u32, u32)> {
    let v = show_version.split_whitespace().skip_while(|w| *w != "FRRouting").nth(1)?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_versions_are_read_from_show_version() {
        assert_eq!(frr_version("FRRouting 8.4.4 (tor) on Linux(6.1.0).\nCopyright"), Some((8, 4)));
        assert_eq!(frr_version("FRRouting 10.6.0-dev (x) on Linux"), Some((10, 6)));
        assert_eq!(frr_version("something else"), None);
        assert!(frr_version("FRRouting 10.3.1 (x)").is_some_and(|v| v >= (10, 3)));
        assert!(frr_version("FRRouting 9.1 (x)").is_some_and(|v| v < (10, 3)));
    }
}
