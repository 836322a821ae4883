//! What a namespace's kernel holds, read through the `kernel` crate as the product reads it
//! (never by parsing `ip`'s output), and the few changes the scenarios make to the fabric's own
//! namespaces. Each call opens a socket in the namespace and is over in milliseconds.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use kernel::rtnl::{self, AddrMode};
use kernel::{NetNs, RouteEntry, Socket};

fn socket(ns: &str) -> Result<Socket, String> {
    let handle = NetNs::open(ns).map_err(|e| e.to_string())?;
    handle.run(Socket::open).map_err(|e| e.to_string())?.map_err(|e| format!("{ns}: netlink: {e}"))
}

fn index(sock: &mut Socket, ns: &str, link: &str) -> Result<u32, String> {
    sock.index_of(link).map_err(|e| format!("{ns}: {e}"))?.ok_or_else(|| format!("{ns}: no link {link}"))
}

/// `name → ifindex` of the links in `ns` (empty when the namespace cannot be read).
pub(super) fn ifindexes(ns: &str) -> BTreeMap<String, u32> {
    let links = socket(ns).and_then(|mut s| s.links().map_err(|e| e.to_string()));
    links.map(|l| l.into_iter().map(|l| (l.name, l.index)).collect()).unwrap_or_default()
}

/// The routes of `vrf`'s table in `ns` (the main table when `None`).
pub(super) fn routes(ns: &str, vrf: Option<&str>) -> Result<Vec<RouteEntry>, String> {
    let mut sock = socket(ns)?;
    let table = match vrf {
        None => 254,
        Some(v) => {
            let links = sock.links().map_err(|e| format!("{ns}: {e}"))?;
            links.iter().find(|l| l.name == v).and_then(|l| l.vrf_table).ok_or_else(|| format!("{ns}: no VRF {v}"))?
        }
    };
    let all = sock.routes().map_err(|e| format!("{ns}: {e}"))?;
    Ok(all.into_iter().filter(|r| r.table == table).collect())
}

/// The next hops of the route to exactly `prefix` in `ns` (in `vrf` when given); `None` when
/// there is no such route.
pub(super) fn route_to(ns: &str, vrf: Option<&str>, prefix: &str) -> Result<Option<Vec<IpAddr>>, String> {
    let want: IpNet = prefix.parse().map_err(|e| format!("{prefix}: {e}"))?;
    Ok(routes(ns, vrf)?.into_iter().find(|r| r.destination == want).map(|r| r.gateways))
}

/// The MAC address `ns` resolved for `ip`.
pub(super) fn neighbour_mac(ns: &str, ip: IpAddr) -> Result<Option<String>, String> {
    let all = socket(ns)?.neighbours().map_err(|e| format!("{ns}: {e}"))?;
    Ok(all.iter().find(|n| !n.fdb && n.ip == Some(ip)).and_then(|n| n.mac).map(|m| mac_text(&m)))
}

/// The forwarding entries of the bridge port `dev` in `ns`: `(MAC, remote VTEP)`.
pub(super) fn fdb(ns: &str, dev: &str) -> Result<Vec<(String, Option<IpAddr>)>, String> {
    let mut sock = socket(ns)?;
    let idx = index(&mut sock, ns, dev)?;
    let all = sock.neighbours().map_err(|e| format!("{ns}: {e}"))?;
    Ok(all
        .into_iter()
        .filter(|n| n.fdb && n.index == idx)
        .map(|n| (n.mac.map(|m| mac_text(&m)).unwrap_or_default(), n.ip))
        .collect())
}

/// The addresses of `link` in `ns`.
pub(super) fn addresses(ns: &str, link: &str) -> Result<Vec<IpNet>, String> {
    let mut sock = socket(ns)?;
    let idx = index(&mut sock, ns, link)?;
    let all = sock.addresses().map_err(|e| format!("{ns}: {e}"))?;
    Ok(all.into_iter().filter(|(i, _)| *i == idx).map(|(_, a)| a).collect())
}

/// Adds `address` to `link` in `ns`.
pub(super) fn add_address(ns: &str, link: &str, address: &IpNet) -> Result<(), String> {
    let mut sock = socket(ns)?;
    let idx = index(&mut sock, ns, link)?;
    sock.request(&mut rtnl::add_address(idx, address, AddrMode::Create))
        .map_err(|e| format!("{ns}: add {address} to {link}: {e}"))
}

/// Removes `address` from `link` in `ns`.
pub(super) fn remove_address(ns: &str, link: &str, address: &IpNet) -> Result<(), String> {
    let mut sock = socket(ns)?;
    let idx = index(&mut sock, ns, link)?;
    sock.request(&mut rtnl::delete_address(idx, address))
        .map_err(|e| format!("{ns}: remove {address} from {link}: {e}"))
}

/// `aa:bb:cc:dd:ee:ff`, as `ip` prints a MAC address.
pub(super) fn mac_text(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The links in `ns`, with their kind and master.
pub(super) fn links(ns: &str) -> Result<Vec<kernel::LinkEntry>, String> {
    socket(ns)?.links().map_err(|e| format!("{ns}: {e}"))
}
