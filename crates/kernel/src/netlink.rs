//! A small synchronous rtnetlink client: one `NETLINK_ROUTE` socket, requests built by hand,
//! replies read as borrowed byte slices.
//!
//! Why not `rtnetlink` / `netlink-packet-route`: reconciling is a sequential, one-shot transaction
//! (no async needed), and observing a namespace with thousands of links must cost a few
//! milliseconds, which rules out parsing every attribute of every link into owned values. The
//! handful of message shapes we need (link, address and nsid messages) are written here against
//! the kernel's uapi headers; the constants below carry the uapi names.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Kernel uapi constants (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_link.h`,
/// `linux/if_addr.h`, `linux/net_namespace.h`).
#[allow(dead_code, missing_docs)]
pub mod uapi {
    pub const NLMSG_HDRLEN: usize = 16;
    pub const NLMSG_ERROR: u16 = 2;
    pub const NLMSG_DONE: u16 = 3;

    pub const NLM_F_REQUEST: u16 = 0x1;
    pub const NLM_F_ACK: u16 = 0x4;
    pub const NLM_F_DUMP_INTR: u16 = 0x10;
    pub const NLM_F_DUMP: u16 = 0x300;
    pub const NLM_F_EXCL: u16 = 0x200;
    pub const NLM_F_REPLACE: u16 = 0x100;
    pub const NLM_F_CREATE: u16 = 0x400;
    /// In an error message: the echoed request was capped to its header.
    pub const NLM_F_CAPPED: u16 = 0x100;
    /// In an error message: extended-ack TLVs follow.
    pub const NLM_F_ACK_TLVS: u16 = 0x200;
    pub const NLMSGERR_ATTR_MSG: u16 = 1;

    pub const SOL_NETLINK: i32 = 270;
    pub const NETLINK_CAP_ACK: i32 = 10;
    pub const NETLINK_EXT_ACK: i32 = 11;
    pub const NETLINK_GET_STRICT_CHK: i32 = 12;

    pub const RTM_NEWLINK: u16 = 16;
    pub const RTM_DELLINK: u16 = 17;
    pub const RTM_GETLINK: u16 = 18;
    pub const RTM_NEWADDR: u16 = 20;
    pub const RTM_DELADDR: u16 = 21;
    pub const RTM_GETADDR: u16 = 22;
    pub const RTM_NEWROUTE: u16 = 24;
    pub const RTM_DELROUTE: u16 = 25;
    pub const RTM_GETROUTE: u16 = 26;
    pub const RTM_GETNEIGH: u16 = 30;
    pub const RTM_NEWNSID: u16 = 88;
    pub const RTM_GETNSID: u16 = 90;

    pub const RTMGRP_LINK: u32 = 0x1;
    pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    pub const RTMGRP_IPV6_IFADDR: u32 = 0x100;

    pub const NLA_F_NESTED: u16 = 0x8000;
    pub const NLA_TYPE_MASK: u16 = 0x3fff;

    pub const IFLA_ADDRESS: u16 = 1;
    pub const IFLA_IFNAME: u16 = 3;
    pub const IFLA_MTU: u16 = 4;
    pub const IFLA_LINK: u16 = 5;
    pub const IFLA_MASTER: u16 = 10;
    pub const IFLA_LINKINFO: u16 = 18;
    pub const IFLA_AF_SPEC: u16 = 26;
    pub const IFLA_GROUP: u16 = 27;
    pub const IFLA_NET_NS_FD: u16 = 28;
    pub const IFLA_EXT_MASK: u16 = 29;
    pub const IFLA_LINK_NETNSID: u16 = 37;

    pub const IFLA_INFO_KIND: u16 = 1;
    pub const IFLA_INFO_DATA: u16 = 2;
    pub const IFLA_INFO_SLAVE_KIND: u16 = 4;
    pub const IFLA_INFO_SLAVE_DATA: u16 = 5;

    pub const IFLA_VXLAN_ID: u16 = 1;
    pub const IFLA_VXLAN_LINK: u16 = 3;
    pub const IFLA_VXLAN_LOCAL: u16 = 4;
    pub const IFLA_VXLAN_LEARNING: u16 = 7;
    pub const IFLA_VXLAN_PORT: u16 = 15;
    pub const IFLA_VXLAN_LOCAL6: u16 = 17;

    pub const VETH_INFO_PEER: u16 = 1;
    pub const IFLA_VRF_TABLE: u16 = 1;

    pub const IFLA_BRPORT_LEARNING: u16 = 8;
    pub const IFLA_BRPORT_NEIGH_SUPPRESS: u16 = 32;

    pub const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
    pub const IN6_ADDR_GEN_MODE_NONE: u8 = 1;

    pub const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

    pub const IFA_ADDRESS: u16 = 1;
    pub const IFA_LOCAL: u16 = 2;
    pub const IFA_BROADCAST: u16 = 4;
    pub const IFA_FLAGS: u16 = 8;

    pub const RTA_DST: u16 = 1;
    pub const RTA_OIF: u16 = 4;
    pub const RTA_GATEWAY: u16 = 5;
    pub const RTA_TABLE: u16 = 15;
    pub const RT_TABLE_MAIN: u8 = 254;
    pub const RTPROT_BOOT: u8 = 3;
    pub const RTPROT_BGP: u8 = 186;
    pub const RT_SCOPE_UNIVERSE: u8 = 0;
    pub const RTN_UNICAST: u8 = 1;

    pub const NDA_DST: u16 = 1;
    pub const NDA_LLADDR: u16 = 2;

    pub const NETNSA_NSID: u16 = 1;
    pub const NETNSA_FD: u16 = 3;

    pub const AF_UNSPEC: u8 = 0;
    pub const AF_INET: u8 = 2;
    pub const AF_BRIDGE: u8 = 7;
    pub const AF_INET6: u8 = 10;

    pub const IFF_UP: u32 = 0x1;
    pub const IFF_LOOPBACK: u32 = 0x8;
}

use uapi::*;

/// An error the kernel answered a request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno.
    pub errno: i32,
    /// The kernel's extended-ack message, when it gave one.
    pub message: Option<String>,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.errno))?;
        if let Some(m) = &self.message {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for KernelError {}

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The kernel refused the request.
    #[error("{0}")]
    Kernel(#[from] KernelError),
    /// The socket itself failed.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel's reply did not parse.
    #[error("malformed netlink reply: {0}")]
    Malformed(&'static str),
}

impl NlError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Kernel(k) => Some(k.errno),
            _ => None,
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A request under construction: header, fixed family header, attributes.
pub struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in `finish`
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence, set in `finish`
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        Msg { buf, nests: Vec::new() }
    }

    /// Appends raw bytes padded to 4 (a family header such as `ifinfomsg`).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    /// `struct ifinfomsg`.
    pub fn ifinfomsg(&mut self, family: u8, index: i32, flags: u32, change: u32) -> &mut Self {
        let mut h = [0u8; 16];
        h[0] = family;
        h[4..8].copy_from_slice(&index.to_ne_bytes());
        h[8..12].copy_from_slice(&flags.to_ne_bytes());
        h[12..16].copy_from_slice(&change.to_ne_bytes());
        self.raw(&h)
    }

    /// `struct rtmsg`.
    pub fn rtmsg(&mut self, family: u8, dst_len: u8, table: u8, protocol: u8, scope: u8, kind: u8) -> &mut Self {
        self.raw(&[family, dst_len, 0, 0, table, protocol, scope, kind, 0, 0, 0, 0])
    }

    /// `struct ndmsg`.
    pub fn ndmsg(&mut self, family: u8) -> &mut Self {
        self.raw(&[family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// `struct ifaddrmsg`.
    pub fn ifaddrmsg(&mut self, family: u8, prefix_len: u8, index: u32) -> &mut Self {
        let mut h = [0u8; 8];
        h[0] = family;
        h[1] = prefix_len;
        h[4..8].copy_from_slice(&index.to_ne_bytes());
        self.raw(&h)
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        // Attribute payloads we build are tiny; a length that does not fit u16 is a bug here.
        let len16 = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.attr(ty, &[v])
    }

    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v)
    }

    /// Opens a nested attribute; close it with [`Msg::end`]. Like iproute2, without
    /// `NLA_F_NESTED`: rtnetlink parses these attributes leniently, and some (the veth peer)
    /// are not nested by policy.
    pub fn begin(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Self {
        if let Some(start) = self.nests.pop() {
            let len = u16::try_from(self.buf.len() - start).unwrap_or(u16::MAX);
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }

    /// The finished message (tests look inside requests).
    #[cfg(test)]
    pub(crate) fn bytes(&mut self) -> &[u8] {
        self.finish(0)
    }

    fn is_write(&self) -> bool {
        let ty = u16::from_ne_bytes([self.buf[4], self.buf[5]]);
        matches!(ty, RTM_NEWLINK | RTM_DELLINK | RTM_NEWADDR | RTM_DELADDR | RTM_NEWROUTE | RTM_DELROUTE)
    }
}

/// Iterates the attributes of a buffer: `(type without flags, payload)`. Stops at the first
/// malformed attribute.
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let ty = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let payload = &rest[4..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, payload))
    })
}

pub fn get_u32(p: &[u8]) -> Option<u32> {
    p.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn get_i32(p: &[u8]) -> Option<i32> {
    p.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn get_str(p: &[u8]) -> &str {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    std::str::from_utf8(&p[..end]).unwrap_or("")
}

/// One netlink message of a buffer received from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`: the request it answers (0 for notifications).
    pub seq: u32,
    /// What follows the header, up to the message's length.
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// Reads an `NLMSG_ERROR` message: `Ok` for an acknowledgement, otherwise the kernel's
    /// error with its extended-ack text, if any.
    pub fn ack(&self) -> Result<(), NlError> {
        let code = get_i32(self.payload).ok_or(NlError::Malformed("error code"))?;
        if code == 0 {
            return Ok(());
        }
        // The kernel sends a negative errno; `i32::MIN` has no positive twin.
        let errno = code.checked_neg().ok_or(NlError::Malformed("error code"))?;
        Err(KernelError { errno, message: ext_ack_message(self.flags, self.payload) }.into())
    }
}

/// The messages of a buffer as one `recv` returned it, in order. A header whose length does
/// not fit the buffer ends the iteration with [`NlError::Malformed`]: the kernel never sends
/// one, and nothing after it can be framed.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, NlError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let b = rest;
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            rest = &[];
            return Some(Err(NlError::Malformed("message length")));
        }
        rest = &b[align4(len).min(b.len())..];
        Some(Ok(Message {
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            payload: &b[NLMSG_HDRLEN..len],
        }))
    })
}

/// A `NETLINK_ROUTE` socket, bound to the network namespace of the thread that opened it.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
    /// Mutating requests sent so far (links, addresses and routes).
    pub writes: u64,
}

const RECV_BUF: usize = 64 * 1024;
/// Receive buffer of a notification socket.
const EVENT_BUF: libc::c_int = 8 << 20;

impl Socket {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Socket> {
        Self::open_with_groups(0)
    }

    /// Opens a socket subscribed to link and address notifications, with a large receive
    /// buffer (an overrun is reported by [`Socket::drain`] and means: observe from scratch).
    pub fn open_events() -> io::Result<Socket> {
        let sock = Self::open_with_groups(RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)?;
        let size: libc::c_int = EVENT_BUF;
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: setsockopt with a pointer to a live c_int and its size.
            let rc = unsafe {
                libc::setsockopt(
                    sock.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
        Ok(sock)
    }

    /// Reads every queued notification without blocking: `on_msg(type, payload)`. Fails with
    /// `ENOBUFS` when notifications were lost.
    pub fn drain(&mut self, mut on_msg: impl FnMut(u16, &[u8])) -> Result<(), NlError> {
        loop {
            // SAFETY: `self.buf` is a live, writable buffer of the given length.
            let n = unsafe {
                libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e.into()),
                }
            }
            for msg in messages(&self.buf[..n as usize]) {
                let msg = msg?;
                on_msg(msg.ty, msg.payload);
            }
        }
    }

    fn open_with_groups(groups: u32) -> io::Result<Socket> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; all-zero is a valid value (kernel assigns the port).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr.nl_groups = groups;
        // SAFETY: `addr` is a valid sockaddr_nl and the length matches it.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        for opt in [NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK] {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a pointer to a live c_int and its size. Failure is tolerated
            // (older kernels): these options only improve error messages and dump filtering.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Socket { fd, seq: 0, buf: vec![0u8; RECV_BUF], writes: 0 })
    }

    fn send(&mut self, msg: &mut Msg) -> io::Result<u32> {
        if msg.is_write() {
            self.writes += 1;
        }
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        loop {
            // SAFETY: `bytes` is a valid slice for the duration of the call.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0) };
            if n >= 0 {
                return Ok(seq);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            // SAFETY: `self.buf` is a live, writable buffer of the given length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Sends a request and reads replies until the kernel's answer for it. `on_msg` sees every
    /// data message `(type, flags, payload)` of the reply. Returns whether a dump was
    /// interrupted by a concurrent change (the caller retries).
    fn exchange(&mut self, msg: &mut Msg, mut on_msg: impl FnMut(u16, &[u8])) -> Result<bool, NlError> {
        let seq = self.send(msg)?;
        let mut interrupted = false;
        loop {
            let n = self.recv()?;
            for msg in messages(&self.buf[..n]) {
                let msg = msg?;
                if msg.seq != seq {
                    continue; // a late answer to an earlier request
                }
                if msg.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match msg.ty {
                    NLMSG_DONE => return Ok(interrupted),
                    NLMSG_ERROR => return msg.ack().map(|()| interrupted),
                    _ => on_msg(msg.ty, msg.payload),
                }
            }
        }
    }

    /// Sends a request that the kernel acknowledges (writes).
    pub fn request(&mut self, msg: &mut Msg) -> Result<(), NlError> {
        self.exchange(msg, |_, _| {}).map(drop)
    }

    /// Sets the link named `name` up (`lo` in a new namespace).
    pub fn set_up_by_name(&mut self, name: &str) -> Result<(), NlError> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
        m.ifinfomsg(AF_UNSPEC, 0, IFF_UP, IFF_UP).str(IFLA_IFNAME, name);
        self.request(&mut m)
    }

    /// A request answered by one message (a `get`); returns its payload.
    pub fn get(&mut self, msg: &mut Msg) -> Result<Vec<u8>, NlError> {
        let mut out = None;
        self.exchange(msg, |_, p| {
            if out.is_none() {
                out = Some(p.to_vec());
            }
        })?;
        out.ok_or(NlError::Malformed("empty reply"))
    }

    /// A dump: each message's payload goes through `parse` into `out`. Retried from scratch
    /// when the kernel says the dump was interrupted by a concurrent change.
    pub fn dump<T>(
        &mut self,
        build: impl Fn() -> Msg,
        out: &mut Vec<T>,
        parse: impl Fn(&[u8]) -> Option<T>,
    ) -> Result<(), NlError> {
        for _ in 0..5 {
            out.clear();
            let mut msg = build();
            if !self.exchange(&mut msg, |_, p| out.extend(parse(p)))? {
                return Ok(());
            }
        }
        Err(NlError::Malformed("dump kept being interrupted by concurrent changes"))
    }
}

/// The extended-ack text of an error message, if any.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = payload.get(4..4 + NLMSG_HDRLEN)?;
    let echoed_len = u32::from_ne_bytes([echoed[0], echoed[1], echoed[2], echoed[3]]) as usize;
    let skip = if flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { align4(echoed_len) };
    let tlvs = payload.get(4 + skip..)?;
    attrs(tlvs).find(|(t, _)| *t == NLMSGERR_ATTR_MSG).map(|(_, p)| get_str(p).to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_attributes_with_lengths_and_padding() {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
        m.ifinfomsg(0, 0, 0, 0).str(IFLA_IFNAME, "br0").begin(IFLA_LINKINFO).str(IFLA_INFO_KIND, "bridge").end();
        let bytes = m.finish(7).to_vec();
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        assert_eq!(bytes.len() % 4, 0);
        let body = &bytes[NLMSG_HDRLEN + 16..];
        let got: Vec<(u16, Vec<u8>)> = attrs(body).map(|(t, p)| (t, p.to_vec())).collect();
        assert_eq!(got[0].0, IFLA_IFNAME);
        assert_eq!(get_str(&got[0].1), "br0");
        assert_eq!(got[1].0, IFLA_LINKINFO);
        let inner: Vec<_> = attrs(&got[1].1).collect();
        assert_eq!(inner.len(), 1);
        assert_eq!(get_str(inner[0].1), "bridge");
    }

    /// A received buffer: messages `(type, flags, seq, payload)`, each padded to 4 bytes.
    fn received(messages: &[(u16, u16, u32, &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        for (ty, flags, seq, payload) in messages {
            let len = (uapi::NLMSG_HDRLEN + payload.len()) as u32;
            buf.extend_from_slice(&len.to_ne_bytes());
            buf.extend_from_slice(&ty.to_ne_bytes());
            buf.extend_from_slice(&flags.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(payload);
            buf.resize(align4(buf.len()), 0);
        }
        buf
    }

    #[test]
    fn messages_are_framed_in_order_and_a_bad_length_ends_them() {
        let mut buf = received(&[(RTM_NEWLINK, 2, 7, &[1, 2, 3]), (NLMSG_DONE, 0, 7, &[0; 4])]);
        let got: Vec<_> = messages(&buf).map(|m| m.map(|m| (m.ty, m.flags, m.seq, m.payload.to_vec()))).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().ok(), Some(&(RTM_NEWLINK, 2, 7, vec![1, 2, 3])));
        assert_eq!(got[1].as_ref().map(|m| m.0).ok(), Some(NLMSG_DONE));
        // The second header claims more than the buffer holds.
        buf[20] = 200;
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 2);
        assert!(matches!(got[1], Err(NlError::Malformed("message length"))));
    }

    #[test]
    fn acks_and_errors_read_from_error_messages() {
        let ack = received(&[(NLMSG_ERROR, 0, 1, &0i32.to_ne_bytes())]);
        assert!(messages(&ack).next().expect("one message").expect("framed").ack().is_ok());
        let refused = received(&[(NLMSG_ERROR, 0, 1, &(-17i32).to_ne_bytes())]);
        let err = messages(&refused).next().expect("one message").expect("framed").ack().expect_err("an error");
        assert_eq!(err.errno(), Some(17));
    }

    /// Found by the `netlink` fuzz target: an error code of `i32::MIN` overflowed when negated.
    #[test]
    fn an_error_code_without_a_positive_errno_is_malformed() {
        let buf = received(&[(NLMSG_ERROR, 0, 1, &i32::MIN.to_ne_bytes())]);
        let message = messages(&buf).next().expect("one message").expect("framed");
        assert!(matches!(message.ack(), Err(NlError::Malformed("error code"))));
    }

    #[test]
    fn attribute_iterator_stops_on_truncation() {
        let buf = [8u8, 0, 1, 0, 1, 2, 3, 4, 200, 0, 2, 0];
        let got: Vec<_> = attrs(&buf).collect();
        assert_eq!(got.len(), 1);
    }
}
