//! Operations: the plain-data steps that take a namespace pair from what it has to what it
//! should have. The diff produces them, tests assert on them, `plan --diff` prints them, and
//! only [`crate::Datapath::apply`] turns them into netlink messages and sysctl writes.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::{AddrGenMode, BridgePort, MacAddr, Owner, Side};

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Op {
    /// Namespace it runs in (for a move: where the link is before it).
    pub side: Side,
    /// What it does.
    pub action: Action,
    /// The resource that wants it (`None` for removing what nothing wants any more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Action {
    /// Writes a sysctl under `/proc/sys` of the namespace.
    #[serde(rename_all = "camelCase")]
    WriteSysctl {
        /// Path under `/proc/sys`.
        key: String,
        /// New value.
        value: String,
        /// Value before (`None`: unknown).
        #[serde(skip_serializing_if = "Option::is_none")]
        current: Option<String>,
    },
    /// Deletes a link (a veth takes its peer with it).
    #[serde(rename_all = "camelCase")]
    DeleteLink {
        /// Interface name.
        name: String,
        /// Its kind, for people.
        kind: String,
        /// Why: no longer wanted, or recreated because an attribute that cannot change did.
        reason: String,
    },
    /// Moves a link to the other namespace (the kernel drops its addresses and brings it down;
    /// the steps after it restore them).
    #[serde(rename_all = "camelCase")]
    MoveLink {
        /// Interface name.
        name: String,
        /// Destination.
        to: Side,
    },
    /// Creates a link, down.
    CreateLink(NewLink),
    /// Changes one attribute of an existing link.
    #[serde(rename_all = "camelCase")]
    SetLink {
        /// Interface name.
        name: String,
        /// The attribute and its new value.
        change: LinkChange,
    },
    /// Adds an address (already present counts as done).
    #[serde(rename_all = "camelCase")]
    AddAddress {
        /// Interface name.
        link: String,
        /// Address with prefix length.
        address: IpNet,
    },
    /// Removes an address (already absent counts as done).
    #[serde(rename_all = "camelCase")]
    RemoveAddress {
        /// Interface name.
        link: String,
        /// Address with prefix length.
        address: IpNet,
    },
}

/// A link to create, with the attributes set at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewLink {
    /// Interface name.
    pub name: String,
    /// Kind and its attributes.
    pub kind: NewLinkKind,
    /// Master, by name, in the same namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    /// MTU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// MAC address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
}

/// Kind of a link to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NewLinkKind {
    /// Linux bridge.
    Bridge,
    /// VRF with its routing table.
    Vrf {
        /// Routing table id.
        table: u32,
    },
    /// VXLAN.
    Vxlan {
        /// VNI.
        vni: u32,
        /// Local VTEP.
        local: IpAddr,
        /// UDP destination port.
        port: u16,
        /// MAC learning.
        learning: bool,
        /// Lower device, by name, in the same namespace.
        device: String,
    },
    /// veth pair.
    #[serde(rename_all = "camelCase")]
    Veth {
        /// Name of the other leg.
        peer: String,
        /// Namespace of the other leg.
        peer_side: Side,
        /// MTU of the other leg.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_mtu: Option<u32>,
    },
}

/// One attribute change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "attribute", content = "value", rename_all = "camelCase")]
pub enum LinkChange {
    /// Master device by name (`None`: detach).
    Master(Option<String>),
    /// MTU.
    Mtu(u32),
    /// MAC address.
    Mac(MacAddr),
    /// Administrative state.
    Up(bool),
    /// Link group.
    Group(u32),
    /// IPv6 address generation mode.
    AddrGenMode(AddrGenMode),
    /// Bridge-port flags.
    BridgePort(BridgePort),
}

impl Action {
    /// The link the step is about (`None` for sysctls).
    pub fn link(&self) -> Option<&str> {
        match self {
            Action::WriteSysctl { .. } => None,
            Action::DeleteLink { name, .. } | Action::MoveLink { name, .. } | Action::SetLink { name, .. } => {
                Some(name)
            }
            Action::CreateLink(n) => Some(&n.name),
            Action::AddAddress { link, .. } | Action::RemoveAddress { link, .. } => Some(link),
        }
    }
}

impl Op {
    /// What the step acts on, for messages: `link X` or `sysctl K`.
    pub fn object(&self) -> String {
        match &self.action {
            Action::WriteSysctl { key, .. } => format!("sysctl {key}"),
            a => format!("link {}", a.link().unwrap_or_default()),
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

impl fmt::Display for LinkChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkChange::Master(Some(m)) => write!(f, "master {m}"),
            LinkChange::Master(None) => f.write_str("nomaster"),
            LinkChange::Mtu(m) => write!(f, "mtu {m}"),
            LinkChange::Mac(m) => write!(f, "address {m}"),
            LinkChange::Up(true) => f.write_str("up"),
            LinkChange::Up(false) => f.write_str("down"),
            LinkChange::Group(g) => write!(f, "group {g}"),
            LinkChange::AddrGenMode(AddrGenMode::None) => f.write_str("addrgenmode none"),
            LinkChange::BridgePort(bp) => {
                write!(f, "bridge_slave neigh_suppress {} learning {}", on_off(bp.neigh_suppress), on_off(bp.learning))
            }
        }
    }
}

impl fmt::Display for NewLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NewLinkKind::Bridge => write!(f, "create bridge {}", self.name)?,
            NewLinkKind::Vrf { table } => write!(f, "create vrf {} table {table}", self.name)?,
            NewLinkKind::Vxlan { vni, local, port, learning, device } => {
                write!(f, "create vxlan {} id {vni} local {local} dstport {port}", self.name)?;
                f.write_str(if *learning { " learning" } else { " nolearning" })?;
                write!(f, " dev {device}")?;
            }
            NewLinkKind::Veth { peer, peer_side, peer_mtu } => {
                write!(f, "create veth {} peer {peer} in {peer_side}", self.name)?;
                if let Some(m) = peer_mtu {
                    write!(f, " (peer mtu {m})")?;
                }
            }
        }
        if let Some(m) = &self.master {
            write!(f, " master {m}")?;
        }
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        if let Some(m) = self.mac {
            write!(f, " address {m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::WriteSysctl { key, value, current } => {
                write!(f, "sysctl {key} = {value}")?;
                match current {
                    Some(c) => write!(f, " (was {c})"),
                    None => f.write_str(" (was unknown)"),
                }
            }
            Action::DeleteLink { name, kind, reason } => write!(f, "delete {kind} {name} ({reason})"),
            Action::MoveLink { name, to } => write!(f, "move {name} to the {to} namespace"),
            Action::CreateLink(n) => n.fmt(f),
            Action::SetLink { name, change } => write!(f, "set {name} {change}"),
            Action::AddAddress { link, address } => write!(f, "add address {address} to {link}"),
            Action::RemoveAddress { link, address } => write!(f, "remove address {address} from {link}"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:<6} {}", self.side.to_string(), self.action);
        match &self.owner {
            Some(o) => write!(f, "{text:<72} [{o}]"),
            None => f.write_str(&text),
        }
    }
}

/// Something that could not be done, attributed to the resource that wanted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The resource (`None`: removing something no resource wants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Namespace.
    pub side: Side,
    /// The object: `link X` or `sysctl K`.
    pub object: String,
    /// What failed and why.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.owner {
            write!(f, "{o}: ")?;
        }
        write!(f, "{} {} namespace: {}", self.object, self.side, self.message)
    }
}

/// What the diff found: the steps, plus what it cannot do and what it skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    /// Steps in the order they run.
    pub ops: Vec<Op>,
    /// Wanted objects that no step can produce (a missing underlay NIC, a missing external
    /// bridge, …), attributed to their resource.
    pub problems: Vec<Failure>,
    /// Things worth knowing that are not errors (an optional sysctl this kernel lacks, …).
    pub notes: Vec<String>,
}

impl Diff {
    /// No step to run.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.notes {
            writeln!(f, "# {n}")?;
        }
        for p in &self.problems {
            writeln!(f, "! {p}")?;
        }
        if self.ops.is_empty() {
            writeln!(f, "# nothing to do: the kernel matches the plan")?;
        }
        for op in &self.ops {
            writeln!(f, "{op}")?;
        }
        Ok(())
    }
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The steps that were run (in order), whether or not they succeeded.
    pub ops: Vec<Op>,
    /// Kernel writes made (netlink changes and sysctl writes).
    pub writes: u64,
    /// Everything that failed, per object, attributed to its resource.
    pub failures: Vec<Failure>,
    /// Notes carried over from the diff.
    pub notes: Vec<String>,
}

impl Report {
    /// Nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Failures of one resource.
    pub fn failures_of<'a>(&'a self, owner: &'a Owner) -> impl Iterator<Item = &'a Failure> + 'a {
        self.failures.iter().filter(move |f| f.owner.as_ref() == Some(owner))
    }
}
