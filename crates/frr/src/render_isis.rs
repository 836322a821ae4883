//! The IS-IS and SRv6 blocks of the canonical rendering, as FRR 10.3 prints them back: the
//! `interface` blocks with IS-IS, `router isis`, and `segment-routing` with its locators.

use std::net::Ipv6Addr;

use crate::model::{Interface, Isis, IsisLevel, Srv6Locator};

/// The SID formats zebra defines by itself and prints once SRv6 is configured (FRR 10.3).
const SRV6_BUILTIN_FORMATS: &[&str] = &["usid-f3216", "uncompressed-f4024"];

/// `interface NAME` with its IS-IS lines.
pub(crate) fn interface(interface: &Interface) -> Vec<String> {
    let mut out = vec![format!("interface {}", interface.name)];
    if let Some(isis) = &interface.isis {
        if isis.ipv4 {
            out.push(format!(" ip router isis {}", isis.process));
        }
        if isis.ipv6 {
            out.push(format!(" ipv6 router isis {}", isis.process));
        }
        if isis.passive {
            out.push(" isis passive".to_string());
        }
    }
    out.extend(["exit".to_string(), "!".to_string()]);
    out
}

/// `router isis NAME`.
pub(crate) fn router_isis(isis: &Isis) -> Vec<String> {
    let mut out = vec![format!("router isis {}", isis.name)];
    match isis.is_type {
        IsisLevel::Level1 => out.push(" is-type level-1".to_string()),
        IsisLevel::Level2Only => out.push(" is-type level-2-only".to_string()),
        IsisLevel::Level12 => {}
    }
    out.push(format!(" net {}", isis.net));
    if isis.advertise_passive_only {
        out.push(" advertise-passive-only".to_string());
    }
    if let Some(locator) = &isis.srv6_locator {
        out.extend([" segment-routing srv6".to_string(), format!("  locator {locator}"), " exit".to_string()]);
    }
    out.extend(["exit".to_string(), "!".to_string()]);
    out
}

/// `segment-routing`: the encapsulation source, the locators by name, then the SID formats zebra
/// always defines. 10.3 closes neither `encapsulation` nor, without locators, `srv6`.
pub(crate) fn segment_routing(source: Option<Ipv6Addr>, locators: &[Srv6Locator]) -> Vec<String> {
    let mut locators: Vec<&Srv6Locator> = locators.iter().collect();
    locators.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut out: Vec<String> = ["segment-routing", " srv6"].map(String::from).to_vec();
    if let Some(source) = source {
        out.extend(["  encapsulation".to_string(), format!("   source-address {source}")]);
    }
    if locators.is_empty() {
        out.extend(["exit", "!"].map(String::from));
        return out;
    }
    out.push("  locators".to_string());
    for l in locators {
        out.push(format!("   locator {}", l.name));
        out.push(format!(
            "    prefix {} block-len {} node-len {} func-bits {}",
            l.prefix.trunc(),
            l.block_len,
            l.node_len,
            l.func_bits
        ));
        if l.usid {
            out.push("    behavior usid".to_string());
        }
        if let Some(format) = &l.format {
            out.push(format!("    format {format}"));
        }
        out.extend(["   exit".to_string(), "   !".to_string()]);
    }
    out.extend(["  exit", "  !", "  formats"].map(String::from));
    for format in SRV6_BUILTIN_FORMATS {
        out.extend([format!("   format {format}"), "   exit".to_string(), "   !".to_string()]);
    }
    out.extend(["  exit", "  !", " exit", " !", "exit", "!"].map(String::from));
    out
}
