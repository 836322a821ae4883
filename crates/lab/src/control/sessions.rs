//! The lab's BGP sessions, and waiting until they are Established.

use std::time::{Duration, Instant};

use frr::state::BgpNeighbor;

use super::lab::*;
use crate::fabric::is_pe_peer;
use crate::speaker::SpeakerKind;

/// Waits until every session of the lab, PE sessions included, is Established.
pub async fn wait_pe_sessions(lab: &Lab, timeout: Duration) -> Result<Duration, LabError> {
    // The 6 fabric sessions, plus per node the ToR's session and three host-speaker sessions
    // (red, blue, passthrough).
    let expected = FABRIC_SESSIONS + 4 * lab.options.spec.nodes as usize;
    wait_sessions(lab, timeout, expected, |_| true).await
}

/// Sessions between fabric routers: spine 3 peers, leaves 1 each, the ToR 1 towards the spine.
pub(super) const FABRIC_SESSIONS: usize = 6;

/// Polls until at least `expected` sessions pass `include` and all of them are Established;
/// returns the time waited, or the sessions still pending when `timeout` runs out.
pub(super) async fn wait_sessions(
    lab: &Lab,
    timeout: Duration,
    expected: usize,
    include: impl Fn(&Session) -> bool,
) -> Result<Duration, LabError> {
    let start = Instant::now();
    loop {
        let (sessions, errors) = sessions(lab).await;
        let counted: Vec<&Session> = sessions.iter().filter(|s| include(s)).collect();
        let up = counted.iter().filter(|s| s.neighbor.is_established()).count();
        if errors.is_empty() && counted.len() >= expected && up == counted.len() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            let mut pending: Vec<String> = counted
                .iter()
                .filter(|s| !s.neighbor.is_established())
                .map(|s| format!("  {} → {}: {}", s.ns, s.neighbor.peer, s.neighbor.state))
                .collect();
            pending.extend(errors.into_iter().map(|e| format!("  {e}")));
            return Err(LabError::NotEstablished { waited: start.elapsed(), pending: pending.join("\n") });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One BGP session as seen from a lab namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Short name of the namespace.
    pub ns: String,
    /// The neighbor as FRR reports it.
    pub neighbor: BgpNeighbor,
    /// A session towards a node's PE router: expected down until a PE runs there.
    pub towards_pe: bool,
    /// The lab runs PEs: sessions towards them must be Established too.
    pub pe_running: bool,
}

impl Session {
    /// Down and not excused by a missing PE.
    pub fn unhealthy(&self) -> bool {
        !self.neighbor.is_established() && (!self.towards_pe || self.pe_running)
    }
}

/// Every BGP session of every FRR instance of the lab (an instance that does not answer is
/// reported in the error list).
pub async fn sessions(lab: &Lab) -> (Vec<Session>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let nodes = lab.options.spec.nodes;
    let queries = lab.instances().into_iter().map(|(short, inst)| async move {
        let vtysh = inst.vtysh().with_timeout(Duration::from_secs(10));
        (short, frr::state::bgp_neighbors(&vtysh).await.map_err(|e| e.to_string()))
    });
    let mut results = futures_util::future::join_all(queries).await;
    // Node speakers that are not FRR instances (BIRD, GoBGP).
    let others = (0..nodes).map(|i| lab.speaker(i)).filter(|s| s.kind != SpeakerKind::Frr);
    let others = others.map(|s| async move { (format!("node{}", s.index), s.neighbors().await) });
    results.extend(futures_util::future::join_all(others).await);
    for (short, result) in results {
        match result {
            Ok(neighbors) => out.extend(neighbors.into_iter().map(|n| Session {
                towards_pe: is_pe_peer(&lab.options.spec, &n.peer),
                pe_running: lab.with_pe,
                ns: short.clone(),
                neighbor: n,
            })),
            Err(e) => errors.push(format!("{short}: {e}")),
        }
    }
    (out, errors)
}

/// Waits until every fabric session (not towards a PE) is Established; returns the time waited.
pub async fn wait_established(lab: &Lab, timeout: Duration) -> Result<Duration, LabError> {
    wait_sessions(lab, timeout, FABRIC_SESSIONS, |s| !s.towards_pe).await
}
