//! `openperouter lab check`: the scenarios of the e2e suite against a lab whose PEs run, with
//! real state (FRR's JSON, the kernel's) and real packets (ping between namespaces). Every
//! assertion polls until it holds or its timeout passes (upstream's `Eventually`).
//!
//! Scenarios, in order (the destructive ones last): underlay sessions, host sessions, VTEP
//! reachability, type-5 import into the right VRF only, EVPN routes → host speaker, type-5
//! export, L3 pod ↔ external hosts, stretched L2, anycast gateway, disconnected L2VNI,
//! passthrough, kernel conformance, the agent killed and restarted under traffic (no kernel write,
//! no session reset, no probe lost), invalid resource, configuration churn (`churn.rs`; only when `--only` names it), VNI and
//! Underlay removed from the configuration, L2VNI 110 on an Open vSwitch bridge (managed, then external) and back
//! on the Linux bridge, a CNI-made underlay interface instead of the NIC (static, then DHCP),
//! FRR killed, router namespace deleted (named again) and replaced (rebuilt), type-5 withdrawal.
//! A scenario that cannot run (fewer than two nodes) is reported as SKIP, never as PASS.
//!
//! With the SRv6 fabric (`lab up --fabric srv6`) the scenarios are those of `srv6.rs` plus the
//! ones that hold on it unchanged (sessions, stretched L2, passthrough, kernel conformance).
//! On the IPv6-only underlay (`lab up --fabric ipv6`) they are `underlay6.rs`'s and those up to
//! the agent's restart (the faults and configuration changes assume the IPv4 underlay).

mod churn;
mod churn_model;
mod cni;
mod config;
mod ctx;
mod exclusive;
mod faults;
mod ovs;
mod probe;
mod report;
mod restart;
mod routing;
mod srv6;
mod traffic;
mod underlay6;
mod view;

use std::time::{Duration, Instant};

use crate::control::Lab;
use config::{config_removal, conformance, invalid_resource};
use ctx::{Check, Ctx};
use faults::{frr_kill, netns_delete};
pub use report::{Outcome, Report, Verdict};
use routing::{evpn_to_host, host_sessions, type5_export, type5_import, type5_withdraw, underlay_sessions, vteps};
use traffic::{anycast_gateway, disconnected_l2, l2_stretch, l3_pods, passthrough};

/// Scenarios that run only when `--only` names them: the configuration churn drill (about
/// eight to nine minutes in the emulated VM; the e2e test runs it on FRR 10 after the first
/// lab's other scenarios, once the smaller labs are done).
const OPT_IN: &[&str] = &[CHURN];
const CHURN: &str = "config churn (seeded, probes on untouched VNIs)";

/// The configuration churn drill alone, with `seed` (else `OPR_CHURN_SEED`'s, else one from the
/// clock; printed either way), on a lab that runs its PEs.
pub async fn run_churn(lab: &Lab, seed: Option<u64>) -> Report {
    let c = Ctx { lab, prefix: lab.options.spec.prefix.clone(), nodes: lab.options.spec.nodes };
    let start = Instant::now();
    let outcome = if lab.with_pe {
        churn::config_churn(&c, seed).await
    } else {
        Some(Err("this lab was brought up with --no-pe: nothing to check".to_string()))
    };
    let (verdict, detail) = match outcome {
        Some(Ok(d)) => (Verdict::Pass, d),
        Some(Err(e)) => (Verdict::Fail, e),
        None => (Verdict::Skip, "needs at least two nodes".to_string()),
    };
    Report { outcomes: vec![Outcome { name: CHURN, verdict, took: start.elapsed(), detail }] }
}

/// What the report says of a scenario `--only` or `--skip` left out.
const NOT_SELECTED: &str = "not selected (--only, --skip)";

/// Runs the scenarios against `lab` (which must run its PEs): every one, or with `only` those whose
/// name contains one of its strings, less those whose name contains one of `skip`'s (the others
/// are reported as SKIP); `progress` gets each outcome as it completes.
pub async fn run(lab: &Lab, only: &[String], skip: &[String], progress: &mut (dyn FnMut(&Outcome) + Send)) -> Report {
    let named = |name: &str| only.iter().any(|o| name.contains(o.as_str()));
    let selected = |name: &str| {
        (named(name) || (only.is_empty() && !OPT_IN.contains(&name))) && !skip.iter().any(|s| name.contains(s.as_str()))
    };
    let c = Ctx { lab, prefix: lab.options.spec.prefix.clone(), nodes: lab.options.spec.nodes };
    let mut report = Report::default();
    // `Err(why)`: the scenario did not run.
    let mut record = |name: &'static str, start: Instant, result: Result<Check, &str>| {
        let (verdict, detail) = match result {
            Ok(Ok(d)) => (Verdict::Pass, d),
            Ok(Err(e)) => (Verdict::Fail, e),
            Err(why) => (Verdict::Skip, why.to_string()),
        };
        let o = Outcome { name, verdict, took: start.elapsed(), detail };
        progress(&o);
        report.outcomes.push(o);
    };
    if !lab.with_pe {
        let o = Outcome {
            name: "PEs running",
            verdict: Verdict::Fail,
            took: Duration::ZERO,
            detail: "this lab was brought up with --no-pe: nothing to check".into(),
        };
        progress(&o);
        report.outcomes.push(o);
        return report;
    }
    macro_rules! step {
        ($name:expr, $e:expr) => {{
            let start = Instant::now();
            if selected($name) {
                let r: Option<Check> = $e;
                record($name, start, r.ok_or("needs at least two nodes"));
            } else {
                record($name, start, Err(NOT_SELECTED));
            }
        }};
    }
    if lab.options.spec.srv6 {
        step!("underlay sessions", Some(underlay_sessions(&c).await));
        step!("host sessions", Some(host_sessions(&c).await));
        step!("SRv6: VPN sessions to leafS", Some(srv6::vpn_sessions(&c).await));
        step!("SRv6: IS-IS spreads the locators", Some(srv6::locators(&c).await));
        step!("SRv6: VPN routes in VRF red only", Some(srv6::vpn_routes(&c).await));
        step!("SRv6: VPN → host speaker (plain BGP)", Some(srv6::vpn_to_host(&c).await));
        step!("SRv6: pods ↔ leafS's host", Some(srv6::pods_and_host(&c).await));
        step!("SRv6: packets on the wire", Some(srv6::on_the_wire(&c).await));
        step!("SRv6: L2VNI 110 routed through the L3VPN", Some(srv6::l2_through_l3vpn(&c).await));
        step!("stretched L2 (VNI 110)", l2_stretch(&c).await);
        step!("L3VNI blue beside the L3VPN", Some(srv6::l3vni_beside(&c).await));
        step!("passthrough both ways", Some(passthrough(&c).await));
        step!("kernel conformance", Some(conformance(&c).await));
        step!("SRv6: L3VPN removed and restored", srv6::l3vpn_removal(&c).await);
        return report;
    }
    let ipv6 = lab.options.spec.ipv6;
    step!("underlay sessions", Some(underlay_sessions(&c).await));
    step!("host sessions", Some(host_sessions(&c).await));
    if ipv6 {
        step!("IPv6 underlay: VTEPs via IPv6", Some(underlay6::ipv4_vteps_over_ipv6(&c).await));
    }
    step!("VTEP reachability", Some(vteps(&c).await));
    step!("type-5 import (right VRF only)", Some(type5_import(&c).await));
    step!("EVPN → host speaker (plain BGP)", Some(evpn_to_host(&c).await));
    step!("type-5 export to the leaves", Some(type5_export(&c).await));
    step!("L3 pod ↔ external hosts", Some(l3_pods(&c).await));
    step!("stretched L2 (VNI 110)", l2_stretch(&c).await);
    step!("anycast gateway L2 → L3", Some(anycast_gateway(&c).await));
    step!("disconnected L2VNI (300)", disconnected_l2(&c).await);
    step!("passthrough both ways", Some(passthrough(&c).await));
    step!("kernel conformance", Some(conformance(&c).await));
    step!("agent restarted (SIGKILL, SIGTERM)", restart::agent_restart(&c).await);
    if ipv6 {
        // The scenarios below change the Underlay or its NIC as the IPv4 underlay has them.
        return report;
    }
    step!("invalid resource", Some(invalid_resource(&c).await));
    step!(CHURN, churn::config_churn(&c, None).await);
    step!("VNI, Underlay removed from config", config_removal(&c).await);
    let start = Instant::now();
    let name = "L2VNI on Open vSwitch (Managed, External)";
    let outcome = if selected(name) { ovs::l2vni_on_ovs(&c).await } else { Err(NOT_SELECTED) };
    record(name, start, outcome);
    step!("CNI underlay (macvlan on the NIC, static then DHCP)", cni::cni_underlay(&c).await);
    step!("FRR killed (bgpd+zebra -9)", Some(frr_kill(&c).await));
    step!("router netns deleted, then replaced", Some(netns_delete(&c).await));
    // Last: on FRR 8.4 the withdrawal leaves the L3VNI path to leafA broken until FRR restarts.
    step!("type-5 withdrawn by the leaf", Some(type5_withdraw(&c).await));
    report
}
