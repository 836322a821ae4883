//! Snapshot, ordering, redaction and syntax tests of the renderer.

mod common;

use common::*;
use frr::*;

#[test]
fn snapshots() {
    for (name, config) in representative() {
        insta::assert_snapshot!(name, config.render());
    }
}

#[test]
fn snapshots_pass_vtysh_syntax_check() {
    if !vtysh_available() {
        eprintln!("!!!!!!!! SKIPPED: vtysh not found in PATH, rendered configs NOT syntax-checked !!!!!!!!");
        return;
    }
    let mut failures = Vec::new();
    for (name, config) in representative() {
        if let Err(err) = config.check_syntax() {
            failures.push(format!("{name}: {err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn vec_order_does_not_matter() {
    for (name, config) in representative() {
        let other = shuffled(&config);
        assert_eq!(config.render(), other.render(), "{name}");
        assert_eq!(config.render_redacted(), other.render_redacted(), "{name}");
    }
    // The shuffle really changes the kitchen sink (so the test can fail).
    let sink = kitchen_sink();
    assert_ne!(sink, shuffled(&sink));
}

#[test]
fn password_is_redacted_everywhere_but_render() {
    for config in [password(), kitchen_sink()] {
        assert!(config.render().contains(&format!("password {PASSWORD}\n")));
        let redacted = config.render_redacted();
        assert!(!redacted.contains(PASSWORD), "{redacted}");
        assert!(redacted.contains("password <redacted>\n"), "{redacted}");
        let debug = format!("{config:?}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let pretty = format!("{config:#?}");
        assert!(!pretty.contains(PASSWORD));
        // Only the password lines differ.
        let render = config.render();
        let differing: Vec<_> = render.lines().zip(redacted.lines()).filter(|(a, b)| a != b).collect();
        assert!(!differing.is_empty());
        assert!(differing.iter().all(|(a, _)| a.contains(" password ")));
    }
}

#[test]
fn password_is_redacted_when_serialized() {
    // The YAML snapshot must show "<redacted>", never the password.
    insta::assert_yaml_snapshot!("password_serialized", password());
}

#[test]
fn raw_snippets_are_appended_verbatim_in_order() {
    let config = Config { raw: vec!["line one\n".into(), "line two\n two-b".into()], ..ebgp_underlay_evpn() };
    let text = config.render();
    assert!(text.ends_with("ipv6 nht resolve-via-default\n!\nline one\nline two\n two-b\n"), "{text}");
}

#[test]
fn empty_config_renders_only_the_log_line() {
    assert_eq!(empty().render(), "log stdout informational\n!\n");
}

#[test]
fn normalize_matches_render_for_a_captured_output() {
    // `show running-config` as printed by FRR 8.4.4 for graceful_restart_custom (bgpd's
    // `bgp route-map delay-timer` among the top section's lines, where `live_frr.rs` sees
    // real daemons print it).
    let captured = "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\nfrr defaults traditional\nhostname pe-test\nlog stdout informational\nservice integrated-vtysh-config\nbgp route-map delay-timer 1\n!\nrouter bgp 64514\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp graceful-restart stalepath-time 400\n bgp graceful-restart restart-time 200\n bgp graceful-restart\n no bgp network import-check\n neighbor 192.168.11.2 remote-as 64512\n !\n address-family ipv4 unicast\n  network 100.65.0.1/32\n  neighbor 192.168.11.2 activate\n exit-address-family\n !\n address-family l2vpn evpn\n  neighbor 192.168.11.2 activate\n  advertise-all-vni\n exit-address-family\nexit\n!\nroute-map allowall permit 1\nexit\n!\nip nht resolve-via-default\n!\nipv6 nht resolve-via-default\n!\nend\n";
    let config = graceful_restart_custom();
    assert_eq!(config.normalize_running(captured), config.render());
}

/// The FRR 10.3 rendering is the 8.4.4 one with exactly the differences
/// `Dialect` lists (checked against real 10.3 daemons by `live_frr.rs`):
/// route-maps move up to right after the global lines, `ip nht
/// resolve-via-default` (the default from 9.1 on) is not printed while its
/// absence is (as global `no …` lines), and the maximum multihop TTL prints
/// as the bare command.
#[test]
fn frr_10_3_differs_from_8_4_by_the_dialect_rules_only() {
    fn route_map_blocks(text: &str) -> String {
        top_level_blocks(text).into_iter().filter(|b| b.starts_with("route-map ")).map(|b| b + "!\n").collect()
    }
    fn expected_10_3(config: &Config) -> String {
        let old = config.render_for(FrrVersion::FRR_8_4);
        let maps = route_map_blocks(&old);
        let mut text = old.replace(&maps, "");
        text = text.replace("ip nht resolve-via-default\n!\nipv6 nht resolve-via-default\n!\n", "");
        text = text.replace(" ebgp-multihop 255\n", " ebgp-multihop\n");
        // The first "!" ends the global lines.
        let globals_end = text.find("\n!\n").map(|i| i + 3).unwrap_or(0);
        let mut globals = text[..globals_end].to_string();
        if !config.resolve_nht_via_default {
            let at = ["no ip forwarding\n", "no ipv6 forwarding\n", "!\n"]
                .iter()
                .find_map(|l| globals.find(l).filter(|i| *i == 0 || globals.as_bytes()[i - 1] == b'\n'))
                .unwrap_or(globals.len());
            globals.insert_str(at, "no ip nht resolve-via-default\nno ipv6 nht resolve-via-default\n");
        }
        format!("{globals}{maps}{}", &text[globals_end..])
    }
    let mut differing = 0;
    for (name, config) in representative() {
        let new = config.render_for(FrrVersion::FRR_10_3);
        assert_eq!(new, expected_10_3(&config), "{name}");
        differing += usize::from(new != config.render());
        assert_eq!(config.render(), config.render_for(FrrVersion::FRR_8_4), "render() is the 8.4 form: {name}");
    }
    assert!(differing >= 3, "the representative configs exercise the rules ({differing} differ)");
}
