//! Per-node address derivation. Every value is a pure function of a CIDR and the node index,
//! so every node computes the same plan for its neighbours and two nodes never collide.
//!
//! * router id = host `index + 1` of `routerIDCIDR`;
//! * VTEP = host `index` of each tunnel-endpoint CIDR (node 0 gets the network address, as
//!   upstream does; the fabric must accept it);
//! * veth, router side = the first usable address of `localCIDR` (identical on every node),
//!   host side = router side + 1 + `index`, both with the pool's prefix length.
//!
//! Difference from upstream: upstream picks the router side by looking at the last byte of the
//! network address only, so a pool like `192.168.1.128/25` gave the router the network address
//! itself. Here the router side is always the first usable address (network + 1, or the network
//! address for /31, /32, /127 and /128 pools). For every pool whose network address ends in
//! `.0` (or IPv6 `::`) both rules give the same addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An address that does not fit its pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: node index {index} does not fit in {cidr} (needs host {offset}, the pool has {capacity})")]
pub struct OutOfRange {
    /// What was being derived.
    pub what: &'static str,
    /// The pool.
    pub cidr: IpNet,
    /// The node index.
    pub index: u32,
    /// The host offset needed.
    pub offset: u128,
    /// Number of addresses in the pool.
    pub capacity: u128,
}

fn size(net: &IpNet) -> u128 {
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits >= 128 { u128::MAX } else { 1u128 << host_bits }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(like: &IpNet, v: u128) -> IpAddr {
    match like {
        // Only called with offsets checked against the pool size, so the value fits 32 bits.
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(v as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// Host `offset` of `net` (network address + offset), checked to lie inside the pool.
pub fn host(net: &IpNet, offset: u128, what: &'static str, index: u32) -> Result<IpAddr, OutOfRange> {
    let capacity = size(net);
    if offset >= capacity {
        return Err(OutOfRange { what, cidr: *net, index, offset, capacity });
    }
    Ok(from_u128(net, to_u128(net.network()) + offset))
}

/// BGP router id of node `index`.
pub fn router_id(cidr: &Ipv4Net, index: u32) -> Result<Ipv4Addr, OutOfRange> {
    match host(&IpNet::V4(*cidr), u128::from(index) + 1, "router id", index)? {
        IpAddr::V4(v4) => Ok(v4),
        IpAddr::V6(_) => unreachable!("an IPv4 pool yields IPv4 addresses"),
    }
}

/// VTEP address of node `index` in a tunnel-endpoint CIDR.
pub fn vtep(cidr: &IpNet, index: u32) -> Result<IpAddr, OutOfRange> {
    host(cidr, u128::from(index), "tunnel endpoint", index)
}

/// The two ends of a host-session veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VethIps {
    /// Router side (same on every node).
    pub router: IpNet,
    /// Host side (per node).
    pub host: IpNet,
}

fn first_usable_offset(net: &IpNet) -> u128 {
    match net {
        IpNet::V4(n) if n.prefix_len() >= 31 => 0,
        IpNet::V6(n) if n.prefix_len() >= 127 => 0,
        _ => 1,
    }
}

fn last_usable_offset(net: &IpNet) -> u128 {
    let capacity = size(net);
    match net {
        // The IPv4 broadcast address is not usable on pools larger than /31.
        IpNet::V4(n) if n.prefix_len() < 31 => capacity - 2,
        _ => capacity.saturating_sub(1),
    }
}

/// Veth addresses of node `index` from a host-session pool.
pub fn veth_ips(cidr: &IpNet, index: u32) -> Result<VethIps, OutOfRange> {
    let net = cidr.trunc();
    let router_offset = first_usable_offset(&net);
    let host_offset = router_offset + 1 + u128::from(index);
    let capacity = size(&net);
    if host_offset > last_usable_offset(&net) {
        return Err(OutOfRange { what: "host session", cidr: net, index, offset: host_offset, capacity });
    }
    let router = host(&net, router_offset, "host session", index)?;
    let host_ip = host(&net, host_offset, "host session", index)?;
    let plen = net.prefix_len();
    // Prefix lengths come from a valid IpNet of the same family, so construction cannot fail.
    let mk = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => IpNet::V4(Ipv4Net::new_assert(v4, plen)),
        IpAddr::V6(v6) => IpNet::V6(Ipv6Net::new_assert(v6, plen)),
    };
    Ok(VethIps { router: mk(router), host: mk(host_ip) })
}

/// The single-address prefix (/32 or /128) of an address.
pub fn host_prefix(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// This node's SRv6 locator: `basePrefix` advanced by `index` blocks of its own size (a /48
/// base gives node 2 the second /48 after it). Fails when it would leave IPv6's address space.
pub fn srv6_locator(base: &Ipv6Net, index: u32) -> Result<Ipv6Net, String> {
    let base = base.trunc();
    let step = 128 - u32::from(base.prefix_len());
    let start = u128::from(base.network());
    let advanced = u128::from(index)
        .checked_shl(step)
        .filter(|_| step < 128)
        .and_then(|offset| start.checked_add(offset))
        .ok_or_else(|| format!("SRv6 locator: node index {index} does not fit after {base}"))?;
    Ipv6Net::new(Ipv6Addr::from(advanced), base.prefix_len()).map_err(|e| e.to_string())
}

/// This node's IS-IS NET: the system ID (the 6 bytes before the last byte) of `base_net`
/// plus `index`, with carry. `base_net` looks like `49.0001.0002.0003.0004.00`.
pub fn isis_net(base_net: &str, index: u32) -> Result<String, String> {
    let parts: Vec<&str> = base_net.split('.').collect();
    let bad = || format!("baseNet {base_net:?} must look like 49.0001.0002.0003.0004.00");
    if parts.len() != 6 {
        return Err(bad());
    }
    let hex: String = parts[2..5].concat();
    let system_id = u64::from_str_radix(&hex, 16).map_err(|_| bad())?;
    let id = system_id
        .checked_add(u64::from(index))
        .filter(|id| *id < 1 << 48)
        .ok_or_else(|| format!("baseNet {base_net:?}: node index {index} overflows the system ID"))?;
    let digits = format!("{id:012x}");
    Ok(format!("{}.{}.{}.{}.{}.{}", parts[0], parts[1], &digits[0..4], &digits[4..8], &digits[8..12], parts[5]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn srv6_locators_and_isis_nets_are_offset_by_the_node_index() {
        let base: Ipv6Net = "fd00:0:32::/48".parse().unwrap();
        assert_eq!(srv6_locator(&base, 0).unwrap().to_string(), "fd00:0:32::/48");
        assert_eq!(srv6_locator(&base, 2).unwrap().to_string(), "fd00:0:34::/48");
        assert!(srv6_locator(&"ffff:ffff:ffff::/48".parse().unwrap(), 1).is_err());
        assert_eq!(isis_net("49.0001.0002.0003.0004.00", 0).unwrap(), "49.0001.0002.0003.0004.00");
        assert_eq!(isis_net("49.0001.0002.0003.0004.00", 3).unwrap(), "49.0001.0002.0003.0007.00");
        assert_eq!(isis_net("49.0001.0002.0003.ffff.00", 1).unwrap(), "49.0001.0002.0004.0000.00");
        assert!(isis_net("49.0001.ffff.ffff.ffff.00", 1).is_err());
        assert!(isis_net("49.0001.0002.00", 1).is_err());
    }
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn upstream_examples() {
        assert_eq!(router_id(&"10.0.0.0/24".parse().unwrap(), 0).unwrap().to_string(), "10.0.0.1");
        assert_eq!(vtep(&net("100.65.0.0/24"), 0).unwrap().to_string(), "100.65.0.0");
        assert_eq!(vtep(&net("100.65.0.0/24"), 3).unwrap().to_string(), "100.65.0.3");
        let v = veth_ips(&net("192.169.10.0/24"), 0).unwrap();
        assert_eq!((v.router.to_string(), v.host.to_string()), ("192.169.10.1/24".into(), "192.169.10.2/24".into()));
        let v = veth_ips(&net("192.169.10.0/24"), 1).unwrap();
        assert_eq!(v.host.to_string(), "192.169.10.3/24");
        let v = veth_ips(&net("2001:db8::/64"), 0).unwrap();
        assert_eq!((v.router.to_string(), v.host.to_string()), ("2001:db8::1/64".into(), "2001:db8::2/64".into()));
    }

    #[test]
    fn non_zero_network_pool_uses_first_usable() {
        let v = veth_ips(&net("192.168.1.128/25"), 0).unwrap();
        assert_eq!(v.router.to_string(), "192.168.1.129/25");
        assert_eq!(v.host.to_string(), "192.168.1.130/25");
    }

    #[test]
    fn pool_exhaustion_is_an_error() {
        // /30: .1 router, .2 node 0; node 1 would be the broadcast address.
        assert!(veth_ips(&net("10.1.0.0/30"), 0).is_ok());
        let err = veth_ips(&net("10.1.0.0/30"), 1).unwrap_err();
        assert!(err.to_string().contains("node index 1"), "{err}");
        assert!(router_id(&"10.0.0.0/30".parse().unwrap(), 3).is_err());
        assert!(vtep(&net("100.65.0.0/30"), 4).is_err());
    }

    proptest! {
        #[test]
        fn distinct_nodes_never_share_addresses(a in 0u32..250, b in 0u32..250, plen in 16u8..=24) {
            prop_assume!(a != b);
            let pool = IpNet::V4(Ipv4Net::new("10.20.0.0".parse().unwrap(), plen).unwrap());
            let rid_pool: Ipv4Net = Ipv4Net::new("10.0.0.0".parse().unwrap(), plen).unwrap();
            prop_assert_ne!(router_id(&rid_pool, a).unwrap(), router_id(&rid_pool, b).unwrap());
            prop_assert_ne!(vtep(&pool, a).unwrap(), vtep(&pool, b).unwrap());
            let (va, vb) = (veth_ips(&pool, a).unwrap(), veth_ips(&pool, b).unwrap());
            prop_assert_ne!(va.host, vb.host);
            prop_assert_eq!(va.router, vb.router);
            prop_assert_ne!(va.host.addr(), va.router.addr());
        }

        #[test]
        fn results_stay_inside_the_pool(index in 0u32..100_000, plen in 8u8..=30, v6 in any::<bool>()) {
            let pool: IpNet = if v6 {
                IpNet::V6(Ipv6Net::new("fd00:10::".parse().unwrap(), plen + 96).unwrap())
            } else {
                IpNet::V4(Ipv4Net::new("172.16.0.0".parse().unwrap(), plen).unwrap())
            };
            if let Ok(ip) = vtep(&pool, index) {
                prop_assert!(pool.contains(&ip));
            }
            if let Ok(v) = veth_ips(&pool, index) {
                prop_assert!(pool.contains(&v.host.addr()) && pool.contains(&v.router.addr()));
                prop_assert_ne!(v.host.addr(), pool.network());
                if let IpNet::V4(p) = pool { prop_assert_ne!(v.host.addr(), IpAddr::V4(p.broadcast())); }
            }
            if let IpNet::V4(p) = pool
                && let Ok(rid) = router_id(&p, index) { prop_assert!(p.contains(&rid)); }
        }
    }
}
