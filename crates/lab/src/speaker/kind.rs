//! Which BGP speaker a node runs, as the command line and `lab.conf` name it.

use std::fmt;
use std::str::FromStr;

/// Which BGP speaker a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpeakerKind {
    /// FRR (FRR-K8s, MetalLB).
    #[default]
    Frr,
    /// BIRD 2 (Calico).
    Bird,
    /// GoBGP (Cilium, kube-vip).
    Gobgp,
}

impl SpeakerKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [SpeakerKind; 3] = [SpeakerKind::Frr, SpeakerKind::Bird, SpeakerKind::Gobgp];

    /// The name used on the command line, in `lab.conf` and in `lab status`.
    pub fn name(self) -> &'static str {
        match self {
            SpeakerKind::Frr => "frr",
            SpeakerKind::Bird => "bird",
            SpeakerKind::Gobgp => "gobgp",
        }
    }
}

impl fmt::Display for SpeakerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SpeakerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpeakerKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| format!("unknown speaker {s:?}: use {}", SpeakerKind::ALL.map(SpeakerKind::name).join(", ")))
    }
}

/// Parses a comma-separated list (`frr,bird,gobgp`) for `nodes` nodes: one kind per node in
/// order, or a single kind for all of them.
pub fn parse_list(s: &str, nodes: u32) -> Result<Vec<SpeakerKind>, String> {
    let kinds = s.split(',').map(SpeakerKind::from_str).collect::<Result<Vec<_>, _>>()?;
    if kinds.len() != 1 && kinds.len() != nodes as usize {
        return Err(format!("{} speakers given for {nodes} nodes: give one for all or one per node", kinds.len()));
    }
    Ok(kinds)
}

/// The kind of node `index` in a list from [`parse_list`] (a single kind applies to all; an
/// empty list means FRR).
pub fn kind_of(kinds: &[SpeakerKind], index: u32) -> SpeakerKind {
    match kinds {
        [] => SpeakerKind::Frr,
        [one] => *one,
        many => many.get(index as usize).copied().unwrap_or_default(),
    }
}
