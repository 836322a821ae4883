//! A managed FRR target runs the daemons its configuration needs: an instance started without
//! isisd is restarted with it the first time IS-IS is configured, the configuration then
//! applies and verifies, and taking IS-IS away again leaves isisd running with nothing in it.
//! Needs root and FRR 10 (skipped loudly otherwise).

mod common;

use frr::instance::DaemonState;
use frr::target::Target;
use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::*;

fn runs(target: &Target, daemon: &str) -> bool {
    let st = target.managed_instance().expect("a managed target").status();
    st.daemons.iter().any(|(d, s)| d == daemon && matches!(s, DaemonState::Running { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_target_starts_isisd_when_isis_is_configured() {
    const TEST: &str = "isisd started on demand";
    if let Some(reason) = skip_reason() {
        skip_loudly(TEST, &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let spec = fleet.spec("frrtg", Some("tg-isis")).unwrap();
    if !spec.version.at_least(10, 0) {
        skip_loudly(TEST, &format!("FRR {} has no SRv6 micro-SID locators", spec.version));
        return;
    }
    assert!(!spec.daemons.iter().any(|d| d == "isisd"), "the default daemons already hold isisd: {:?}", spec.daemons);
    let instance = fleet.adopt(spec);
    frr::testing::enable_forwarding(fleet.namespaces().last().unwrap()).unwrap();
    let mut target = Target::managed(instance);

    let srv6 = Config { hostname: None, ..common::srv6_l3vpn() };
    let mut plain = srv6.clone();
    plain.isis = None;
    plain.interfaces.clear();
    plain.srv6_locators.clear();
    plain.srv6_encapsulation_source = None;
    plain.bgp.retain(|b| b.vrf.is_none());
    for bgp in &mut plain.bgp {
        bgp.srv6_locator = None;
        bgp.address_families.retain(|af| !matches!(af.afi, Afi::Ipv4Vpn | Afi::Ipv6Vpn));
    }
    assert!(!plain.needs_isisd() && srv6.needs_isisd());

    target.ensure_running(false, &plain).await.unwrap();
    target.apply(&plain).await.unwrap();
    assert!(!runs(&target, "isisd"), "isisd runs without IS-IS configured");

    target.ensure_running(false, &srv6).await.unwrap();
    assert!(runs(&target, "isisd"), "isisd does not run once IS-IS is configured");
    let applied = target.apply(&srv6).await.unwrap();
    assert!(applied.lines_added > 0);
    let running = target.managed_instance().unwrap().vtysh().show_running_config().await.unwrap();
    assert!(running.contains("router isis ISIS"), "no IS-IS in FRR:\n{running}");

    target.ensure_running(false, &plain).await.unwrap();
    target.apply(&plain).await.unwrap();
    assert!(runs(&target, "isisd"), "isisd was stopped when IS-IS went away");
    let running = target.managed_instance().unwrap().vtysh().show_running_config().await.unwrap();
    assert!(!running.contains("router isis"), "IS-IS left in FRR:\n{running}");
}
