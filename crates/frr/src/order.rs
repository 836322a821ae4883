//! The orders bgpd prints things in: neighbors and peer-groups, and interface names in natural
//! order.

use std::cmp::Ordering;

use crate::model::PeerTarget;

/// Order of neighbors (and peer-groups) in bgpd's output: peer-groups first,
/// by name (strcmp); then peers by `peer_cmp`: interface peers first (by
/// `if_cmp_name_func`, i.e. natural order: eth2 < eth10), then IPv4 addresses
/// numerically, then IPv6 addresses bytewise.
pub fn cmp_peers(a: &PeerTarget, b: &PeerTarget) -> Ordering {
    fn rank(t: &PeerTarget) -> u8 {
        match t {
            PeerTarget::ListenRange(_) => 0,
            PeerTarget::Interface(_) => 1,
            PeerTarget::Address(_) => 2,
        }
    }
    match (a, b) {
        (PeerTarget::ListenRange(_), PeerTarget::ListenRange(_)) => a.name().as_bytes().cmp(b.name().as_bytes()),
        (PeerTarget::Interface(x), PeerTarget::Interface(y)) => cmp_interface_names(x, y),
        (PeerTarget::Address(x), PeerTarget::Address(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// FRR's `if_cmp_name_func`: names are compared piecewise, the non-digit
/// parts as bytes and the digit runs as numbers.
pub fn cmp_interface_names(a: &str, b: &str) -> Ordering {
    let is_digit = |c: &u8| c.is_ascii_digit();
    let (mut p1, mut p2) = (a.as_bytes(), b.as_bytes());
    while !p1.is_empty() && !p2.is_empty() {
        let l1 = p1.iter().position(is_digit).unwrap_or(p1.len());
        let l2 = p2.iter().position(is_digit).unwrap_or(p2.len());
        if l1 != l2 {
            return p1.cmp(p2);
        }
        match p1[..l1].cmp(&p2[..l1]) {
            Ordering::Equal => {}
            other => return other,
        }
        p1 = &p1[l1..];
        p2 = &p2[l1..];
        match (p1.is_empty(), p2.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let d1 = p1.iter().position(|c| !c.is_ascii_digit()).unwrap_or(p1.len());
        let d2 = p2.iter().position(|c| !c.is_ascii_digit()).unwrap_or(p2.len());
        match digits_value(&p1[..d1]).cmp(&digits_value(&p2[..d2])) {
            Ordering::Equal => {}
            other => return other,
        }
        if d1 != d2 {
            // Same value, different spelling (foo-1 / foo-001).
            return p1.cmp(p2);
        }
        p1 = &p1[d1..];
        p2 = &p2[d2..];
    }
    match (p1.is_empty(), p2.is_empty()) {
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (true, true) => Ordering::Equal,
    }
}

/// The value of a run of ASCII digits, saturating like `strtol`.
fn digits_value(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |acc, d| acc.saturating_mul(10).saturating_add(i64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_sort_naturally() {
        let mut names = vec!["swp1", "eth10", "eth2", "eth1.100", "eth1", "e0", "eth-001", "eth-1"];
        names.sort_by(|a, b| cmp_interface_names(a, b));
        assert_eq!(names, vec!["e0", "eth-001", "eth-1", "eth1", "eth1.100", "eth2", "eth10", "swp1"]);
        assert_eq!(cmp_interface_names("eth1", "eth1"), Ordering::Equal);
        assert_eq!(cmp_interface_names("eth", "eth0"), Ordering::Less);
    }

    #[test]
    fn peers_sort_like_bgpd() {
        let mut peers = [
            PeerTarget::Address("fd00::1".parse().unwrap()),
            PeerTarget::Address("10.0.0.10".parse().unwrap()),
            PeerTarget::Interface("eth10".into()),
            PeerTarget::ListenRange("fd00:10::/64".parse().unwrap()),
            PeerTarget::Address("2001:db8::1".parse().unwrap()),
            PeerTarget::Address("10.0.0.9".parse().unwrap()),
            PeerTarget::Interface("eth2".into()),
            PeerTarget::ListenRange("192.168.10.0/24".parse().unwrap()),
        ];
        peers.sort_by(cmp_peers);
        let names: Vec<String> = peers.iter().map(PeerTarget::name).collect();
        assert_eq!(
            names,
            vec!["192.168.10.0/24", "fd00:10::/64", "eth2", "eth10", "10.0.0.9", "10.0.0.10", "2001:db8::1", "fd00::1"]
        );
    }
}
