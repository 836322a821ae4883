//! FRR instances in network namespaces: parallel start, status, restart
//! detection, stop leaving nothing behind. Needs root and FRR (skipped
//! loudly otherwise).

use std::path::Path;
use std::time::{Duration, Instant};

use frr::instance::{DaemonState, stop_all};
use frr::testing::{Fleet, skip_loudly, skip_reason};

/// Every process whose command line mentions `dir`.
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(format!("{name}: {cmdline}"));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_status_restart_detection_and_clean_stop() {
    if let Some(reason) = skip_reason() {
        skip_loudly("instance lifecycle", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let mut specs = Vec::new();
    for (prefix, host) in [("frrlc-a", Some("lc-a")), ("frrlc-b", None)] {
        let mut spec = fleet.spec(prefix, host).unwrap();
        spec.keep_logs = false;
        specs.push(spec);
    }
    let a = fleet.adopt(specs[0].clone());
    let b = fleet.adopt(specs[1].clone());
    assert!(a.status().all_stopped(), "{:?}", a.status());

    let started = Instant::now();
    fleet.start_all().unwrap();
    let start_time = started.elapsed();
    eprintln!("two instances started in parallel in {start_time:?}");

    for inst in [&a, &b] {
        let status = inst.status();
        assert!(status.all_running(), "{}: {status:?}", inst.name());
        // mgmtd first where the installed FRR has one (FRR 10.3), then zebra.
        let mut expected = vec!["watchfrr".to_string()];
        expected.extend(frr::instance::needed_daemons(Path::new(frr::instance::FRR_SBIN_DIR)));
        assert_eq!(status.daemons.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(), expected);
        let mut daemons = inst.vtysh().show_daemons().await.unwrap();
        daemons.sort();
        expected.sort();
        assert_eq!(daemons, expected);
        // Each daemon runs inside the instance's network namespace.
        let Some(DaemonState::Running { pid }) = status.state("bgpd") else { panic!("bgpd not running") };
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        let want = std::fs::metadata(inst.spec().netns.path().unwrap()).unwrap();
        assert_eq!(ns.to_string_lossy(), format!("net:[{}]", std::os::unix::fs::MetadataExt::ino(&want)));
    }
    // The instance with its own UTS namespace prints its own hostname; the
    // other one the machine's.
    let run_a = a.vtysh().show_running_config().await.unwrap();
    assert!(run_a.contains("\nhostname lc-a\n"), "{run_a}");
    assert_eq!(frr::vtysh::hostnames_in(&run_a), ["lc-a"]);
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let run_b = b.vtysh().show_running_config().await.unwrap();
    assert_eq!(frr::vtysh::hostnames_in(&run_b), [machine.trim()]);

    // Starting again is refused.
    assert!(matches!(a.start(), Err(frr::InstanceError::AlreadyRunning { .. })));

    // Restart detection: config loaded, bgpd killed, watchfrr restarts it
    // (loading frr.conf again), the watcher reports it.
    let applier = frr::Applier::for_instance(&a);
    applier.apply_text("hostname lc-a\nrouter bgp 64512\n bgp router-id 10.0.0.1\nexit\n!\n").await.unwrap();
    let mut watcher = a.watch_restarts(Duration::from_millis(200));
    let before = a.generation();
    let Some(DaemonState::Running { pid: old }) = a.status().state("bgpd") else { panic!() };
    frr::testing::netns_exec(
        &a.spec().netns.path().unwrap().file_name().unwrap().to_string_lossy(),
        &["kill", "-9", &old.to_string()],
    )
    .unwrap();
    let restart = tokio::time::timeout(Duration::from_secs(30), watcher.changed()).await.expect("restart seen");
    assert_eq!(restart.daemons, ["bgpd"]);
    // It may be seen while down; wait for the new process.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = a.generation();
        if now.complete() && now.restarted_since(&before) == ["bgpd"] {
            break;
        }
        assert!(Instant::now() < deadline, "bgpd not restarted: {now:?}\n{}", a.log_tail(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(DaemonState::Running { pid: new }) = a.status().state("bgpd") else { panic!() };
    assert_ne!(old, new);
    // The restarted bgpd got frr.conf back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = a.vtysh().show_running_config().await.unwrap_or_default();
        if text.contains("bgp router-id 10.0.0.1") {
            break;
        }
        assert!(Instant::now() < deadline, "restarted bgpd has no config:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Stop both at once: no process, socket or run dir left.
    let stopping = Instant::now();
    for result in stop_all(&[&a, &b]) {
        result.unwrap();
    }
    eprintln!("two instances stopped at once in {:?}", stopping.elapsed());
    for inst in [&a, &b] {
        assert!(inst.status().all_stopped(), "{:?}", inst.status());
        let run = &inst.spec().run_dir;
        assert!(!run.exists(), "{} left behind: {:?}", run.display(), std::fs::read_dir(run).map(|d| d.count()));
        assert!(processes_using(run).is_empty(), "{:?}", processes_using(run));
        // The applied config stays.
        assert!(inst.spec().config_dir.join("vtysh.conf").exists());
    }
    assert!(a.vtysh().show_daemons().await.is_err());
    drop(fleet);
}

/// Debian's pathspace layout: `/var/run/frr/NAME` and `/etc/frr/NAME`, so
/// that the packaged tools (`vtysh -N NAME`) reach the instance.
#[tokio::test]
async fn pathspace_layout_works_with_debian_tools() {
    if let Some(reason) = skip_reason() {
        skip_loudly("pathspace instance", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let netns = fleet.add_netns("frrps").unwrap();
    let name = netns.clone();
    let spec = frr::InstanceSpec::pathspace(name.clone(), frr::NetnsRef::Name(netns));
    let config_dir = spec.config_dir.clone();
    assert!(!config_dir.exists() && !spec.run_dir.exists(), "{name} exists already");
    // Remove /etc/frr/NAME (created by the start) whatever happens.
    struct RemoveDir(std::path::PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = RemoveDir(config_dir.clone());
    let inst = fleet.adopt(spec);
    fleet.start_all().unwrap();
    let out = std::process::Command::new("vtysh").args(["-N", &name, "-c", "show daemons"]).output().unwrap();
    let daemons = String::from_utf8_lossy(&out.stdout).into_owned();
    for d in frr::instance::needed_daemons(Path::new(frr::instance::FRR_SBIN_DIR)).iter().chain([&"watchfrr".into()]) {
        assert!(daemons.split_whitespace().any(|w| w == d), "vtysh -N {name}: {daemons:?}");
    }
    assert!(Path::new(&format!("/var/run/frr/{name}/watchfrr.started")).exists());
    inst.stop().unwrap();
    assert!(!inst.spec().run_dir.exists());
    assert!(config_dir.join("vtysh.conf").exists());
}
