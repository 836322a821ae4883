//! Loads every representative config into real FRR daemons and checks that
//! the canonical rendering is what FRR prints back.
//!
//! Needs root and FRR 8.4 (zebra, bgpd, staticd, bfdd, watchfrr, vtysh,
//! frr-reload.py); otherwise the test is skipped with a loud message. Each
//! config gets a fresh instance ([`frr::testing::Fleet`]) in its own uniquely
//! named network namespace and UTS namespace (so that the hostname FRR
//! prints is the config's), all started in parallel; the fleet stops them
//! all at once and deletes the namespaces, even on failure.

mod common;

use frr::testing::{Fleet, skip_loudly, skip_reason};
use frr::{Config, Instance};

const DEFAULT_HOSTNAME: &str = "frr-live";

fn first_difference(expected: &str, actual: &str) -> String {
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let index = exp.iter().zip(act.iter()).position(|(a, b)| a != b).unwrap_or(exp.len().min(act.len()));
    format!("first difference at line {}: expected {:?}, FRR printed {:?}", index + 1, exp.get(index), act.get(index))
}

async fn check(inst: &Instance, name: &str, config: &Config) -> Result<(), String> {
    let file = inst.spec().config_dir.join("loaded.conf");
    std::fs::write(&file, config.render_for(inst.spec().version)).map_err(|e| format!("write: {e}"))?;
    let vtysh = inst.vtysh();
    let file_arg = file.to_string_lossy().into_owned();
    // vtysh -f: load the file as is into the fresh daemons.
    let mut argv = vtysh.base_argv();
    argv.push("-f".into());
    argv.push(file_arg.clone().into());
    let load = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .await
        .map_err(|e| format!("{name}: cannot run vtysh -f: {e}"))?;
    if !load.status.success() {
        return Err(format!(
            "{name}: vtysh -f failed ({}):\n{}{}",
            load.status,
            String::from_utf8_lossy(&load.stdout),
            String::from_utf8_lossy(&load.stderr)
        ));
    }

    let show = vtysh.show_running_config().await.map_err(|e| format!("{name}: {e}"))?;
    let running = config.normalize_running(&show);
    let expected = config.render_for(inst.spec().version);
    if running != expected {
        return Err(format!(
            "{name}: show running-config differs from render(); {}\n--- render() ---\n{}--- FRR (normalised) ---\n{}--- FRR (raw) ---\n{show}",
            first_difference(&expected, &running),
            config.render_redacted_for(inst.spec().version),
            running,
        ));
    }

    let outcome = inst.frr_reload().test(&file).await.map_err(|e| format!("{name}: {e}"))?;
    // Without a configured hostname, frr-reload offers to remove FRR's
    // (the system's) hostname: that is expected.
    let wanted: Vec<String> = outcome
        .delta
        .removed
        .iter()
        .chain(&outcome.delta.added)
        .filter(|l| {
            config.hostname.is_some() || !(l.line.starts_with("hostname ") || l.line.starts_with("no hostname "))
        })
        .map(ToString::to_string)
        .collect();
    if !wanted.is_empty() {
        return Err(format!("{name}: frr-reload.py --test wants changes:\n{}", wanted.join("\n")));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frr_prints_back_the_canonical_rendering() {
    if let Some(reason) = skip_reason() {
        skip_loudly("live FRR canonical rendering", &reason);
        return;
    }
    let configs = common::representative();
    let mut fleet = Fleet::new();
    let mut instances = Vec::new();
    for (name, config) in &configs {
        let hostname = config.hostname.as_deref().unwrap_or(DEFAULT_HOSTNAME);
        let inst = fleet.add_instance("frrlive", Some(hostname)).unwrap();
        let netns = fleet.namespaces().last().cloned().unwrap();
        frr::testing::enable_forwarding(&netns).unwrap();
        instances.push((inst, *name, config));
    }
    fleet.start_all().unwrap();
    let mut failures = Vec::new();
    for (inst, name, config) in &instances {
        if let Err(err) = check(inst, name, config).await {
            failures.push(err);
        }
    }
    let checked = configs.len();
    drop(fleet);
    assert!(failures.is_empty(), "{} of {checked} configs failed:\n\n{}", failures.len(), failures.join("\n\n"));
    eprintln!("live FRR: {checked} configs loaded, printed back canonically, empty reload delta");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv6_l3vpn_prints_back_canonically_on_frr_10() {
    if let Some(reason) = skip_reason() {
        skip_loudly("live FRR SRv6 rendering", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let Some(inst) = common::srv6_instance(&mut fleet, "frrsrv6", "srv6-live", "live FRR SRv6 rendering") else {
        return;
    };
    let result = check(&inst, "srv6_l3vpn", &common::srv6_l3vpn()).await;
    drop(fleet);
    result.unwrap();
}
