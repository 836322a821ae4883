//! A configuration text as a tree of lines: blocks by indentation, `!` and the `exit…` lines
//! only closing them. Pure. [`parse`] reads one text (a block opened twice is one block, as in
//! FRR); [`union`] joins the texts several daemons print into the one configuration they run
//! together; [`render`] writes a tree back as text.

use std::collections::{HashMap, HashSet};

/// A configuration line and the lines nested under it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub line: String,
    pub children: Vec<Node>,
    /// Whether the line opens a block (it has children, an `exit` closes it, or it is a known
    /// block header): sending it moves vtysh into that block.
    pub block: bool,
}

/// Reads a configuration text as a forest of [`Node`]s.
pub fn parse(text: &str) -> Vec<Node> {
    let mut roots: Vec<Node> = Vec::new();
    // Open nodes with their indentation, outermost first.
    let mut stack: Vec<(usize, Node)> = Vec::new();
    fn close(stack: &mut Vec<(usize, Node)>, roots: &mut Vec<Node>) {
        if let Some((_, node)) = stack.pop() {
            match stack.last_mut() {
                Some((_, parent)) => {
                    parent.block = true;
                    parent.children.push(node);
                }
                None => roots.push(node),
            }
        }
    }
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r').trim_end();
        let trimmed = line.trim_start();
        // `!` starts a comment (daemons print some: `! "log file …" enabled by "--log" …`).
        if trimmed.is_empty() || trimmed.starts_with('!') || trimmed == "end" {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if is_exit(trimmed) {
            // Closes the innermost block at this indentation (and anything deeper).
            while stack.last().is_some_and(|(i, _)| *i > indent) {
                close(&mut stack, &mut roots);
            }
            if let Some((i, node)) = stack.last_mut()
                && *i == indent
            {
                node.block = true;
                close(&mut stack, &mut roots);
            }
            continue;
        }
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            close(&mut stack, &mut roots);
        }
        let block = opens_block(trimmed);
        stack.push((indent, Node { line: trimmed.to_string(), children: Vec::new(), block }));
    }
    while !stack.is_empty() {
        close(&mut stack, &mut roots);
    }
    merge_repeated(roots)
}

/// One node per block: a block header seen twice (a raw snippet reopening `router bgp A`)
/// holds the lines of both, as in FRR. A line that opens a block anywhere among its siblings
/// is that block wherever it appears (entering it again is what the plain line does), so all
/// of its occurrences are one node; other lines stay as they are.
fn merge_repeated(nodes: Vec<Node>) -> Vec<Node> {
    let headers: HashSet<String> = nodes.iter().filter(|n| n.block).map(|n| n.line.clone()).collect();
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    // Where the block of each header is in `out`.
    let mut blocks: HashMap<String, usize> = HashMap::new();
    for mut node in nodes {
        if !headers.contains(&node.line) {
            out.push(node);
            continue;
        }
        match blocks.get(&node.line) {
            Some(&i) => out[i].children.extend(node.children),
            None => {
                node.block = true;
                blocks.insert(node.line.clone(), out.len());
                out.push(node);
            }
        }
    }
    for node in &mut out {
        if !node.children.is_empty() {
            node.children = merge_repeated(std::mem::take(&mut node.children));
        }
    }
    out
}

fn is_exit(line: &str) -> bool {
    matches!(line, "exit" | "exit-vrf" | "exit-address-family" | "exit-vni" | "quit")
}

/// Headers that open a block even when nothing is nested under them.
fn opens_block(line: &str) -> bool {
    const OPENERS: [&str; 12] = [
        "router ",
        "vrf ",
        "route-map ",
        "address-family ",
        "interface ",
        "profile ",
        "peer ",
        "segment-routing",
        "srv6",
        "locator ",
        "key chain ",
        "line vty",
    ];
    line == "bfd" || line == "locators" || line == "encapsulation" || OPENERS.iter().any(|p| line.starts_with(p))
}

/// The configuration several daemons run together: blocks with the same header are one block,
/// a line printed by several daemons is one line (each daemon prints the lines it shares with
/// others, e.g. `hostname`, `route-map` blocks).
pub fn union(forests: Vec<Vec<Node>>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for forest in forests {
        join_into(&mut out, forest);
    }
    out
}

fn join_into(out: &mut Vec<Node>, nodes: Vec<Node>) {
    let mut index: HashMap<String, usize> = out.iter().enumerate().map(|(i, n)| (n.line.clone(), i)).collect();
    for node in nodes {
        match index.get(&node.line) {
            Some(&i) => {
                out[i].block |= node.block;
                join_into(&mut out[i].children, node.children);
            }
            None => {
                index.insert(node.line.clone(), out.len());
                out.push(node);
            }
        }
    }
}

/// The tree as configuration text: one space of indentation per level, each block closed with
/// the `exit` line FRR prints for it.
pub fn render(nodes: &[Node]) -> String {
    fn write(out: &mut String, nodes: &[Node], depth: usize) {
        for node in nodes {
            out.extend(std::iter::repeat_n(' ', depth));
            out.push_str(&node.line);
            out.push('\n');
            if node.block {
                write(out, &node.children, depth + 1);
                out.extend(std::iter::repeat_n(' ', depth));
                out.push_str(closing_line(&node.line));
                out.push('\n');
            }
            if depth == 0 {
                out.push_str("!\n");
            }
        }
    }
    let mut out = String::new();
    write(&mut out, nodes, 0);
    out
}

fn closing_line(header: &str) -> &'static str {
    if header.starts_with("vrf ") {
        "exit-vrf"
    } else if header.starts_with("address-family ") {
        "exit-address-family"
    } else if header.starts_with("vni ") {
        "exit-vni"
    } else {
        "exit"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_not_configuration() {
        let text = "hostname pe\n! \"log file /run/zebra.log debugging\" enabled by \"--log\" startup option\n!\nrouter bgp 1\n ! inner remark\nexit\n";
        let tree = parse(text);
        assert_eq!(tree.len(), 2);
        assert!(tree[1].children.is_empty() && tree[1].block);
    }

    #[test]
    fn daemons_texts_join_into_one_configuration() {
        let zebra = parse("hostname pe\nvrf red\n vni 100\nexit-vrf\nroute-map all permit 1\nexit\n");
        let bgpd = parse(
            "hostname pe\nrouter bgp 1 vrf red\n neighbor 1.2.3.4 remote-as 2\nexit\nroute-map all permit 1\n set local-preference 5\nexit\n",
        );
        let staticd = parse("hostname pe\nvrf red\n ip route 10.0.0.0/8 blackhole\nexit-vrf\n");
        let joined = union(vec![zebra, bgpd, staticd]);
        let text = render(&joined);
        assert_eq!(
            text,
            "hostname pe\n!\nvrf red\n vni 100\n ip route 10.0.0.0/8 blackhole\nexit-vrf\n!\n\
             route-map all permit 1\n set local-preference 5\nexit\n!\n\
             router bgp 1 vrf red\n neighbor 1.2.3.4 remote-as 2\nexit\n!\n"
        );
        // What is rendered reads back as the same tree.
        assert_eq!(parse(&text), joined);
    }

    /// Found by the `frr_config` fuzz target: a header printed twice as a plain line, then
    /// once with lines under it, stayed two nodes, so a text differed from itself.
    #[test]
    fn a_block_header_also_printed_plain_is_one_block() {
        let tree = parse(
            "ip forwarding
config header
config header
config header
 set x
config header
",
        );
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[1].line, "config header");
        assert!(tree[1].block);
        assert_eq!(tree[1].children.len(), 1);
        // Plain lines that open no block keep every occurrence.
        assert_eq!(parse("a\na\n").len(), 2);
    }
}
