//! Golden scenarios: every `tests/scenarios/*.yaml` is loaded, planned for one node and its FRR
//! configuration and kernel state are pinned as insta snapshots. Every rendered configuration is
//! also fed to the installed FRR's `vtysh -C -f` (a real syntax check).
//!
//! A scenario may start with `# node: N` to plan for node index N (default 0). The node is named
//! `worker-N` and carries the label `rack=r1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenario dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "expected at least 30 scenarios, found {}", files.len());
    files
}

fn plan_for(path: &Path) -> plan::NodePlan {
    let text = std::fs::read_to_string(path).expect("read scenario");
    let index = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# node: "))
        .map(|n| n.trim().parse::<u32>().expect("node index"))
        .unwrap_or(0);
    let mut loaded = api::load::Loaded::default();
    api::load::load_str(&text, path, &mut loaded).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let labels = BTreeMap::from([("rack".to_string(), "r1".to_string())]);
    let node = plan::Node { name: format!("worker-{index}"), index, labels };
    plan::plan_node(&plan::Resources::from(&loaded), &node, &plan::Options::default())
}

fn name_of(path: &Path) -> String {
    path.file_stem().expect("stem").to_string_lossy().into_owned()
}

#[test]
fn frr_goldens() {
    for path in scenarios() {
        let plan = plan_for(&path);
        let frr = match &plan.frr {
            Some(c) => c.render(),
            None => "# FRR left unchanged: the Underlay is invalid\n".to_string(),
        };
        let outcomes: Vec<String> = plan.failed_resources.iter().map(ToString::to_string).collect();
        let snapshot = format!("{frr}\n# outcomes: {:?}\n{}", plan.verdict, outcomes.join("\n"));
        insta::assert_snapshot!(format!("frr-{}", name_of(&path)), snapshot);
    }
}

#[test]
fn kernel_goldens() {
    for path in scenarios() {
        let plan = plan_for(&path);
        let json = serde_json::to_string_pretty(&plan.kernel).expect("kernel json");
        insta::assert_snapshot!(format!("kernel-{}", name_of(&path)), json);
    }
}

/// The underlay interfaces CNI plugins make, for the scenarios that have any.
#[test]
fn cni_goldens() {
    let mut with_cni = 0;
    for path in scenarios() {
        let plan = plan_for(&path);
        if plan.cni.is_empty() {
            continue;
        }
        with_cni += 1;
        let json = serde_json::to_string_pretty(&plan.cni).expect("cni json");
        insta::assert_snapshot!(format!("cni-{}", name_of(&path)), json);
    }
    assert!(with_cni >= 1, "no scenario plans a CNI-made underlay interface");
}

#[test]
fn every_golden_passes_frr_syntax_check() {
    if !frr::vtysh_available() {
        eprintln!("!!! SKIPPED: vtysh is not installed; `apt-get install frr` to run the FRR syntax check !!!");
        return;
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    let installed = frr::FrrVersion::installed(Path::new(frr::instance::FRR_SBIN_DIR));
    let srv6 = installed.is_some_and(|v| v.at_least(10, 0));
    for path in scenarios() {
        let plan = plan_for(&path);
        let Some(config) = &plan.frr else { continue };
        if config.needs_srv6() && !srv6 {
            eprintln!("{}: not checked: SRv6 needs FRR 10 (installed: {installed:?})", name_of(&path));
            continue;
        }
        checked += 1;
        if let Err(e) = frr::check_syntax(&config.render()) {
            failures.push(format!("{}: {e}", name_of(&path)));
        }
    }
    assert!(checked >= 30, "only {checked} scenarios produced a configuration");
    assert!(failures.is_empty(), "vtysh -C rejected:\n{}", failures.join("\n"));
}

#[test]
fn passwords_never_leak_into_redacted_output_or_debug() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/neighbor-session-options.yaml");
    let plan = plan_for(&path);
    let config = plan.frr.as_ref().expect("config");
    assert!(config.render().contains("password s3cr3t-pw"), "the config file carries the password");
    assert!(!config.render_redacted().contains("s3cr3t-pw"));
    assert!(!format!("{plan:?}").contains("s3cr3t-pw"));
    assert!(!serde_json::to_string(&plan).expect("json").contains("s3cr3t-pw"));
}

#[test]
fn planning_is_deterministic() {
    for path in scenarios() {
        let a = plan_for(&path);
        let b = plan_for(&path);
        assert_eq!(a, b, "{}", path.display());
    }
}
