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
///   hostname: FRR always prints the system's).
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
    out
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
    fn is_idempotent() {
        let once = normalize_running_config(SHOW_RUN, false);
        assert_eq!(normalize_running_config(&once, false), once);
    }
}
