//! Normalisation of vtysh's `show running-config` output.

/// Removes from vtysh's `show running-config` output the lines FRR adds
/// itself, so that the result can be compared with
/// [`Config::render`](crate::Config::render) byte for byte:
///
/// - the header `Building configuration...`, the empty line,
///   `Current configuration:` and the `!` right after it;
/// - `frr version …` and `frr defaults …` (the renderer assumes the Debian
///   build's `traditional` defaults and does not print the line);
/// - `service integrated-vtysh-config` / `no service integrated-vtysh-config`
///   (it comes from vtysh.conf, not from the daemons);
/// - the final `end`, and any empty line;
/// - `hostname …` lines when `drop_hostname` is set (for configs without a
///   hostname: FRR always prints the system's);
/// - empty `vrf NAME` / `exit-vrf` blocks and their `!`: FRR 10.3's zebra
///   keeps printing a VRF whose `vni` and BGP instance were removed (8.4.4
///   prints a `vrf` block only with content); the block configures nothing,
///   `frr-reload.py --test` ignores it, and the renderer never prints one;
/// - empty `interface NAME` / `exit` blocks and their `!`: FRR 10.3 keeps
///   printing an interface whose last line (IS-IS on it) was removed, and
///   refuses `no interface NAME` while the interface exists; the block
///   configures nothing and the renderer never prints one.
///
/// Every other line, `!` separators included, is kept as is. Trailing
/// whitespace is not touched; the result ends with a newline unless empty.
pub fn normalize_running_config(show_running_config: &str, drop_hostname: bool) -> String {
    let mut out = String::new();
    let mut after_header = false;
    for line in show_running_config.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "Current configuration:" {
            after_header = true;
            continue;
        }
        let header_bang = after_header && line == "!";
        after_header = false;
        let dropped = header_bang
            || line.is_empty()
            || line == "Building configuration..."
            || line == "end"
            || line.starts_with("frr version ")
            || line.starts_with("frr defaults ")
            || line == "service integrated-vtysh-config"
            || line == "no service integrated-vtysh-config"
            || (drop_hostname && line.starts_with("hostname "));
        if !dropped {
            out.push_str(line);
            out.push('\n');
        }
    }
    drop_empty_blocks(&out)
}

/// Removes `vrf NAME` immediately followed by `exit-vrf`, and `interface NAME` immediately
/// followed by `exit` (each with the `!` after it).
fn drop_empty_blocks(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let next = lines.get(i + 1).copied();
        let empty = (lines[i].starts_with("vrf ") && next == Some("exit-vrf"))
            || (lines[i].starts_with("interface ") && next == Some("exit"));
        if empty {
            i += 2;
            if lines.get(i) == Some(&"!") {
                i += 1;
            }
            continue;
        }
        out.push_str(lines[i]);
        out.push('\n');
        i += 1;
    }
    out
}

/// Splits a configuration text (rendered, or normalised running config)
/// into its top-level blocks: the text between two unindented `!` lines,
/// each with its lines in order. Daemons configured incrementally print
/// some blocks in creation order rather than in the canonical order
/// (`router bgp … vrf …` instances, route-maps): comparing the sorted
/// blocks of two texts ignores exactly that, and `frr-reload.py` does not
/// care about it either.
pub fn top_level_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line == "!" {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// Whether two configuration texts have the same top-level blocks, in any
/// order (see [`top_level_blocks`]).
pub fn same_blocks(a: &str, b: &str) -> bool {
    let mut a = top_level_blocks(a);
    let mut b = top_level_blocks(b);
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_RUN: &str = "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nfrr defaults traditional\nhostname pe1\nlog stdout informational\nservice integrated-vtysh-config\n!\nrouter bgp 64512\n no bgp ebgp-requires-policy\n !\n address-family ipv4 unicast\n exit-address-family\nexit\n!\nend\n";

    #[test]
    fn drops_frr_header_and_footer() {
        assert_eq!(
            normalize_running_config(SHOW_RUN, false),
            "hostname pe1\nlog stdout informational\n!\nrouter bgp 64512\n no bgp ebgp-requires-policy\n !\n address-family ipv4 unicast\n exit-address-family\nexit\n!\n"
        );
    }

    #[test]
    fn drops_hostname_on_request() {
        let text = normalize_running_config(SHOW_RUN, true);
        assert!(text.starts_with("log stdout informational\n!\n"), "{text}");
    }

    #[test]
    fn blocks_compare_in_any_order() {
        let a = "hostname x\n!\nrouter bgp 1 vrf b\n !\n address-family ipv4 unicast\n exit-address-family\nexit\n!\nrouter bgp 1 vrf a\nexit\n!\n";
        let b = "hostname x\n!\nrouter bgp 1 vrf a\nexit\n!\nrouter bgp 1 vrf b\n !\n address-family ipv4 unicast\n exit-address-family\nexit\n!\n";
        assert_eq!(top_level_blocks(a).len(), 3);
        assert!(same_blocks(a, b));
        assert!(!same_blocks(a, &b.replace("vrf a", "vrf c")));
    }

    #[test]
    fn drops_empty_vrf_blocks_only() {
        let show = "Current configuration:\n!\nfrr version 10.3\nhostname pe1\n!\nvrf blue\n vni 200\nexit-vrf\n!\nvrf red\nexit-vrf\n!\nrouter bgp 1\nexit\n!\nend\n";
        assert_eq!(
            normalize_running_config(show, false),
            "hostname pe1\n!\nvrf blue\n vni 200\nexit-vrf\n!\nrouter bgp 1\nexit\n!\n"
        );
    }

    #[test]
    fn drops_empty_interface_blocks_only() {
        let show = "Current configuration:\n!\ninterface eth0\n ip router isis ISIS\nexit\n!\ninterface eth1\nexit\n!\nrouter bgp 1\nexit\n!\nend\n";
        assert_eq!(
            normalize_running_config(show, false),
            "interface eth0\n ip router isis ISIS\nexit\n!\nrouter bgp 1\nexit\n!\n"
        );
    }

    #[test]
    fn is_idempotent() {
        let once = normalize_running_config(SHOW_RUN, false);
        assert_eq!(normalize_running_config(&once, false), once);
    }
}
