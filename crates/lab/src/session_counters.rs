//! How often each BGP session of an FRR came up and went down, from
//! `show bgp vrf all neighbors json`: a session that reset in between shows a higher
//! `connectionsDropped` (and `connectionsEstablished` once it is back), whatever its state now.

use std::collections::BTreeMap;

use serde_json::Value;

/// One session's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Times the session reached Established.
    pub established: u64,
    /// Times an Established session was dropped.
    pub dropped: u64,
}

/// Every neighbor's counters, keyed `"<vrf> <peer>"`.
pub type SessionCounters = BTreeMap<String, Counters>;

/// Reads the counters of every neighbor of every VRF.
pub async fn read(vtysh: &frr::Vtysh) -> Result<SessionCounters, String> {
    let value: Value = vtysh.json("show bgp vrf all neighbors json").await.map_err(|e| e.to_string())?;
    Ok(from_json(&value))
}

/// Reads the counters of several FRRs, each named (`who`) for messages.
pub async fn read_each(sides: &[(String, frr::Vtysh)]) -> Result<Vec<(String, SessionCounters)>, String> {
    let mut out = Vec::new();
    for (who, v) in sides {
        out.push((who.clone(), read(v).await.map_err(|e| format!("{who}: {e}"))?));
    }
    Ok(out)
}

/// [`resets`] of each FRR read twice by [`read_each`], each line prefixed with its FRR's name.
pub fn resets_each(before: &[(String, SessionCounters)], after: &[(String, SessionCounters)]) -> Vec<String> {
    before
        .iter()
        .zip(after)
        .flat_map(|((who, b), (_, a))| resets(b, a).into_iter().map(move |r| format!("{who}: {r}")))
        .collect()
}

/// The counters in `show bgp vrf all neighbors json` (a VRF's object holds `vrfId` and `vrfName`
/// beside one object per neighbor).
pub fn from_json(value: &Value) -> SessionCounters {
    let mut out = SessionCounters::new();
    let Some(vrfs) = value.as_object() else { return out };
    for (vrf, peers) in vrfs {
        let Some(peers) = peers.as_object() else { continue };
        for (peer, p) in peers {
            let (Some(established), Some(dropped)) = (
                p.get("connectionsEstablished").and_then(Value::as_u64),
                p.get("connectionsDropped").and_then(Value::as_u64),
            ) else {
                continue;
            };
            out.insert(format!("{vrf} {peer}"), Counters { established, dropped });
        }
    }
    out
}

/// The sessions that reset between `before` and `after` (counters changed, or the neighbor
/// vanished), described; empty when none did.
pub fn resets(before: &SessionCounters, after: &SessionCounters) -> Vec<String> {
    before
        .iter()
        .filter_map(|(name, b)| match after.get(name) {
            None => Some(format!("{name}: gone")),
            Some(a) if a != b => Some(format!(
                "{name}: established {} -> {}, dropped {} -> {}",
                b.established, a.established, b.dropped, a.dropped
            )),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_per_vrf_and_peer_and_their_changes() {
        let v: Value = serde_json::json!({
            "default": {"vrfId": 0, "vrfName": "default",
                "192.168.11.2": {"bgpState": "Established", "connectionsEstablished": 1, "connectionsDropped": 0}},
            "red": {"vrfId": 5, "vrfName": "red",
                "192.169.10.2": {"bgpState": "Active", "connectionsEstablished": 2, "connectionsDropped": 2}}
        });
        let before = from_json(&v);
        assert_eq!(before.len(), 2);
        assert_eq!(before["default 192.168.11.2"], Counters { established: 1, dropped: 0 });
        assert!(resets(&before, &before).is_empty());
        let mut after = before.clone();
        after.insert("default 192.168.11.2".into(), Counters { established: 2, dropped: 1 });
        after.remove("red 192.169.10.2");
        assert_eq!(
            resets(&before, &after),
            vec![
                "default 192.168.11.2: established 1 -> 2, dropped 0 -> 1".to_string(),
                "red 192.169.10.2: gone".into()
            ]
        );
    }
}
