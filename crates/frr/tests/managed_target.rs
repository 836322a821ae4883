//! A managed FRR target runs the daemons its configuration needs: an instance started without
//! isisd is restarted with it the first time IS-IS is configured, the configuration then
//! applies and verifies, and taking IS-IS away again leaves isisd running with nothing in it.
//! When watchfrr runs but does not bring killed daemons back, or mgmtd keeps its datastores
//! locked, the target restarts FRR whole.
//! Needs root and FRR (the IS-IS test FRR 10; skipped loudly otherwise).

mod common;

use frr::instance::DaemonState;
use frr::target::Target;
use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::*;

fn runs(target: &Target, daemon: &str) -> bool {
    pid_of(target, daemon).is_some()
}

fn pid_of(target: &Target, daemon: &str) -> Option<u32> {
    let st = target.managed_instance().expect("a managed target").status();
    st.daemons.iter().find_map(|(d, s)| match s {
        DaemonState::Running { pid } if d == daemon => Some(*pid),
        _ => None,
    })
}

/// watchfrr alive but stuck (stopped here; in the field it can wait for ever on a job it
/// believes still running) while zebra and bgpd are dead: the target waits its 30 s, then
/// restarts FRR whole, and the configuration applies again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_target_restarts_frr_when_watchfrr_does_not() {
    const TEST: &str = "FRR restarted past a stuck watchfrr";
    if let Some(reason) = skip_reason() {
        skip_loudly(TEST, &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let spec = fleet.spec("frrwd", Some("tg-wd")).unwrap();
    let instance = fleet.adopt(spec);
    let mut target = Target::managed(instance);
    let config = Config { hostname: None, ..common::ebgp_underlay_evpn() };
    target.ensure_running(false, &config).await.unwrap();
    target.apply(&config).await.unwrap();
    let watchfrr = pid_of(&target, "watchfrr").expect("watchfrr runs");
    let (zebra, bgpd) = (pid_of(&target, "zebra").unwrap(), pid_of(&target, "bgpd").unwrap());
    kernel::procs::signal(watchfrr, kernel::procs::Signal::SIGSTOP);
    kernel::procs::signal(bgpd, kernel::procs::Signal::SIGKILL);
    kernel::procs::signal(zebra, kernel::procs::Signal::SIGKILL);
    // kill(2) returns before the signalled processes are gone: on a loaded machine the target
    // could otherwise still see them running and rightly leave FRR alone.
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while [zebra, bgpd].iter().any(|p| kernel::procs::is_running(*p)) {
        assert!(std::time::Instant::now() < gone, "zebra and bgpd still run 10 s after SIGKILL");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    target.ensure_running(false, &config).await.expect("FRR restarted");
    let now = |d: &str| pid_of(&target, d).unwrap_or_else(|| panic!("{d} does not run"));
    assert_ne!(now("watchfrr"), watchfrr, "the stuck watchfrr is still the one");
    assert_ne!(now("zebra"), zebra);
    assert_ne!(now("bgpd"), bgpd);
    assert!(!kernel::procs::is_running(watchfrr), "the stuck watchfrr was left behind");
    target.apply(&config).await.unwrap();
    let running = target.managed_instance().unwrap().vtysh().show_running_config().await.unwrap();
    assert!(running.contains("router bgp"), "no BGP in the restarted FRR:\n{running}");
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

/// Sends one command on a raw vty connection and reads its answer (status byte last).
async fn vty_command(stream: &mut tokio::net::UnixStream, command: &str) -> (u8, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(format!("{command}\0").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    loop {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the daemon closed the vty connection on `{command}`");
        answer.extend_from_slice(&buf[..n]);
        let len = answer.len();
        if len >= 4 && answer[len - 4..len - 1] == [0, 0, 0] {
            return (answer[len - 1], String::from_utf8_lossy(&answer[..len - 4]).into_owned());
        }
    }
}

/// Another session holds mgmtd's datastores and never lets go (as FRR 10.3's mgmtd can after
/// a failed commit): the apply waits for the lock, then the target restarts FRR whole and the
/// configuration applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_target_restarts_frr_whose_datastores_stay_locked() {
    const TEST: &str = "FRR restarted past mgmtd's stuck lock";
    if let Some(reason) = skip_reason() {
        skip_loudly(TEST, &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let spec = fleet.spec("frrlk", Some("tg-lock")).unwrap();
    if !spec.version.at_least(10, 0) {
        skip_loudly(TEST, &format!("FRR {} runs no mgmtd", spec.version));
        return;
    }
    let mgmtd_socket = spec.run_dir.join("mgmtd.vty");
    let instance = fleet.adopt(spec);
    let mut target = Target::managed(instance);
    let config = Config { hostname: None, ..common::ebgp_underlay_evpn() };
    target.ensure_running(false, &config).await.unwrap();
    target.apply(&config).await.unwrap();
    let mgmtd = pid_of(&target, "mgmtd").expect("mgmtd runs");

    let mut holder = tokio::net::UnixStream::connect(&mgmtd_socket).await.unwrap();
    assert_eq!(vty_command(&mut holder, "enable").await.0, 0);
    let (status, said) = vty_command(&mut holder, "configure terminal file-lock").await;
    assert_eq!(status, 0, "the holder did not get the lock: {said}");

    let mut changed = config.clone();
    let mut profile = BfdProfile::new("locked-test");
    profile.detect_multiplier = Some(7);
    changed.bfd_profiles.push(profile);
    let applied = target.apply(&changed).await.expect("applied after FRR's restart");
    assert!(applied.lines_added > 0);
    assert_ne!(pid_of(&target, "mgmtd"), Some(mgmtd), "mgmtd was not restarted");
    let running = target.managed_instance().unwrap().vtysh().show_running_config().await.unwrap();
    assert!(running.contains("profile locked-test"), "the change is not in FRR:\n{running}");
    assert!(running.contains("router bgp"), "the rest of the configuration is not in FRR:\n{running}");
}
