//! FRR's JSON state outputs (`show … json`), read by `frr::state`.

use frr::state;

/// Reads `data` with every JSON reader: each must answer an error or a value, never panic.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(neighbors) = state::parse_bgp_summary(&text) {
        let sessions = state::session_states(&neighbors);
        assert_eq!(sessions.len(), neighbors.len());
        for n in &neighbors {
            let _ = (n.is_established(), n.af("l2VpnEvpn"));
        }
    }
    let _ = state::parse_evpn_vnis(&text);
    if let Ok(routes) = state::parse_evpn_routes(&text) {
        for r in &routes {
            let _ = (r.key.route_type(), r.best());
        }
    }
    if let Ok(peers) = state::parse_bfd_peers(&text) {
        for p in &peers {
            let _ = p.is_up();
        }
    }
    let _ = state::parse_interfaces(&text);
}
