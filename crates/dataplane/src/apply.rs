//! The live side: a router and a host namespace, each with its netlink socket; observe them,
//! diff against the desired state, apply the steps.

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;

use crate::observe::{self, NsState, Observed};
use crate::ops::{Action, Diff, Failure, LinkChange, NewLink, NewLinkKind, Op, Report};
use crate::{Error, HostNetwork, Side, sysctl};
use kernel::rtnl::{self, AddrMode, LinkKind as Kind, LinkRef, LinkSet, Vxlan};
use kernel::{Msg, NetNs, NlError, Socket};

struct Ns {
    ns: NetNs,
    sock: Socket,
    /// Link and address notifications of the namespace, keeping `cache` current.
    events: Option<Socket>,
    /// The namespace's links and addresses as of the last observation plus the notifications
    /// read since (`None`: read it from scratch next time).
    cache: Option<NsState>,
}

/// The kernel datapath of one node: the router namespace and the host namespace.
///
/// Holds one netlink socket per namespace (opened inside it, used from any thread) and the
/// namespace handles. Everything is synchronous: one reconcile is a short sequential
/// transaction. Methods take `&mut self`: share it behind a mutex, and call it from async code
/// through `spawn_blocking`.
///
/// Observing: the first observation dumps every link and address of both namespaces; after
/// that, a socket subscribed to the namespace's link and address notifications keeps that
/// picture current, so a reconcile that finds nothing to do reads only the notifications that
/// arrived since (none, in a quiet system) instead of thousands of links. Lost notifications
/// (a receive-buffer overrun) mean a new dump. [`Datapath::observe_fresh`] always dumps; the
/// tests check that both agree. A long-running agent should still call [`Datapath::resync`]
/// now and then (say every few minutes): a cheap guard against a change the kernel does not
/// announce.
pub struct Datapath {
    router: Ns,
    host: Ns,
    /// Interface indexes looked up since the last observation (`None`: deleted or moved
    /// away since, so the observation's index no longer holds).
    indexes: HashMap<(Side, String), Option<u32>>,
    sysctl_writes: u64,
}

/// After an apply with more writes than this, the next observation dumps instead of reading
/// the notifications back.
const RESYNC_AFTER_WRITES: u64 = 500;

fn nl_err(side: Side, ns: &NetNs, action: impl Into<String>, source: NlError) -> Error {
    Error::Netlink { side, ns: ns.label(), action: action.into(), source }
}

impl Datapath {
    /// Opens netlink sockets in both namespaces.
    pub fn new(router: NetNs, host: NetNs) -> Result<Datapath, Error> {
        if router.same_as(&host) {
            return Err(Error::SameNamespace(router.label()));
        }
        let open = |side: Side, ns: NetNs| -> Result<Ns, Error> {
            let sock = ns.run(Socket::open)?.map_err(|e| nl_err(side, &ns, "open a socket", e.into()))?;
            Ok(Ns { ns, sock, events: None, cache: None })
        };
        Ok(Datapath {
            router: open(Side::Router, router)?,
            host: open(Side::Host, host)?,
            indexes: HashMap::new(),
            sysctl_writes: 0,
        })
    }

    /// The router namespace.
    pub fn router(&self) -> &NetNs {
        &self.router.ns
    }

    /// The host namespace.
    pub fn host(&self) -> &NetNs {
        &self.host.ns
    }

    fn side(&mut self, side: Side) -> &mut Ns {
        match side {
            Side::Router => &mut self.router,
            Side::Host => &mut self.host,
        }
    }

    /// Kernel writes made through this datapath so far (netlink changes and sysctl writes).
    pub fn writes(&self) -> u64 {
        self.router.sock.writes + self.host.sock.writes + self.sysctl_writes
    }

    /// Reads both namespaces: links, addresses, the sysctls `desired` names, and the namespace
    /// ids veth peers use to point across.
    pub fn observe(&mut self, desired: &HostNetwork) -> Result<Observed, Error> {
        self.with_observed(desired, |o| o.clone())
    }

    /// Like [`Datapath::observe`], but always from a full dump, ignoring (and not touching)
    /// what the notifications say.
    pub fn observe_fresh(&mut self, desired: &HostNetwork) -> Result<Observed, Error> {
        let mut obs = Observed::default();
        for side in [Side::Router, Side::Host] {
            let ns = self.side(side);
            let state = observe::observe_ns(&mut ns.sock).map_err(|e| nl_err(side, &ns.ns, "list links", e))?;
            *obs.side_mut(side) = state;
        }
        self.complete(desired, &mut obs)?;
        Ok(obs)
    }

    /// Forgets what was observed: the next observation dumps both namespaces again.
    pub fn resync(&mut self) {
        for side in [Side::Router, Side::Host] {
            let ns = self.side(side);
            ns.cache = None;
            ns.events = None;
        }
    }

    /// Runs `f` on the current observation without copying it.
    fn with_observed<T>(&mut self, desired: &HostNetwork, f: impl FnOnce(&Observed) -> T) -> Result<T, Error> {
        let mut obs = Observed::default();
        for side in [Side::Router, Side::Host] {
            *obs.side_mut(side) = self.refresh(side)?;
        }
        let result = self.complete(desired, &mut obs).map(|()| f(&obs));
        self.indexes.clear();
        for side in [Side::Router, Side::Host] {
            let mut state = std::mem::take(obs.side_mut(side));
            state.sysctls.clear();
            self.side(side).cache = Some(state);
        }
        result
    }

    /// The namespace ids and sysctls of an observation.
    fn complete(&mut self, desired: &HostNetwork, obs: &mut Observed) -> Result<(), Error> {
        let host_fd = self.host.ns.raw_fd();
        let router_fd = self.router.ns.raw_fd();
        obs.router_id_in_host = observe::nsid_of(&mut self.host.sock, router_fd)
            .map_err(|e| nl_err(Side::Host, &self.host.ns, "get the router namespace id", e))?;
        obs.host_id_in_router = observe::nsid_of(&mut self.router.sock, host_fd)
            .map_err(|e| nl_err(Side::Router, &self.router.ns, "get the host namespace id", e))?;
        for side in [Side::Router, Side::Host] {
            let keys: Vec<String> = desired.sysctls.iter().filter(|s| s.side == side).map(|s| s.key.clone()).collect();
            let values = sysctl::read(&self.side(side).ns, side, &keys)?;
            obs.side_mut(side).sysctls = keys.into_iter().zip(values).collect();
        }
        Ok(())
    }

    /// The links and addresses of one namespace: the cache brought up to date by the queued
    /// notifications, or a full dump.
    fn refresh(&mut self, side: Side) -> Result<NsState, Error> {
        let ns = self.side(side);
        if ns.events.is_none() {
            ns.cache = None;
            // Without notifications (should not happen) every observation is a full dump.
            ns.events = ns.ns.run(Socket::open_events)?.ok();
        }
        if let (Some(events), Some(cache)) = (ns.events.as_mut(), ns.cache.as_mut()) {
            if events.drain(|ty, p| cache.apply_event(ty, p)).is_ok() {
                if let Some(c) = ns.cache.take() {
                    return Ok(c);
                }
            } else {
                // Notifications were lost: start over with a fresh subscription.
                ns.cache = None;
                ns.events = ns.ns.run(Socket::open_events)?.ok();
            }
        }
        // Notifications queued before the dump are older than it: dropped. Those that arrive
        // while it runs are applied after it (each carries the full, newer state).
        if let Some(events) = ns.events.as_mut()
            && events.drain(|_, _| {}).is_err()
        {
            ns.events = ns.ns.run(Socket::open_events)?.ok();
        }
        let mut state =
            observe::observe_ns(&mut ns.sock).map_err(|e| nl_err(side, &ns.ns, "list links and addresses", e))?;
        if let Some(events) = ns.events.as_mut()
            && events.drain(|ty, p| state.apply_event(ty, p)).is_err()
        {
            ns.events = None;
        }
        Ok(state)
    }

    /// Observes and diffs: the steps `apply` would run.
    pub fn diff(&mut self, desired: &HostNetwork) -> Result<Diff, Error> {
        self.with_observed(desired, |obs| crate::diff(desired, obs))
    }

    /// Observes, diffs and applies. Errors only when the namespaces cannot be read; every
    /// per-object failure is in the report, attributed to its resource, and the rest converges.
    pub fn reconcile(&mut self, desired: &HostNetwork) -> Result<Report, Error> {
        let diff = self.diff(desired)?;
        Ok(self.apply(&diff))
    }

    /// Runs the steps of a diff. A step that fails is reported and the others still run;
    /// steps on a link whose creation or move failed are skipped. The diff's problems are
    /// reported as failures too.
    pub fn apply(&mut self, diff: &Diff) -> Report {
        let before = self.writes();
        for note in &diff.notes {
            tracing::warn!("{note}");
        }
        let mut report = Report { notes: diff.notes.clone(), failures: diff.problems.clone(), ..Report::default() };
        let mut broken: HashSet<(Side, String)> = HashSet::new();
        for op in &diff.ops {
            if let Some(link) = op.action.link()
                && broken.contains(&(op.side, link.to_string()))
            {
                continue;
            }
            report.ops.push(op.clone());
            match self.run(op) {
                Ok(()) => {}
                Err(e) => {
                    match &op.action {
                        Action::CreateLink(n) => {
                            broken.insert((op.side, n.name.clone()));
                            if let NewLinkKind::Veth { peer, peer_side, .. } = &n.kind {
                                broken.insert((*peer_side, peer.clone()));
                            }
                        }
                        Action::MoveLink { name, to } => {
                            broken.insert((op.side, name.clone()));
                            broken.insert((*to, name.clone()));
                        }
                        _ => {}
                    }
                    report.failures.push(Failure {
                        owner: op.owner.clone(),
                        side: op.side,
                        object: op.object(),
                        message: format!("{}: {e}", op.action),
                    });
                }
            }
        }
        report.writes = self.writes() - before;
        if report.writes > RESYNC_AFTER_WRITES {
            // Reading back the notifications of thousands of changes costs more than one dump.
            self.resync();
        }
        report
    }

    /// Whether a link of that name exists now (asked of the kernel, not of the cache).
    pub fn has_link(&mut self, side: Side, name: &str) -> Result<bool, Error> {
        let ns = self.side(side);
        let found =
            observe::get_link(&mut ns.sock, name).map_err(|e| nl_err(side, &ns.ns, format!("look up {name}"), e))?;
        Ok(found.is_some())
    }

    /// Brings a link that something else made up (an Open vSwitch bridge's netdev): `None`
    /// when there is no such link (yet), else whether it had to be set up (no write when it
    /// already is).
    pub fn set_up(&mut self, side: Side, name: &str) -> Result<Option<bool>, Error> {
        let ns = self.side(side);
        let found =
            observe::get_link(&mut ns.sock, name).map_err(|e| nl_err(side, &ns.ns, format!("look up {name}"), e))?;
        let Some(l) = found else { return Ok(None) };
        if l.is_up() {
            return Ok(Some(false));
        }
        let mut m = rtnl::set_link(LinkRef::Index(l.index), &[LinkSet::Up(true)]);
        self.send(side, &format!("set {name} up"), &mut m, &[])?;
        Ok(Some(true))
    }

    /// Announces addresses that are already configured once more: each is replaced by itself
    /// (`RTM_NEWADDR` with `NLM_F_REPLACE`), which changes nothing in the kernel but sends the
    /// address notification again to every listener (an IPv6 address still in duplicate
    /// address detection is announced by the kernel when it completes, and not here).
    ///
    /// This repairs routing daemons that dropped the first notification: FRR 8.4's zebra
    /// reads address events on another thread than link events and discards an address whose
    /// interface it has not learned yet, so an interface created and addressed in one go can
    /// stay address-less in zebra (and BGP sessions over it wait for a next hop forever).
    /// Addresses that are not configured are skipped (nothing is added); returns how many were
    /// announced.
    pub fn announce_addresses(&mut self, side: Side, link: &str, addresses: &[IpNet]) -> Result<usize, Error> {
        let ns = self.side(side);
        let found =
            observe::get_link(&mut ns.sock, link).map_err(|e| nl_err(side, &ns.ns, format!("look up {link}"), e))?;
        let Some(l) = found else { return Err(Error::LinkNotFound { side, name: link.to_string() }) };
        let configured = observe::addresses_of(&mut ns.sock, l.index)
            .map_err(|e| nl_err(side, &ns.ns, format!("list addresses of {link}"), e))?;
        let present: Vec<&IpNet> = addresses.iter().filter(|a| configured.contains(a)).collect();
        for a in &present {
            let mut m = rtnl::add_address(l.index, a, AddrMode::Replace);
            self.send(side, "announce address", &mut m, &[])?;
        }
        Ok(present.len())
    }

    /// The index of a link, from the cache or the kernel.
    fn index(&mut self, side: Side, name: &str) -> Result<u32, Error> {
        match self.indexes.get(&(side, name.to_string())) {
            Some(Some(i)) => return Ok(*i),
            Some(None) => {}
            None => {
                if let Some(l) = self.side(side).cache.as_ref().and_then(|c| c.link(name)) {
                    return Ok(l.index);
                }
            }
        }
        let ns = self.side(side);
        let found =
            observe::get_link(&mut ns.sock, name).map_err(|e| nl_err(side, &ns.ns, format!("look up {name}"), e))?;
        let l = found.ok_or_else(|| Error::LinkNotFound { side, name: name.to_string() })?;
        self.indexes.insert((side, name.to_string()), Some(l.index));
        Ok(l.index)
    }

    fn forget(&mut self, side: Side, name: &str) {
        self.indexes.insert((side, name.to_string()), None);
    }

    fn send(&mut self, side: Side, what: &str, msg: &mut Msg, tolerate: &[i32]) -> Result<(), Error> {
        let ns = self.side(side);
        match ns.sock.request(msg) {
            Ok(()) => Ok(()),
            Err(e) if e.errno().is_some_and(|n| tolerate.contains(&n)) => Ok(()),
            Err(e) => Err(nl_err(side, &ns.ns, what, e)),
        }
    }

    /// Runs one step.
    fn run(&mut self, op: &Op) -> Result<(), Error> {
        let side = op.side;
        match &op.action {
            Action::WriteSysctl { key, value, .. } => {
                self.sysctl_writes += 1;
                sysctl::write(&self.side(side).ns, side, key, value)?;
            }
            Action::DeleteLink { name, .. } => {
                let mut m = rtnl::delete_link(name);
                // Already gone (a veth whose peer was deleted just before) counts as done.
                self.send(side, "delete", &mut m, &[libc::ENODEV])?;
                self.forget(side, name);
            }
            Action::MoveLink { name, to } => {
                let fd = match to {
                    Side::Router => self.router.ns.raw_fd(),
                    Side::Host => self.host.ns.raw_fd(),
                };
                let mut m = rtnl::set_link(LinkRef::Name(name), &[LinkSet::Netns(fd)]);
                self.send(side, "move", &mut m, &[])?;
                self.forget(side, name);
                self.forget(*to, name);
            }
            Action::CreateLink(n) => {
                let mut m = self.create_msg(side, n)?;
                self.send(side, "create", &mut m, &[])?;
            }
            Action::SetLink { name, change } => {
                let set = match change {
                    LinkChange::Up(up) => LinkSet::Up(*up),
                    LinkChange::Master(Some(master)) => LinkSet::Master(Some(self.index(side, master)?)),
                    LinkChange::Master(None) => LinkSet::Master(None),
                    LinkChange::Mtu(mtu) => LinkSet::Mtu(*mtu),
                    LinkChange::Mac(mac) => LinkSet::Mac(mac.0),
                    LinkChange::Group(g) => LinkSet::Group(*g),
                    LinkChange::AddrGenMode(crate::AddrGenMode::None) => LinkSet::AddrGenModeNone,
                    LinkChange::BridgePort(bp) => {
                        LinkSet::BridgePort { neigh_suppress: bp.neigh_suppress, learning: bp.learning }
                    }
                };
                let mut m = rtnl::set_link(LinkRef::Name(name), &[set]);
                let tolerate: &[i32] =
                    if matches!(change, LinkChange::AddrGenMode(_)) { &[libc::EAFNOSUPPORT] } else { &[] };
                self.send(side, "set", &mut m, tolerate)?;
            }
            Action::AddAddress { link, address } => {
                let idx = self.index(side, link)?;
                let mut m = rtnl::add_address(idx, address, AddrMode::Create);
                // Present already (re-adding after a master change) counts as done.
                self.send(side, "add address", &mut m, &[libc::EEXIST])?;
            }
            Action::RemoveAddress { link, address } => {
                let idx = self.index(side, link)?;
                let mut m = rtnl::delete_address(idx, address);
                self.send(side, "remove address", &mut m, &[libc::EADDRNOTAVAIL])?;
            }
        }
        Ok(())
    }

    fn create_msg(&mut self, side: Side, n: &NewLink) -> Result<Msg, Error> {
        let master = match &n.master {
            Some(m) => Some(self.index(side, m)?),
            None => None,
        };
        let device = match &n.kind {
            NewLinkKind::Vxlan { device, .. } => Some(self.index(side, device)?),
            _ => None,
        };
        let peer_fd = match &n.kind {
            NewLinkKind::Veth { peer_side, .. } if *peer_side != side => Some(match peer_side {
                Side::Router => self.router.ns.raw_fd(),
                Side::Host => self.host.ns.raw_fd(),
            }),
            _ => None,
        };
        let kind = match &n.kind {
            NewLinkKind::Bridge => Kind::Bridge,
            NewLinkKind::Vrf { table } => Kind::Vrf { table: *table },
            NewLinkKind::Vxlan { vni, local, port, learning, .. } => {
                Kind::Vxlan(Vxlan { vni: *vni, local: *local, port: *port, learning: *learning, device })
            }
            NewLinkKind::Veth { peer, peer_mtu, .. } => Kind::Veth { peer, peer_mtu: *peer_mtu, peer_netns: peer_fd },
        };
        let mut link = rtnl::NewLink::new(&n.name, kind);
        link.mtu = n.mtu;
        link.mac = n.mac.map(|m| m.0);
        link.master = master;
        Ok(link.message())
    }
}

/// The steps that would take the live namespaces to `desired`, for `openperouter plan --diff`.
///
/// `router_ns` is the router namespace's name (`/run/netns/<name>`); `host_ns` is a namespace
/// name or a path (anything with a `/`), default the caller's own namespace. When the router
/// namespace does not exist yet, the diff is computed against a fresh one (only `lo`) and a
/// note says so. Reads only: nothing is changed.
pub fn diff_live(desired: &HostNetwork, router_ns: &str, host_ns: Option<&str>) -> Result<Diff, Error> {
    let host = match host_ns {
        None => NetNs::current()?,
        Some(p) if p.contains('/') => NetNs::open_path(p)?,
        Some(name) => NetNs::open(name)?,
    };
    match NetNs::open(router_ns) {
        Ok(router) => Datapath::new(router, host)?.diff(desired),
        Err(kernel::NetnsError::NotFound { .. }) => {
            let label = host.label();
            let mut sock = host.run(Socket::open)?.map_err(|e| nl_err(Side::Host, &host, "open a socket", e.into()))?;
            let mut host_state =
                observe::observe_ns(&mut sock).map_err(|e| nl_err(Side::Host, &host, "list links and addresses", e))?;
            let keys: Vec<String> =
                desired.sysctls.iter().filter(|s| s.side == Side::Host).map(|s| s.key.clone()).collect();
            let values = sysctl::read(&host, Side::Host, &keys)?;
            host_state.sysctls = keys.into_iter().zip(values).collect();
            let obs = Observed { router: NsState::fresh(), host: host_state, ..Observed::default() };
            let mut d = crate::diff(desired, &obs);
            d.notes.insert(
                0,
                format!(
                    "router namespace {router_ns} does not exist: these steps assume a fresh one \
                     (host namespace: {label})"
                ),
            );
            Ok(d)
        }
        Err(e) => Err(e.into()),
    }
}
