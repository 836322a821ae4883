//! Reading a namespace's links, addresses, routes and neighbours into small owned values, for
//! callers that ask a question of the kernel rather than reconcile it (the lab's checks). The
//! datapath's observer scans link replies itself for the attributes its diff needs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::netlink::uapi::*;
use crate::netlink::{Msg, NlError, Socket, attrs, get_str, get_u32};

const RTA_MULTIPATH: u16 = 9;
const NDA_STATE_OFFSET: usize = 8;

/// A link as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`vrf`, `bridge`, `veth`, …), empty for a plain device.
    pub kind: String,
    /// Index of its master.
    pub master: Option<u32>,
    /// The routing table of a VRF.
    pub vrf_table: Option<u32>,
    /// MTU.
    pub mtu: u32,
    /// MAC address, when it has one of 6 bytes.
    pub mac: Option<[u8; 6]>,
}

/// A route as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// Destination prefix.
    pub destination: IpNet,
    /// Routing table id.
    pub table: u32,
    /// Next-hop addresses (one per path of a multipath route).
    pub gateways: Vec<IpAddr>,
    /// Who installed it (`rtm_protocol`: 2 kernel, 3 boot, 186 BGP, …).
    pub protocol: u8,
}

/// A neighbour (ARP / NDP) entry, or a bridge forwarding-database entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Interface index.
    pub index: u32,
    /// A bridge FDB entry (`bridge fdb`); then `ip` is the remote tunnel endpoint of a VXLAN port.
    pub fdb: bool,
    /// The neighbour's address.
    pub ip: Option<IpAddr>,
    /// Its link-layer address, when resolved.
    pub mac: Option<[u8; 6]>,
    /// `NUD_*` state bits.
    pub state: u16,
}

fn ip_of(p: &[u8]) -> Option<IpAddr> {
    match p.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(p);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

fn mac_of(p: &[u8]) -> Option<[u8; 6]> {
    p.try_into().ok()
}

/// One `RTM_NEWLINK` payload (after the netlink header) as a link dump reply carries it; `None`
/// when it is too short to be one.
pub fn parse_link(p: &[u8]) -> Option<LinkEntry> {
    let index = get_u32(p.get(4..8)?)?;
    let mut l =
        LinkEntry { index, name: String::new(), kind: String::new(), master: None, vrf_table: None, mtu: 0, mac: None };
    for (t, v) in attrs(p.get(16..)?) {
        match t {
            IFLA_IFNAME => l.name = get_str(v).to_string(),
            IFLA_MTU => l.mtu = get_u32(v).unwrap_or(0),
            IFLA_MASTER => l.master = get_u32(v).filter(|m| *m != 0),
            IFLA_ADDRESS => l.mac = mac_of(v),
            IFLA_LINKINFO => {
                for (it, iv) in attrs(v) {
                    match it {
                        IFLA_INFO_KIND => l.kind = get_str(iv).to_string(),
                        IFLA_INFO_DATA => {
                            l.vrf_table = attrs(iv).find(|(dt, _)| *dt == IFLA_VRF_TABLE).and_then(|(_, d)| get_u32(d));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if l.kind != "vrf" {
        l.vrf_table = None;
    }
    Some(l)
}

/// One `RTM_NEWADDR` payload: `(link index, address)`; `None` when it is not an address.
pub fn parse_address(p: &[u8]) -> Option<(u32, IpNet)> {
    let (prefix, index) = (*p.get(1)?, get_u32(p.get(4..8)?)?);
    let (mut local, mut address) = (None, None);
    for (t, v) in attrs(p.get(8..)?) {
        match t {
            IFA_LOCAL => local = ip_of(v),
            IFA_ADDRESS => address = ip_of(v),
            _ => {}
        }
    }
    IpNet::new(local.or(address)?, prefix).ok().map(|n| (index, n))
}

/// One `RTM_NEWROUTE` payload; `None` when it is too short or its destination is not a prefix.
pub fn parse_route(p: &[u8]) -> Option<RouteEntry> {
    let (family, dst_len, table8, protocol) = (*p.first()?, *p.get(1)?, *p.get(4)?, *p.get(5)?);
    let mut table = u32::from(table8);
    let mut dst = None;
    let mut gateways = Vec::new();
    for (t, v) in attrs(p.get(12..)?) {
        match t {
            RTA_DST => dst = ip_of(v),
            RTA_TABLE => table = get_u32(v).unwrap_or(table),
            RTA_GATEWAY => gateways.extend(ip_of(v)),
            RTA_MULTIPATH => {
                // A list of `struct rtnexthop` (8 bytes, length first), each followed by attributes.
                let mut rest = v;
                while rest.len() >= 8 {
                    let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
                    if len < 8 || len > rest.len() {
                        break;
                    }
                    gateways.extend(
                        attrs(&rest[8..len]).filter(|(at, _)| *at == RTA_GATEWAY).filter_map(|(_, a)| ip_of(a)),
                    );
                    rest = &rest[((len + 3) & !3).min(rest.len())..];
                }
            }
            _ => {}
        }
    }
    let unspecified =
        if family == AF_INET6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    let destination = IpNet::new(dst.unwrap_or(unspecified), dst_len).ok()?;
    Some(RouteEntry { destination, table, gateways, protocol })
}

/// One `RTM_NEWNEIGH` payload (a neighbour, or a bridge FDB entry); `None` when too short.
pub fn parse_neighbour(p: &[u8]) -> Option<Neighbour> {
    let fdb = *p.first()? == AF_BRIDGE;
    let index = get_u32(p.get(4..8)?)?;
    let state = u16::from_ne_bytes(p.get(NDA_STATE_OFFSET..NDA_STATE_OFFSET + 2)?.try_into().ok()?);
    let (mut ip, mut mac) = (None, None);
    for (t, v) in attrs(p.get(12..)?) {
        match t {
            NDA_DST => ip = ip_of(v),
            NDA_LLADDR => mac = mac_of(v),
            _ => {}
        }
    }
    Some(Neighbour { index, fdb, ip, mac, state })
}

impl Socket {
    /// Every link of the socket's namespace.
    pub fn links(&mut self) -> Result<Vec<LinkEntry>, NlError> {
        let mut out = Vec::new();
        let build = || {
            let mut m = Msg::new(RTM_GETLINK, NLM_F_DUMP);
            m.ifinfomsg(AF_UNSPEC, 0, 0, 0).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            m
        };
        self.dump(build, &mut out, parse_link)?;
        Ok(out)
    }

    /// The index of the link named `name` (`None` when there is none).
    pub fn index_of(&mut self, name: &str) -> Result<Option<u32>, NlError> {
        match self.get(&mut crate::rtnl::get_link(name)) {
            Ok(p) => Ok(parse_link(&p).map(|l| l.index)),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every address: `(link index, address/prefix)`.
    pub fn addresses(&mut self) -> Result<Vec<(u32, IpNet)>, NlError> {
        let mut out = Vec::new();
        let build = || {
            let mut m = Msg::new(RTM_GETADDR, NLM_F_DUMP);
            m.ifaddrmsg(AF_UNSPEC, 0, 0);
            m
        };
        self.dump(build, &mut out, parse_address)?;
        Ok(out)
    }

    /// Every route of every table.
    pub fn routes(&mut self) -> Result<Vec<RouteEntry>, NlError> {
        let mut out = Vec::new();
        let build = || {
            let mut m = Msg::new(RTM_GETROUTE, NLM_F_DUMP);
            m.rtmsg(AF_UNSPEC, 0, 0, 0, 0, 0);
            m
        };
        self.dump(build, &mut out, parse_route)?;
        Ok(out)
    }

    /// Every neighbour entry (ARP and NDP), then every bridge FDB entry.
    pub fn neighbours(&mut self) -> Result<Vec<Neighbour>, NlError> {
        let mut all = Vec::new();
        for family in [AF_UNSPEC, AF_BRIDGE] {
            let mut out = Vec::new();
            let build = || {
                let mut m = Msg::new(RTM_GETNEIGH, NLM_F_DUMP);
                m.ndmsg(family);
                m
            };
            self.dump(build, &mut out, parse_neighbour)?;
            all.extend(out.into_iter().filter(|n| n.fdb == (family == AF_BRIDGE)));
        }
        Ok(all)
    }
}
