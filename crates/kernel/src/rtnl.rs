//! Typed requests: each value says what to ask of the kernel, and [`message`](NewLink::message)
//! turns it into the one rtnetlink message that asks it. Callers (the datapath's ops, the lab's
//! fabric builder) never put attributes together by hand.

use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;

use crate::netlink::Msg;
use crate::netlink::uapi::*;

/// A link to create.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    /// Its name.
    pub name: &'a str,
    /// What it is.
    pub kind: LinkKind<'a>,
    /// MTU (the kernel's default when `None`).
    pub mtu: Option<u32>,
    /// MAC address (a random one when `None`).
    pub mac: Option<[u8; 6]>,
    /// Index of its master (a VRF or a bridge).
    pub master: Option<u32>,
    /// Created administratively up.
    pub up: bool,
}

/// The kinds of link we create.
#[derive(Debug, Clone)]
pub enum LinkKind<'a> {
    /// A Linux bridge.
    Bridge,
    /// A VRF with its routing table.
    Vrf {
        /// Routing table id.
        table: u32,
    },
    /// A VXLAN device.
    Vxlan(Vxlan),
    /// A veth pair.
    Veth {
        /// The peer's name.
        peer: &'a str,
        /// The peer's MTU.
        peer_mtu: Option<u32>,
        /// The namespace the peer is created in (this one when `None`).
        peer_netns: Option<RawFd>,
    },
}

/// The attributes of a VXLAN device we set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vxlan {
    /// VNI.
    pub vni: u32,
    /// Local tunnel endpoint.
    pub local: IpAddr,
    /// UDP destination port.
    pub port: u16,
    /// Source-MAC learning.
    pub learning: bool,
    /// Index of the underlay device, when bound to one.
    pub device: Option<u32>,
}

impl NewLink<'_> {
    /// A link of `kind`, down, with kernel defaults for everything else.
    pub fn new<'a>(name: &'a str, kind: LinkKind<'a>) -> NewLink<'a> {
        NewLink { name, kind, mtu: None, mac: None, master: None, up: false }
    }

    /// The `RTM_NEWLINK` request (fails with `EEXIST` when the name is taken).
    pub fn message(&self) -> Msg {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        let flags = if self.up { IFF_UP } else { 0 };
        m.ifinfomsg(AF_UNSPEC, 0, flags, flags).str(IFLA_IFNAME, self.name);
        if let Some(mtu) = self.mtu {
            m.u32(IFLA_MTU, mtu);
        }
        if let Some(mac) = self.mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(idx) = self.master {
            m.u32(IFLA_MASTER, idx);
        }
        m.begin(IFLA_LINKINFO);
        match &self.kind {
            LinkKind::Bridge => {
                m.str(IFLA_INFO_KIND, "bridge");
            }
            LinkKind::Vrf { table } => {
                m.str(IFLA_INFO_KIND, "vrf").begin(IFLA_INFO_DATA).u32(IFLA_VRF_TABLE, *table).end();
            }
            LinkKind::Vxlan(v) => {
                m.str(IFLA_INFO_KIND, "vxlan").begin(IFLA_INFO_DATA).u32(IFLA_VXLAN_ID, v.vni);
                match v.local {
                    IpAddr::V4(a) => m.attr(IFLA_VXLAN_LOCAL, &a.octets()),
                    IpAddr::V6(a) => m.attr(IFLA_VXLAN_LOCAL6, &a.octets()),
                };
                m.attr(IFLA_VXLAN_PORT, &v.port.to_be_bytes()).u8(IFLA_VXLAN_LEARNING, u8::from(v.learning));
                if let Some(d) = v.device {
                    m.u32(IFLA_VXLAN_LINK, d);
                }
                m.end();
            }
            LinkKind::Veth { peer, peer_mtu, peer_netns } => {
                m.str(IFLA_INFO_KIND, "veth").begin(IFLA_INFO_DATA).begin(VETH_INFO_PEER);
                m.ifinfomsg(AF_UNSPEC, 0, 0, 0).str(IFLA_IFNAME, peer);
                if let Some(mtu) = peer_mtu {
                    m.u32(IFLA_MTU, *mtu);
                }
                if let Some(fd) = peer_netns {
                    m.u32(IFLA_NET_NS_FD, *fd as u32);
                }
                m.end().end();
            }
        }
        m.end();
        m
    }
}

/// A link named or numbered.
#[derive(Debug, Clone, Copy)]
pub enum LinkRef<'a> {
    /// By name.
    Name(&'a str),
    /// By index.
    Index(u32),
}

/// One change to an existing link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSet {
    /// Administratively up or down.
    Up(bool),
    /// Enslave to the link of this index, or release (`None`).
    Master(Option<u32>),
    /// MTU.
    Mtu(u32),
    /// MAC address.
    Mac([u8; 6]),
    /// Link group.
    Group(u32),
    /// No IPv6 link-local address generation.
    AddrGenModeNone,
    /// Bridge-port options of an enslaved link.
    BridgePort {
        /// ARP/ND suppression.
        neigh_suppress: bool,
        /// Source-MAC learning.
        learning: bool,
    },
    /// Move to the namespace of this descriptor.
    Netns(RawFd),
}

/// The `RTM_NEWLINK` request that makes every change of `changes` to `link` at once.
pub fn set_link(link: LinkRef<'_>, changes: &[LinkSet]) -> Msg {
    let (mut flags, mut mask) = (0, 0);
    for c in changes {
        if let LinkSet::Up(up) = c {
            mask |= IFF_UP;
            flags = if *up { flags | IFF_UP } else { flags & !IFF_UP };
        }
    }
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
    match link {
        LinkRef::Name(name) => m.ifinfomsg(AF_UNSPEC, 0, flags, mask).str(IFLA_IFNAME, name),
        LinkRef::Index(i) => m.ifinfomsg(AF_UNSPEC, i as i32, flags, mask),
    };
    for c in changes {
        match c {
            LinkSet::Up(_) => {}
            LinkSet::Master(master) => {
                m.u32(IFLA_MASTER, master.unwrap_or(0));
            }
            LinkSet::Mtu(mtu) => {
                m.u32(IFLA_MTU, *mtu);
            }
            LinkSet::Mac(mac) => {
                m.attr(IFLA_ADDRESS, mac);
            }
            LinkSet::Group(g) => {
                m.u32(IFLA_GROUP, *g);
            }
            LinkSet::AddrGenModeNone => {
                m.begin(IFLA_AF_SPEC)
                    .begin(u16::from(AF_INET6))
                    .u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)
                    .end()
                    .end();
            }
            LinkSet::BridgePort { neigh_suppress, learning } => {
                m.begin(IFLA_LINKINFO)
                    .begin(IFLA_INFO_SLAVE_DATA)
                    .u8(IFLA_BRPORT_NEIGH_SUPPRESS, u8::from(*neigh_suppress))
                    .u8(IFLA_BRPORT_LEARNING, u8::from(*learning))
                    .end()
                    .end();
            }
            LinkSet::Netns(fd) => {
                m.u32(IFLA_NET_NS_FD, *fd as u32);
            }
        }
    }
    m
}

/// The `RTM_DELLINK` request for the link named `name`.
pub fn delete_link(name: &str) -> Msg {
    let mut m = Msg::new(RTM_DELLINK, NLM_F_ACK);
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0).str(IFLA_IFNAME, name);
    m
}

/// The `RTM_GETLINK` request for the link named `name` (answered with `ENODEV` when missing).
pub fn get_link(name: &str) -> Msg {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_ACK);
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0).str(IFLA_IFNAME, name).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    m
}

/// How an address is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrMode {
    /// Fails with `EEXIST` when present.
    Create,
    /// Replaces it by itself when present (the kernel announces it again).
    Replace,
}

/// The `RTM_NEWADDR` request adding `address` to the link of index `index` (IPv4 with its
/// broadcast address, as `ip address add … brd +` does).
pub fn add_address(index: u32, address: &IpNet, mode: AddrMode) -> Msg {
    let flags = match mode {
        AddrMode::Create => NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        AddrMode::Replace => NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
    };
    let mut m = Msg::new(RTM_NEWADDR, flags);
    address_body(&mut m, index, address, true);
    m
}

/// The `RTM_DELADDR` request removing `address` from the link of index `index`.
pub fn delete_address(index: u32, address: &IpNet) -> Msg {
    let mut m = Msg::new(RTM_DELADDR, NLM_F_ACK);
    address_body(&mut m, index, address, false);
    m
}

fn address_body(m: &mut Msg, index: u32, a: &IpNet, with_broadcast: bool) {
    match a {
        IpNet::V4(n) => {
            m.ifaddrmsg(AF_INET, n.prefix_len(), index)
                .attr(IFA_LOCAL, &n.addr().octets())
                .attr(IFA_ADDRESS, &n.addr().octets());
            if with_broadcast && n.prefix_len() < 31 {
                m.attr(IFA_BROADCAST, &n.broadcast().octets());
            }
        }
        IpNet::V6(n) => {
            m.ifaddrmsg(AF_INET6, n.prefix_len(), index).attr(IFA_ADDRESS, &n.addr().octets());
        }
    }
}

/// The `RTM_NEWROUTE` request adding a unicast route to `destination` via `gateway` in the main
/// table (fails with `EEXIST` when present).
pub fn add_route(destination: &IpNet, gateway: IpAddr) -> Msg {
    let mut m = route_message(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, destination, RTPROT_BOOT);
    gateway_attr(&mut m, gateway);
    m
}

/// The `RTM_NEWROUTE` request making the main table's route to `destination` go via `gateway`,
/// installed as `protocol`: added when missing, its next hop changed when present.
pub fn replace_route(destination: &IpNet, gateway: IpAddr, protocol: u8) -> Msg {
    let mut m = route_message(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, destination, protocol);
    gateway_attr(&mut m, gateway);
    m
}

/// The `RTM_DELROUTE` request removing the main table's route to `destination` that `protocol`
/// installed (a route of another protocol to the same prefix is left alone: `ESRCH`).
pub fn delete_route(destination: &IpNet, protocol: u8) -> Msg {
    route_message(RTM_DELROUTE, NLM_F_ACK, destination, protocol)
}

fn route_message(ty: u16, flags: u16, destination: &IpNet, protocol: u8) -> Msg {
    let family = if destination.addr().is_ipv4() { AF_INET } else { AF_INET6 };
    let mut m = Msg::new(ty, flags);
    m.rtmsg(family, destination.prefix_len(), RT_TABLE_MAIN, protocol, RT_SCOPE_UNIVERSE, RTN_UNICAST);
    if destination.prefix_len() > 0 {
        match destination.addr() {
            IpAddr::V4(a) => m.attr(RTA_DST, &a.octets()),
            IpAddr::V6(a) => m.attr(RTA_DST, &a.octets()),
        };
    }
    m
}

fn gateway_attr(m: &mut Msg, gateway: IpAddr) {
    match gateway {
        IpAddr::V4(a) => m.attr(RTA_GATEWAY, &a.octets()),
        IpAddr::V6(a) => m.attr(RTA_GATEWAY, &a.octets()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::{attrs, get_str, get_u32};

    fn body(m: &mut Msg, header: usize) -> Vec<u8> {
        m.bytes()[16 + header..].to_vec()
    }

    #[test]
    fn a_vxlan_request_carries_vni_port_learning_and_master() {
        let vx = Vxlan { vni: 100, local: "100.65.0.1".parse().unwrap(), port: 4789, learning: false, device: None };
        let mut link = NewLink::new("vni100", LinkKind::Vxlan(vx));
        link.master = Some(7);
        let mut m = link.message();
        let b = body(&mut m, 16);
        let top: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(get_str(&top[0].1), "vni100");
        assert!(top.iter().any(|(t, p)| *t == IFLA_MASTER && get_u32(p) == Some(7)));
        let info = &top.iter().find(|(t, _)| *t == IFLA_LINKINFO).unwrap().1;
        let data = attrs(info).find(|(t, _)| *t == IFLA_INFO_DATA).unwrap().1;
        let d: Vec<(u16, Vec<u8>)> = attrs(data).map(|(t, p)| (t, p.to_vec())).collect();
        assert!(d.contains(&(IFLA_VXLAN_ID, 100u32.to_ne_bytes().to_vec())));
        assert!(d.contains(&(IFLA_VXLAN_PORT, 4789u16.to_be_bytes().to_vec())));
        assert!(d.contains(&(IFLA_VXLAN_LEARNING, vec![0])));
        assert!(d.contains(&(IFLA_VXLAN_LOCAL, vec![100, 65, 0, 1])));
    }

    #[test]
    fn one_set_request_carries_every_change_and_the_up_flag() {
        let mut m = set_link(LinkRef::Index(9), &[LinkSet::Master(Some(3)), LinkSet::Up(true)]);
        let bytes = m.bytes().to_vec();
        let ifi = &bytes[16..32];
        assert_eq!(i32::from_ne_bytes(ifi[4..8].try_into().unwrap()), 9);
        assert_eq!(u32::from_ne_bytes(ifi[8..12].try_into().unwrap()), IFF_UP);
        assert_eq!(u32::from_ne_bytes(ifi[12..16].try_into().unwrap()), IFF_UP);
        let got: Vec<_> = attrs(&bytes[32..]).map(|(t, p)| (t, get_u32(p))).collect();
        assert_eq!(got, vec![(IFLA_MASTER, Some(3))]);
        let mut down = set_link(LinkRef::Name("x"), &[LinkSet::Up(false)]);
        let b = down.bytes();
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 0);
        assert_eq!(u32::from_ne_bytes(b[28..32].try_into().unwrap()), IFF_UP);
    }

    #[test]
    fn an_ipv4_address_gets_its_broadcast_but_not_on_a_slash_31() {
        let count = |net: &str| {
            let mut m = add_address(1, &net.parse().unwrap(), AddrMode::Create);
            attrs(&body(&mut m, 8)).filter(|(t, _)| *t == IFA_BROADCAST).count()
        };
        assert_eq!(count("10.0.0.1/24"), 1);
        assert_eq!(count("10.0.0.1/31"), 0);
        assert_eq!(count("fd00::1/64"), 0);
    }

    #[test]
    fn a_default_route_has_no_destination_attribute() {
        let mut m = add_route(&"0.0.0.0/0".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let got: Vec<u16> = attrs(&body(&mut m, 12)).map(|(t, _)| t).collect();
        assert_eq!(got, vec![RTA_GATEWAY]);
    }
}
