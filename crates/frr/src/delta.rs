//! The change from one FRR configuration to another, as data: which lines go, which come, and
//! the ordered vtysh commands that make it so. Pure: nothing here talks to FRR.
//!
//! Both sides are configuration texts in the canonical form (what [`crate::Config::render_for`]
//! prints, and what [`crate::normalize_running_config`] makes of `show running-config`). A text
//! is read as a tree of lines by indentation; `!` and the `exit…` lines only close blocks. Two
//! trees are compared block by block as sets of lines, so the order FRR prints blocks or lines
//! in never makes a change.
//!
//! # The order of the commands
//!
//! Deletions first, then additions, each in an order FRR accepts. The rules, each found on a
//! live FRR and covered by `tests/applier.rs` (8.4.4 and 10.3 unless said otherwise):
//!
//! - **`vni` before its BGP VRF instance.** bgpd refuses `no router bgp A vrf X` while zebra has
//!   `vrf X / vni N` ("Please unconfigure l3vni N"). Top-level deletions run in this order:
//!   `vrf` blocks, BGP VRF instances, the default BGP instance (bgpd refuses to delete it while
//!   VRF instances exist), then everything else (route-maps, `bfd`, `interface`s, global lines),
//!   then `router isis`, then `segment-routing`, so that nothing still refers to what goes
//!   (IS-IS on an interface names its process; IS-IS and BGP name the SRv6 locator; 10.3). When a BGP VRF instance goes but its VRF keeps its
//!   `vni`, the `vni` line is taken out first and put back afterwards.
//! - **A `vrf` block is emptied, not deleted.** zebra refuses `no vrf X` while the kernel has the
//!   VRF device, and prints no `vrf` block without content; deleting the block's lines is enough.
//! - **`interface` and `segment-routing` are emptied too** (10.3): an existing interface cannot
//!   be deleted, and there is no `no segment-routing` (its `srv6` goes with `no srv6`). Lines
//!   go in reverse order: `isis passive` before the `router isis` line it needs.
//! - **SRv6's `encapsulation` is emptied too** (10.3): there is no `no encapsulation`, and
//!   `no srv6` leaves the block in place, so its `source-address` is deleted before `no srv6`.
//!   An empty `encapsulation` is not printed.
//! - **Address families are emptied, not deleted.** bgpd has no `no address-family …`; a family
//!   without lines is not printed.
//! - **A neighbor goes in one command.** `no neighbor X` (`no neighbor X peer-group` for a peer
//!   group) takes all of X's lines with it, in every address family; its other lines are not
//!   deleted one by one (bgpd would answer "Specify remote-as or peer-group commands first").
//!   Within a block, lines are deleted in reverse order, so `bgp listen range … peer-group G`
//!   goes before the peer group `G` it names.
//! - **A value that changes is overwritten, not deleted.** For single-valued settings (router
//!   id, a neighbor's `remote-as`, timers, `update-source`, `password`, a route-map direction,
//!   BFD intervals, SRv6's encapsulation `source-address`…) the new line replaces the old one: deleting it first would reset the
//!   session for nothing (or, for `remote-as`, delete the neighbor).
//! - **Negation.** A deleted line `X` is sent as `no X`, a deleted `no X` as `X`.
//! - **Sessions a change resets are named** ([`session_resets`]): an address family activated on
//!   a running neighbor, or a transport setting changed, makes bgpd reset its session.
//! - **A VRF's derived route target goes in by a placeholder** (10.3 refuses it, 8.4 drops it
//!   while the L3VNI is live): see [`route_targets`].
//!
//! Additions follow the target's own order (a `vrf`'s `vni` before the BGP instance of that VRF,
//! a neighbor's `remote-as` before its other lines), entering each block with its header line.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

pub use crate::tree::{Node, parse};

mod bfd_resets;
mod resets;
mod route_targets;

pub use resets::{SessionReset, session_resets};

/// One line of a delta and the blocks it is in (deleted lines are *not* negated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeltaLine {
    /// Enclosing blocks, outermost first, e.g. `["router bgp 64512", "address-family ipv4
    /// unicast"]`.
    pub context: Vec<String>,
    /// The line itself, e.g. `network 10.0.0.0/24` or, for a whole block, its header.
    pub line: String,
}

impl fmt::Display for DeltaLine {
    /// `router bgp 64512 > address-family ipv4 unicast > network 10.0.0.0/24`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ctx in &self.context {
            write!(f, "{ctx} > ")?;
        }
        f.write_str(&self.line)
    }
}

/// What differs between two configurations: lines of the old one that the new one lacks, and
/// lines of the new one that are not in the old one. Passwords are redacted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delta {
    pub removed: Vec<DeltaLine>,
    pub added: Vec<DeltaLine>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.removed {
            writeln!(f, "- {line}")?;
        }
        for line in &self.added {
            writeln!(f, "+ {line}")?;
        }
        Ok(())
    }
}

/// Replaces the word after every `password` with [`crate::REDACTED`].
pub fn redact_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("password ") {
        let (head, tail) = rest.split_at(pos + "password ".len());
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ',').unwrap_or(tail.len());
        if end > 0 {
            out.push_str(crate::REDACTED);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// One vtysh command of a change, in its blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The block headers to enter first, outermost first.
    pub context: Vec<String>,
    /// The command (`no neighbor 10.0.0.1`, `network 10.0.0.0/24`, `router bgp 64512 vrf red`).
    pub text: String,
    /// Whether the command enters a block (an added block header).
    pub enters: bool,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ctx in &self.context {
            write!(f, "{ctx} > ")?;
        }
        f.write_str(&redact_passwords(&self.text))
    }
}

/// The change from one configuration to another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// The lines that differ (what a human reads).
    pub delta: Delta,
    /// The commands that make the change, in the order to send them.
    pub commands: Vec<Command>,
    /// Where the steps of the change start (indices into `commands`, increasing). The commands
    /// of one step only need their order within each daemon; a step starts once every daemon has
    /// done the steps before it (zebra's `no vni` before bgpd's `no router bgp … vrf`).
    pub steps: Vec<usize>,
}

impl Change {
    /// Ends the current step: the commands from here on wait for the ones before.
    fn step(&mut self) {
        let here = self.commands.len();
        if here > 0 && self.steps.last() != Some(&here) {
            self.steps.push(here);
        }
    }

    /// The commands step by step.
    pub fn in_steps(&self) -> Vec<&[Command]> {
        let mut out = Vec::new();
        let mut from = 0;
        for &to in self.steps.iter().chain(std::iter::once(&self.commands.len())) {
            if to > from {
                out.push(&self.commands[from..to]);
                from = to;
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.delta.is_empty() && self.commands.is_empty()
    }
}

/// Whether two configuration texts hold the same lines in the same blocks.
pub fn same(a: &str, b: &str) -> bool {
    diff(a, b).delta.is_empty()
}

/// The change that turns configuration `from` into `to`.
pub fn diff(from: &str, to: &str) -> Change {
    let running = parse(from);
    let target = parse(to);
    let mut change = Change::default();
    let mut running = running;
    unpin_vnis(&mut running, &target, &mut change);
    deletions_top(&running, &target, &mut change);
    change.step();
    // The `vni` lines taken out for a BGP VRF instance's sake are missing from `running` now, so
    // the additions put them back, in the target's order.
    additions(&[], &running, &target, &mut change);
    route_targets::detour_derived(&target, &mut change);
    bfd_resets::around_resets(&running, &target, &mut change);
    change
}

/// Takes out of `running` the `vni` of every VRF whose BGP instance is deleted while the VRF
/// keeps its `vni` (bgpd would refuse to delete the instance), with a command for each.
fn unpin_vnis(running: &mut [Node], target: &[Node], change: &mut Change) {
    let target_lines: BTreeSet<&str> = target.iter().map(|n| n.line.as_str()).collect();
    let deleted_vrf_instances: BTreeSet<String> = running
        .iter()
        .filter(|n| !target_lines.contains(n.line.as_str()))
        .filter_map(|n| bgp_vrf_of(&n.line).map(str::to_string))
        .collect();
    for node in running.iter_mut() {
        let Some(vrf) = node.line.strip_prefix("vrf ") else { continue };
        if !deleted_vrf_instances.contains(vrf.trim()) {
            continue;
        }
        let header = node.line.clone();
        let kept_in_target =
            |line: &str| target.iter().any(|t| t.line == header && t.children.iter().any(|c| c.line == line));
        node.children.retain(|c| {
            let pinned = c.line.starts_with("vni ") && kept_in_target(&c.line);
            if pinned {
                change.commands.push(Command { context: vec![header.clone()], text: negate(&c.line), enters: false });
            }
            !pinned
        });
    }
}

/// `X` of `router bgp A vrf X`.
fn bgp_vrf_of(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("router bgp ")?;
    let (_, vrf) = rest.split_once(" vrf ")?;
    Some(vrf.trim())
}

/// The order of top-level deletions (see the module documentation).
fn top_rank(line: &str) -> u8 {
    if line.starts_with("vrf ") {
        0
    } else if bgp_vrf_of(line).is_some() {
        1
    } else if line.starts_with("router bgp ") {
        2
    } else if line.starts_with("router isis ") {
        4
    } else if line == "segment-routing" {
        5
    } else {
        3
    }
}

/// Top-level blocks that cannot be deleted with `no` on their header: their lines are deleted
/// one by one instead (`vrf`; `interface` of an existing interface; `segment-routing`, whose
/// `srv6` goes with `no srv6`).
fn deleted_line_by_line(line: &str) -> bool {
    line.starts_with("vrf ") || line.starts_with("interface ") || line == "segment-routing"
}

/// Nested blocks that have no `no` form: their lines are deleted one by one (`address-family`:
/// bgpd has no `no address-family`; `encapsulation` under `segment-routing` / `srv6`: zebra 10.3
/// knows no `no encapsulation`, and `no srv6` leaves it in place).
fn emptied_not_deleted(line: &str) -> bool {
    line.starts_with("address-family ") || line == "encapsulation"
}

fn deletions_top(running: &[Node], target: &[Node], change: &mut Change) {
    let mut order: Vec<usize> = (0..running.len()).collect();
    // Rank first, then reverse document order.
    order.sort_by_key(|&i| (top_rank(&running[i].line), std::cmp::Reverse(i)));
    let target_by_line: HashMap<&str, &Node> = target.iter().map(|n| (n.line.as_str(), n)).collect();
    let mut rank = 0;
    for i in order {
        let node = &running[i];
        // Each rank waits for the one before (a step per rank).
        if top_rank(&node.line) != rank {
            rank = top_rank(&node.line);
            change.step();
        }
        match target_by_line.get(node.line.as_str()) {
            Some(t) => {
                deletions_in(std::slice::from_ref(&node.line), &node.children, &t.children, &BTreeSet::new(), change)
            }
            None if deleted_line_by_line(&node.line) => {
                record_removed(&[], node, change);
                empty_block(std::slice::from_ref(&node.line), &node.children, &BTreeSet::new(), change);
            }
            None => {
                record_removed(&[], node, change);
                change.commands.push(Command { context: Vec::new(), text: negate(&node.line), enters: false });
            }
        }
    }
}

/// Deletes from block `context` the lines of `running` that `target` lacks. Lines of neighbors
/// in `gone` (deleted with `no neighbor X` further out) are recorded but not sent.
fn deletions_in(context: &[String], running: &[Node], target: &[Node], gone: &BTreeSet<String>, change: &mut Change) {
    let target_by_line: HashMap<&str, &Node> = target.iter().map(|n| (n.line.as_str(), n)).collect();
    let running_lines: BTreeSet<&str> = running.iter().map(|n| n.line.as_str()).collect();
    // Keys of the single-valued settings the target sets anew in this block.
    let replaced: BTreeSet<String> =
        target.iter().filter(|n| !running_lines.contains(n.line.as_str())).filter_map(|n| value_key(&n.line)).collect();
    // Neighbors defined here that the target no longer defines.
    let defined_in_target: BTreeSet<&str> = target.iter().filter_map(|n| defined_neighbor(&n.line)).collect();
    let mut gone_here: BTreeMap<String, bool> = BTreeMap::new(); // name → is a peer group
    for n in running {
        if let Some(name) = defined_neighbor(&n.line)
            && !defined_in_target.contains(name)
            && !gone.contains(name)
        {
            let group = n.line == format!("neighbor {name} peer-group");
            *gone_here.entry(name.to_string()).or_default() |= group;
        }
    }
    let mut all_gone = gone.clone();
    all_gone.extend(gone_here.keys().cloned());
    let mut sent_neighbor_deletes = BTreeSet::new();
    let ctx = context.to_vec();
    for node in running.iter().rev() {
        let owner = neighbor_of(&node.line);
        match target_by_line.get(node.line.as_str()) {
            Some(t) => {
                if !node.children.is_empty() || !t.children.is_empty() {
                    let mut inner = ctx.clone();
                    inner.push(node.line.clone());
                    deletions_in(&inner, &node.children, &t.children, &all_gone, change);
                }
            }
            None => {
                record_removed(&ctx, node, change);
                if let Some(name) = owner
                    && all_gone.contains(name)
                {
                    // Goes with its neighbor: one command for all of its lines, sent where
                    // its defining line was.
                    if let Some(group) = gone_here.get(name)
                        && defined_neighbor(&node.line) == Some(name)
                        && sent_neighbor_deletes.insert(name.to_string())
                    {
                        let text = if *group {
                            format!("no neighbor {name} peer-group")
                        } else {
                            format!("no neighbor {name}")
                        };
                        change.commands.push(Command { context: ctx.clone(), text, enters: false });
                    }
                    continue;
                }
                if emptied_not_deleted(&node.line) {
                    let mut inner = ctx.clone();
                    inner.push(node.line.clone());
                    empty_block(&inner, &node.children, &all_gone, change);
                    continue;
                }
                if value_key(&node.line).is_some_and(|k| replaced.contains(&k)) {
                    continue;
                }
                // Blocks that outlive the deletion of their parent (`no srv6` leaves
                // `encapsulation`) are emptied first.
                for child in node.children.iter().rev().filter(|c| emptied_not_deleted(&c.line)) {
                    let inner = [ctx.as_slice(), &[node.line.clone(), child.line.clone()]].concat();
                    empty_block(&inner, &child.children, &all_gone, change);
                }
                change.commands.push(Command { context: ctx.clone(), text: negate(&node.line), enters: false });
            }
        }
    }
}

/// Records `node` (and, for a block, each line in it) as removed.
fn record_removed(context: &[String], node: &Node, change: &mut Change) {
    change.delta.removed.push(DeltaLine {
        context: context.iter().map(|c| redact_passwords(c)).collect(),
        line: redact_passwords(&node.line),
    });
}

/// Deletes every line of a block that cannot itself be deleted (`vrf`, `address-family`,
/// `encapsulation`); the
/// block was recorded as removed as a whole, so its lines are not recorded again.
fn empty_block(context: &[String], children: &[Node], gone: &BTreeSet<String>, change: &mut Change) {
    let mut quiet = Change::default();
    deletions_in(context, children, &[], gone, &mut quiet);
    change.commands.extend(quiet.commands);
}

fn additions(context: &[String], running: &[Node], target: &[Node], change: &mut Change) {
    let running_by_line: HashMap<&str, &Node> = running.iter().map(|n| (n.line.as_str(), n)).collect();
    for node in target {
        let mut inner = context.to_vec();
        inner.push(node.line.clone());
        match running_by_line.get(node.line.as_str()) {
            Some(r) => {
                if !node.children.is_empty() {
                    additions(&inner, &r.children, &node.children, change);
                }
            }
            None => {
                change.delta.added.push(DeltaLine {
                    context: context.iter().map(|c| redact_passwords(c)).collect(),
                    line: redact_passwords(&node.line),
                });
                change.commands.push(Command {
                    context: context.to_vec(),
                    text: node.line.clone(),
                    enters: node.block,
                });
                additions(&inner, &[], &node.children, change);
            }
        }
    }
}

/// The command that deletes `line`.
pub fn negate(line: &str) -> String {
    match line.strip_prefix("no ") {
        Some(rest) => rest.to_string(),
        None => format!("no {line}"),
    }
}

/// `X` for the lines that define neighbor (or peer group) `X`: `neighbor X remote-as …`,
/// `neighbor X interface …`, `neighbor X peer-group [G]`.
fn defined_neighbor(line: &str) -> Option<&str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["neighbor", name, "remote-as", _] => Some(name),
        ["neighbor", name, "interface", ..] => Some(name),
        ["neighbor", name, "peer-group"] | ["neighbor", name, "peer-group", _] => Some(name),
        _ => None,
    }
}

/// `X` of any `neighbor X …` line.
fn neighbor_of(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("neighbor ")?;
    rest.split_whitespace().next()
}

/// For a single-valued setting, what identifies it without its value (`neighbor X timers`,
/// `bgp router-id`): a new line with the same key overwrites the old one.
fn value_key(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let key = |n: usize| Some(words[..n.min(words.len())].join(" "));
    match words.as_slice() {
        ["hostname", _] | ["log", "stdout", ..] => key(words.len().min(2)),
        ["bgp", "router-id", _] | ["bgp", "cluster-id", _] => key(2),
        ["bgp", "graceful-restart", "restart-time" | "stalepath-time", _] => key(3),
        ["bgp", "listen", "limit", _] => key(3),
        ["neighbor", _, "remote-as", _] => key(3),
        ["neighbor", _, "interface", "remote-as", _] => key(4),
        ["neighbor", _, "timers", "connect", _] => key(4),
        ["neighbor", _, "timers", _, _] => key(3),
        ["neighbor", _, "ebgp-multihop", ..]
        | ["neighbor", _, "update-source", _]
        | ["neighbor", _, "password", _]
        | ["neighbor", _, "port", _]
        | ["neighbor", _, "allowas-in", ..] => key(3),
        ["neighbor", _, "bfd", "profile", _] => key(4),
        ["neighbor", name, "route-map", _, dir] => Some(format!("neighbor {name} route-map {dir}")),
        ["source-address", _] => key(1),
        ["transmit-interval" | "receive-interval" | "detect-multiplier" | "echo-interval" | "minimum-ttl", _] => key(1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(change: &Change) -> Vec<String> {
        change.commands.iter().map(ToString::to_string).collect()
    }

    const BASE: &str = "hostname pe\n!\nrouter bgp 64514\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n neighbor 192.168.11.2 remote-as 64512\n neighbor 192.168.11.2 bfd\n !\n address-family ipv4 unicast\n  network 100.65.0.1/32\n  neighbor 192.168.11.2 activate\n exit-address-family\n !\n address-family l2vpn evpn\n  neighbor 192.168.11.2 activate\n  advertise-all-vni\n exit-address-family\nexit\n!\nroute-map allowall permit 1\nexit\n!\n";

    fn with_red(base: &str) -> String {
        let vrf = "vrf red\n vni 100\nexit-vrf\n!\n";
        let bgp = "router bgp 64514 vrf red\n bgp router-id 10.0.0.1\n neighbor 192.169.10.2 remote-as 64515\n !\n address-family ipv4 unicast\n  neighbor 192.169.10.2 activate\n  neighbor 192.169.10.2 route-map allowall in\n exit-address-family\n !\n address-family l2vpn evpn\n  advertise ipv4 unicast\n  route-target import 64514:100\n exit-address-family\nexit\n!\n";
        let (head, tail) = base.split_once("route-map").unwrap();
        format!("{head}{vrf}{bgp}route-map{tail}")
    }

    /// Found by the `frr_config` fuzz target: the applier saw a change between a text and itself.
    #[test]
    fn a_text_never_differs_from_itself() {
        let text = "config header\nconfig header\nconfig header\n neighbor x\n";
        let change = diff(text, text);
        assert!(change.is_empty(), "{change:?}");
    }

    #[test]
    fn parses_blocks_by_indentation() {
        let tree = parse(BASE);
        let headers: Vec<&str> = tree.iter().map(|n| n.line.as_str()).collect();
        assert_eq!(headers, ["hostname pe", "router bgp 64514", "route-map allowall permit 1"]);
        assert!(!tree[0].block);
        assert!(tree[1].block && tree[2].block, "an exit makes an empty route-map a block");
        let afs: Vec<&str> = tree[1].children.iter().filter(|c| c.block).map(|c| c.line.as_str()).collect();
        assert_eq!(afs, ["address-family ipv4 unicast", "address-family l2vpn evpn"]);
        assert_eq!(tree[1].children[4].children[1].line, "neighbor 192.168.11.2 activate");
    }

    #[test]
    fn a_reopened_block_is_one_block() {
        let with_snippet = format!("{BASE}router bgp 64514\n neighbor 192.168.99.9 remote-as 65099\nexit\n");
        let tree = parse(&with_snippet);
        assert_eq!(tree.iter().filter(|n| n.line == "router bgp 64514").count(), 1);
        assert_eq!(lines(&diff(BASE, &with_snippet)), ["router bgp 64514 > neighbor 192.168.99.9 remote-as 65099"]);
    }

    #[test]
    fn same_text_in_another_order_is_no_change() {
        let a = with_red(BASE);
        let blocks = crate::top_level_blocks(&a);
        let reversed: String = blocks.iter().rev().map(|b| format!("{b}!\n")).collect();
        assert!(same(&a, &reversed));
        assert!(diff(&a, &reversed).commands.is_empty());
        assert!(!same(&a, BASE));
    }

    #[test]
    fn adding_a_vrf_enters_new_blocks_in_target_order() {
        let change = diff(BASE, &with_red(BASE));
        assert!(change.delta.removed.is_empty());
        let cmds = lines(&change);
        assert_eq!(cmds[0], "vrf red");
        assert_eq!(cmds[1], "vrf red > vni 100");
        assert_eq!(cmds[2], "router bgp 64514 vrf red");
        assert_eq!(cmds[3], "router bgp 64514 vrf red > bgp router-id 10.0.0.1");
        assert!(cmds.contains(&"router bgp 64514 vrf red > address-family ipv4 unicast".to_string()));
        assert!(cmds.contains(
            &"router bgp 64514 vrf red > address-family ipv4 unicast > neighbor 192.169.10.2 activate".to_string()
        ));
        // Headers of new blocks enter them; nothing to delete, nothing in lockstep.
        assert!(change.commands[0].enters && change.commands[2].enters && !change.commands[1].enters);
        assert_eq!(change.in_steps().len(), 1, "additions are one step");
    }

    #[test]
    fn removing_a_vrf_deletes_vni_then_instance() {
        let change = diff(&with_red(BASE), BASE);
        assert!(change.delta.added.is_empty());
        assert_eq!(lines(&change), ["vrf red > no vni 100", "no router bgp 64514 vrf red"]);
        let steps: Vec<usize> = change.in_steps().iter().map(|s| s.len()).collect();
        assert_eq!(steps, [1, 1], "the instance goes once the vni is gone");
        let removed: Vec<String> = change.delta.removed.iter().map(ToString::to_string).collect();
        assert_eq!(removed, ["vrf red", "router bgp 64514 vrf red"]);
    }

    #[test]
    fn instance_going_while_its_vrf_keeps_its_vni_unpins_it() {
        let from = with_red(BASE);
        let to = from.replace("router bgp 64514 vrf red\n", "router bgp 64515 vrf red\n");
        let cmds = lines(&diff(&from, &to));
        let pos = |s: &str| cmds.iter().position(|c| c == s).unwrap_or_else(|| panic!("{s} not in {cmds:?}"));
        assert!(pos("vrf red > no vni 100") < pos("no router bgp 64514 vrf red"));
        assert!(pos("no router bgp 64514 vrf red") < pos("vrf red > vni 100"));
        assert!(pos("vrf red > vni 100") < pos("router bgp 64515 vrf red"));
    }

    #[test]
    fn a_neighbor_goes_in_one_command() {
        let to = BASE
            .replace(" neighbor 192.168.11.2 remote-as 64512\n neighbor 192.168.11.2 bfd\n", "")
            .replace("  neighbor 192.168.11.2 activate\n", "");
        let change = diff(BASE, &to);
        assert_eq!(lines(&change), ["router bgp 64514 > no neighbor 192.168.11.2"]);
        assert_eq!(change.delta.removed.len(), 4, "{:?}", change.delta.removed);
    }

    #[test]
    fn changed_values_are_overwritten() {
        let to = BASE.replace("remote-as 64512", "remote-as 64600").replace("router-id 10.0.0.1", "router-id 10.0.0.2");
        let change = diff(BASE, &to);
        assert_eq!(
            lines(&change),
            ["router bgp 64514 > bgp router-id 10.0.0.2", "router bgp 64514 > neighbor 192.168.11.2 remote-as 64600"]
        );
        assert_eq!(change.delta.removed.len(), 2);
    }

    #[test]
    fn af_lines_are_deleted_one_by_one_and_negation_flips() {
        let to = BASE
            .replace("  network 100.65.0.1/32\n  neighbor 192.168.11.2 activate\n", "")
            .replace(" no bgp ebgp-requires-policy\n", "");
        let cmds = lines(&diff(BASE, &to));
        assert_eq!(
            cmds,
            [
                // The family deactivated resets the session: its BFD goes off and comes back.
                "router bgp 64514 > no neighbor 192.168.11.2 bfd",
                "router bgp 64514 > address-family ipv4 unicast > no neighbor 192.168.11.2 activate",
                "router bgp 64514 > address-family ipv4 unicast > no network 100.65.0.1/32",
                "router bgp 64514 > bgp ebgp-requires-policy",
                "router bgp 64514 > neighbor 192.168.11.2 bfd",
            ]
        );
    }

    #[test]
    fn peer_group_goes_after_its_listen_range() {
        let from = "router bgp 1\n neighbor G peer-group\n neighbor G remote-as internal\n bgp listen range 10.0.0.0/24 peer-group G\nexit\n";
        let to = "router bgp 1\nexit\n";
        assert_eq!(
            lines(&diff(from, to)),
            ["router bgp 1 > no bgp listen range 10.0.0.0/24 peer-group G", "router bgp 1 > no neighbor G peer-group"]
        );
    }

    #[test]
    fn default_instance_goes_after_vrf_instances_and_before_route_maps() {
        let cmds = lines(&diff(&with_red(BASE), "hostname pe\n"));
        assert_eq!(
            cmds,
            [
                "vrf red > no vni 100",
                "no router bgp 64514 vrf red",
                "no router bgp 64514",
                "no route-map allowall permit 1"
            ]
        );
    }

    #[test]
    fn passwords_stay_out_of_the_delta_and_display() {
        let to = BASE.replace(
            " neighbor 192.168.11.2 bfd\n",
            " neighbor 192.168.11.2 bfd\n neighbor 192.168.11.2 password s3cret\n",
        );
        let change = diff(BASE, &to);
        assert_eq!(change.delta.added[0].line, "neighbor 192.168.11.2 password <redacted>");
        // (After the BFD detour's first command: a password resets the session.)
        let command = change.commands.iter().find(|c| c.text.contains("password")).expect("the password command");
        assert!(!command.to_string().contains("s3cret"));
        assert!(command.text.contains("s3cret"), "the command itself carries the secret");
    }

    #[test]
    fn vni_blocks_are_entered_and_left_whole() {
        let to = BASE.replace(
            "  advertise-all-vni\n",
            "  advertise-all-vni\n  vni 110\n   route-target import 64514:999\n   route-target import 64514:110\n  exit-vni\n",
        );
        let cmds = lines(&diff(BASE, &to));
        assert_eq!(
            cmds,
            [
                "router bgp 64514 > address-family l2vpn evpn > vni 110",
                "router bgp 64514 > address-family l2vpn evpn > vni 110 > route-target import 64514:999",
                "router bgp 64514 > address-family l2vpn evpn > vni 110 > route-target import 64514:110",
            ]
        );
        let printed =
            to.replace("64514:999\n   route-target import 64514:110", "64514:110\n   route-target import 64514:999");
        assert!(same(&to, &printed), "bgpd's order of the same lines is no change");
        assert!(same(&to, &to.replace("  exit-vni\n", "")), "exit-vni only closes the block");
        let back = lines(&diff(&to, BASE));
        assert_eq!(back, ["router bgp 64514 > address-family l2vpn evpn > no vni 110"]);
    }

    const SRV6: &str = "segment-routing\n srv6\n  encapsulation\n   source-address 2001:db8:1234:5678::\n  locators\n   locator MAIN\n    prefix fd00:0:32::/48 block-len 32 node-len 16 func-bits 16\n    behavior usid\n   exit\n   !\n  exit\n  !\n exit\n !\nexit\n!\n";

    #[test]
    fn an_encapsulation_block_is_emptied_not_deleted() {
        let tree = parse(SRV6);
        let srv6 = &tree[0].children[0];
        assert_eq!(srv6.children[0].line, "encapsulation");
        assert!(srv6.children[0].block && srv6.children[0].children.len() == 1);
        let without = SRV6.replace("  encapsulation\n   source-address 2001:db8:1234:5678::\n", "");
        let change = diff(SRV6, &without);
        assert_eq!(lines(&change), ["segment-routing > srv6 > encapsulation > no source-address 2001:db8:1234:5678::"]);
        let removed: Vec<String> = change.delta.removed.iter().map(ToString::to_string).collect();
        assert_eq!(removed, ["segment-routing > srv6 > encapsulation"]);
        // Added back by entering the block.
        let back = diff(&without, SRV6);
        assert_eq!(
            lines(&back),
            [
                "segment-routing > srv6 > encapsulation",
                "segment-routing > srv6 > encapsulation > source-address 2001:db8:1234:5678::"
            ]
        );
        assert!(back.commands[0].enters);
        // A new address overwrites the old one (the kernel's source never goes back to `::`).
        let moved = SRV6.replace("source-address 2001:db8:1234:5678::", "source-address fd00:65::1");
        assert_eq!(lines(&diff(SRV6, &moved)), ["segment-routing > srv6 > encapsulation > source-address fd00:65::1"]);
    }

    #[test]
    fn srv6_goes_after_its_encapsulation_is_emptied() {
        // `no srv6` leaves `encapsulation` in place.
        assert_eq!(
            lines(&diff(SRV6, "")),
            [
                "segment-routing > srv6 > encapsulation > no source-address 2001:db8:1234:5678::",
                "segment-routing > no srv6"
            ]
        );
    }
}
