//! What the kernel has: the links, addresses and sysctls of a namespace that the diff needs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::{BridgePort, MacAddr};
use kernel::netlink::uapi::*;
use kernel::netlink::{Msg, NlError, Socket, attrs, get_i32, get_str, get_u32};

/// FNV-1a: interface names are short and not attacker-chosen, so a simple fast hash beats
/// SipHash for the few lookups per link a diff makes.
#[derive(Default, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A hash map keyed by names, with [`Fnv`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;
/// A hash set of names, with [`Fnv`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<Fnv>>;

/// A VXLAN device's defining attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanState {
    /// VNI.
    pub vni: u32,
    /// Local VTEP address.
    pub local: Option<IpAddr>,
    /// UDP destination port.
    pub port: u16,
    /// MAC learning.
    pub learning: bool,
    /// Lower device index.
    pub device: Option<u32>,
}

/// One link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLink {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_INFO_KIND` (`bridge`, `vxlan`, `veth`, `vrf`, …); `None` for physical devices and `lo`.
    pub kind: Option<String>,
    /// `IFF_UP` and `IFF_LOOPBACK` of the `IFF_*` flags.
    pub flags: u32,
    /// MTU.
    pub mtu: u32,
    /// Hardware address, when it is an Ethernet one.
    pub mac: Option<MacAddr>,
    /// Master device index.
    pub master: Option<u32>,
    /// Link group.
    pub group: u32,
    /// `IFLA_LINK` (for a veth: the peer's index).
    pub link: Option<u32>,
    /// Namespace id (as seen from this namespace) of the `link` device, when it lives elsewhere.
    pub link_netnsid: Option<i32>,
    /// IPv6 `addr_gen_mode` (absent when IPv6 is off for the link).
    pub addr_gen_mode: Option<u8>,
    /// VXLAN attributes.
    pub vxlan: Option<VxlanState>,
    /// VRF table.
    pub vrf_table: Option<u32>,
    /// Bridge-port settings, when the link is a bridge port.
    pub bridge_port: Option<BridgePort>,
    /// Addresses, sorted (IPv6 link-local ones are left out).
    pub addresses: Vec<IpNet>,
}

impl ObservedLink {
    /// A link with only its index and name: down, MTU 0, no attributes, no addresses.
    pub fn new(index: u32, name: impl Into<String>) -> Self {
        ObservedLink {
            index,
            name: name.into(),
            kind: None,
            flags: 0,
            mtu: 0,
            mac: None,
            master: None,
            group: 0,
            link: None,
            link_netnsid: None,
            addr_gen_mode: None,
            vxlan: None,
            vrf_table: None,
            bridge_port: None,
            addresses: Vec::new(),
        }
    }

    /// Administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// The loopback device.
    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }

    /// Whether the kind is `kind`.
    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.as_deref() == Some(kind)
    }

    /// A short description of the kind for messages.
    pub fn kind_label(&self) -> &str {
        if self.is_loopback() { "loopback" } else { self.kind.as_deref().unwrap_or("device") }
    }
}

/// The observed state of one namespace.
#[derive(Debug, Clone, Default)]
pub struct NsState {
    /// Links in stable slots (lookups go straight to a slot).
    slots: Vec<Option<ObservedLink>>,
    free: Vec<usize>,
    /// Interface index → slot, in index order (iteration order).
    order: BTreeMap<u32, usize>,
    by_index: FastMap<u32, usize>,
    by_name: FastMap<String, usize>,
    /// Sysctl values by key (`None`: the sysctl does not exist).
    pub sysctls: BTreeMap<String, Option<String>>,
}

impl PartialEq for NsState {
    fn eq(&self, other: &NsState) -> bool {
        self.sysctls == other.sysctls && self.len() == other.len() && self.links().eq(other.links())
    }
}

impl Eq for NsState {}

impl NsState {
    /// Builds the state from links.
    pub fn from_links(links: Vec<ObservedLink>) -> NsState {
        let mut s = NsState::default();
        for l in links {
            s.upsert_link(l);
        }
        s
    }

    /// A namespace as `ip netns add` leaves it: only `lo`, down.
    pub fn fresh() -> NsState {
        NsState::from_links(vec![ObservedLink {
            flags: IFF_LOOPBACK,
            mtu: 65536,
            addr_gen_mode: Some(0),
            ..ObservedLink::new(1, "lo")
        }])
    }

    /// Links in index order.
    pub fn links(&self) -> impl Iterator<Item = &ObservedLink> {
        self.order.values().filter_map(|&slot| self.slots[slot].as_ref())
    }

    /// Number of links.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// No links at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// A link by name.
    pub fn link(&self, name: &str) -> Option<&ObservedLink> {
        self.by_name.get(name).and_then(|&slot| self.slots[slot].as_ref())
    }

    /// A link by index.
    pub fn by_index(&self, index: u32) -> Option<&ObservedLink> {
        self.by_index.get(&index).and_then(|&slot| self.slots[slot].as_ref())
    }

    /// The name of a link index.
    pub fn name_of(&self, index: u32) -> Option<&str> {
        self.by_index(index).map(|l| l.name.as_str())
    }

    fn take_slot(&mut self, index: u32) -> Option<ObservedLink> {
        let slot = self.by_index.remove(&index)?;
        self.order.remove(&index);
        let old = self.slots[slot].take()?;
        if self.by_name.get(&old.name) == Some(&slot) {
            self.by_name.remove(&old.name);
        }
        self.free.push(slot);
        Some(old)
    }

    /// Adds or replaces a link (keeping the addresses already known for its index).
    pub(crate) fn upsert_link(&mut self, mut l: ObservedLink) {
        if let Some(old) = self.take_slot(l.index)
            && l.addresses.is_empty()
        {
            l.addresses = old.addresses;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.by_name.insert(l.name.clone(), slot);
        self.by_index.insert(l.index, slot);
        self.order.insert(l.index, slot);
        self.slots[slot] = Some(l);
    }

    pub(crate) fn remove_link(&mut self, index: u32) {
        self.take_slot(index);
    }

    fn link_mut(&mut self, index: u32) -> Option<&mut ObservedLink> {
        let slot = *self.by_index.get(&index)?;
        self.slots[slot].as_mut()
    }

    pub(crate) fn add_address(&mut self, index: u32, net: IpNet) {
        if let Some(l) = self.link_mut(index)
            && let Err(pos) = l.addresses.binary_search(&net)
        {
            l.addresses.insert(pos, net);
        }
    }

    pub(crate) fn remove_address(&mut self, index: u32, net: IpNet) {
        if let Some(l) = self.link_mut(index)
            && let Ok(pos) = l.addresses.binary_search(&net)
        {
            l.addresses.remove(pos);
        }
    }

    /// Applies one rtnetlink notification (`RTM_NEWLINK`, `RTM_DELLINK`, `RTM_NEWADDR`,
    /// `RTM_DELADDR`); others are ignored.
    pub(crate) fn apply_event(&mut self, ty: u16, payload: &[u8]) {
        match ty {
            // Only the generic link messages: the bridge also announces its ports with
            // AF_BRIDGE messages that carry a different attribute set.
            RTM_NEWLINK | RTM_DELLINK if payload.first() != Some(&AF_UNSPEC) => {}
            RTM_NEWLINK => {
                if let Some(l) = parse_link(payload) {
                    self.upsert_link(l);
                }
            }
            RTM_DELLINK => {
                if let Some(index) = payload.get(4..8).and_then(get_i32).and_then(|i| u32::try_from(i).ok()) {
                    self.remove_link(index);
                }
            }
            RTM_NEWADDR => {
                if let Some((index, net)) = parse_addr(payload) {
                    self.add_address(index, net);
                }
            }
            RTM_DELADDR => {
                if let Some((index, net)) = parse_addr(payload) {
                    self.remove_address(index, net);
                }
            }
            _ => {}
        }
    }
}

/// The observed state of both namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The router namespace.
    pub router: NsState,
    /// The host namespace.
    pub host: NsState,
    /// The id the host namespace gives the router namespace (veth peers point across with it).
    pub router_id_in_host: Option<i32>,
    /// The id the router namespace gives the host namespace.
    pub host_id_in_router: Option<i32>,
}

impl Observed {
    /// The state of one side.
    pub fn side(&self, side: crate::Side) -> &NsState {
        match side {
            crate::Side::Router => &self.router,
            crate::Side::Host => &self.host,
        }
    }

    pub(crate) fn side_mut(&mut self, side: crate::Side) -> &mut NsState {
        match side {
            crate::Side::Router => &mut self.router,
            crate::Side::Host => &mut self.host,
        }
    }

    /// The namespace id under which `of` appears from `from`.
    pub fn peer_id(&self, from: crate::Side) -> Option<i32> {
        match from {
            crate::Side::Host => self.router_id_in_host,
            crate::Side::Router => self.host_id_in_router,
        }
    }
}

fn mac_of(p: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(p).ok().map(MacAddr)
}

fn ip_of(p: &[u8]) -> Option<IpAddr> {
    match p.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], p[3]))),
        16 => <[u8; 16]>::try_from(p).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// Parses one `RTM_NEWLINK` payload (after the netlink header); only the attributes the diff
/// needs are looked at. Public for the fuzz targets (`crates/fuzzing`).
pub fn parse_link(payload: &[u8]) -> Option<ObservedLink> {
    let hdr = payload.get(..16)?;
    let index = get_i32(&hdr[4..8])?;
    let flags = get_u32(&hdr[8..12])?;
    let mut l = ObservedLink {
        // Only what the diff looks at: carrier bits change on their own and would make two
        // observations of an unchanged namespace differ.
        flags: flags & (IFF_UP | IFF_LOOPBACK),
        ..ObservedLink::new(u32::try_from(index).ok()?, String::new())
    };
    for (ty, p) in attrs(&payload[16..]) {
        match ty {
            IFLA_IFNAME => l.name = get_str(p).to_string(),
            IFLA_MTU => l.mtu = get_u32(p).unwrap_or(0),
            IFLA_ADDRESS => l.mac = mac_of(p),
            IFLA_MASTER => l.master = get_u32(p).filter(|&m| m != 0),
            IFLA_GROUP => l.group = get_u32(p).unwrap_or(0),
            IFLA_LINK => l.link = get_u32(p),
            IFLA_LINK_NETNSID => l.link_netnsid = get_i32(p),
            IFLA_LINKINFO => parse_linkinfo(p, &mut l),
            IFLA_AF_SPEC => {
                for (fam, inner) in attrs(p) {
                    if fam == u16::from(AF_INET6) {
                        for (t, v) in attrs(inner) {
                            if t == IFLA_INET6_ADDR_GEN_MODE {
                                l.addr_gen_mode = v.first().copied();
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some(l)
}

fn parse_linkinfo(p: &[u8], l: &mut ObservedLink) {
    let mut data = None;
    let mut slave_kind = None;
    let mut slave_data = None;
    for (ty, v) in attrs(p) {
        match ty {
            IFLA_INFO_KIND => l.kind = Some(get_str(v).to_string()),
            IFLA_INFO_DATA => data = Some(v),
            IFLA_INFO_SLAVE_KIND => slave_kind = Some(get_str(v)),
            IFLA_INFO_SLAVE_DATA => slave_data = Some(v),
            _ => {}
        }
    }
    match (l.kind.as_deref(), data) {
        (Some("vxlan"), Some(d)) => {
            let mut x = VxlanState { vni: 0, local: None, port: 0, learning: true, device: None };
            for (ty, v) in attrs(d) {
                match ty {
                    IFLA_VXLAN_ID => x.vni = get_u32(v).unwrap_or(0),
                    IFLA_VXLAN_LOCAL | IFLA_VXLAN_LOCAL6 => x.local = ip_of(v),
                    IFLA_VXLAN_PORT => x.port = v.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])).unwrap_or(0),
                    IFLA_VXLAN_LEARNING => x.learning = v.first().copied().unwrap_or(1) != 0,
                    IFLA_VXLAN_LINK => x.device = get_u32(v).filter(|&d| d != 0),
                    _ => {}
                }
            }
            l.vxlan = Some(x);
        }
        (Some("vrf"), Some(d)) => {
            l.vrf_table = attrs(d).find(|(t, _)| *t == IFLA_VRF_TABLE).and_then(|(_, v)| get_u32(v));
        }
        _ => {}
    }
    if let (Some("bridge"), Some(d)) = (slave_kind, slave_data) {
        let mut bp = BridgePort { neigh_suppress: false, learning: true };
        for (ty, v) in attrs(d) {
            match ty {
                IFLA_BRPORT_NEIGH_SUPPRESS => bp.neigh_suppress = v.first().copied().unwrap_or(0) != 0,
                IFLA_BRPORT_LEARNING => bp.learning = v.first().copied().unwrap_or(1) != 0,
                _ => {}
            }
        }
        l.bridge_port = Some(bp);
    }
}

/// Parses one `RTM_NEWADDR` payload into `(link index, address)`. Public for the fuzz targets.
pub fn parse_addr(payload: &[u8]) -> Option<(u32, IpNet)> {
    let hdr = payload.get(..8)?;
    let family = hdr[0];
    let prefix = hdr[1];
    let index = get_u32(&hdr[4..8])?;
    let mut address = None;
    let mut local = None;
    for (ty, p) in attrs(&payload[8..]) {
        match ty {
            IFA_ADDRESS => address = ip_of(p),
            IFA_LOCAL => local = ip_of(p),
            _ => {}
        }
    }
    // The interface's own address is IFA_LOCAL when present (IFA_ADDRESS is then the peer of a
    // point-to-point link); IPv6 usually sends only IFA_ADDRESS.
    let ip = local.or(address)?;
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    // IPv6 link-local addresses belong to the kernel (it adds and removes them as links go
    // up and down); nothing we do depends on them, so they are not observed at all.
    IpNet::new(ip, prefix).ok().filter(|n| !is_link_local(n)).map(|n| (index, n))
}

fn link_dump_request() -> Msg {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_DUMP);
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    m
}

fn addr_dump_request() -> Msg {
    let mut m = Msg::new(RTM_GETADDR, NLM_F_DUMP);
    m.ifaddrmsg(AF_UNSPEC, 0, 0);
    m
}

/// The addresses of the link with index `index`.
pub(crate) fn addresses_of(sock: &mut Socket, index: u32) -> Result<Vec<IpNet>, NlError> {
    let mut addrs: Vec<(u32, IpNet)> = Vec::new();
    sock.dump(addr_dump_request, &mut addrs, parse_addr)?;
    Ok(addrs.into_iter().filter(|(i, _)| *i == index).map(|(_, a)| a).collect())
}

/// Dumps links and addresses of the socket's namespace.
pub(crate) fn observe_ns(sock: &mut Socket) -> Result<NsState, NlError> {
    let mut links = Vec::new();
    sock.dump(link_dump_request, &mut links, parse_link)?;
    let mut state = NsState::from_links(links);
    let mut addrs: Vec<(u32, IpNet)> = Vec::new();
    sock.dump(addr_dump_request, &mut addrs, parse_addr)?;
    for (index, net) in addrs {
        state.add_address(index, net);
    }
    Ok(state)
}

/// The id under which the namespace `fd` is known in the socket's namespace (`None`: none
/// assigned, which also means no link there points to it).
pub(crate) fn nsid_of(sock: &mut Socket, fd: i32) -> Result<Option<i32>, NlError> {
    let mut m = Msg::new(RTM_GETNSID, NLM_F_ACK);
    m.raw(&[AF_UNSPEC]).u32(NETNSA_FD, fd as u32);
    let reply = sock.get(&mut m)?;
    let id = reply.get(4..).and_then(|a| attrs(a).find(|(t, _)| *t == NETNSA_NSID).and_then(|(_, v)| get_i32(v)));
    Ok(id.filter(|&i| i >= 0))
}

/// One link by name (`None` when it does not exist).
pub(crate) fn get_link(sock: &mut Socket, name: &str) -> Result<Option<ObservedLink>, NlError> {
    let mut m = Msg::new(RTM_GETLINK, NLM_F_ACK);
    m.ifinfomsg(AF_UNSPEC, 0, 0, 0).str(IFLA_IFNAME, name).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    match sock.get(&mut m) {
        Ok(p) => Ok(parse_link(&p)),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether an address is one the kernel manages by itself (IPv6 link-local).
pub fn is_link_local(n: &IpNet) -> bool {
    match n.addr() {
        IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Whether an address is the loopback's own (`127.0.0.0/8`, `::1`).
pub(crate) fn is_loopback_addr(n: &IpNet) -> bool {
    n.addr().is_loopback()
}
