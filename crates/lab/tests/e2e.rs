//! The lab running the real thing: `lab up` with one node agent per node (PE configuration
//! `examples/lab/openpe.yaml`), every `lab check` scenario, `lab down`, and nothing left behind;
//! once with FRR node speakers, once with BIRD on node0 and GoBGP on node1; and, on FRR 10, the
//! SRv6 fabric (`examples/lab-srv6/openpe.yaml`) with its own scenarios; and the IPv6-only
//! underlay (numbered and unnumbered sessions) with the scenarios that hold on it. On FRR 10 the
//! first lab then runs the configuration churn drill, with a fixed seed, once the smaller labs
//! are done.
//!
//! Needs root, FRR, VRF devices and the `openperouter` binary (built next to this test by
//! `scripts/vm-test -p lab --test e2e`, which runs it in the VM). Without VRFs it skips loudly,
//! unless `OPR_REQUIRE_VRF=1` (set by scripts/vm-test), where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lab::fabric::LabSpec;
use lab::speaker::SpeakerKind;
use lab::{LabOptions, pe::PeOptions};

struct Guard(String);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = lab::down(&self.0, Path::new(lab::DEFAULT_RUN_ROOT), 2) {
            eprintln!("cleanup of lab {}: {e}", self.0);
        }
    }
}

/// `target/<profile>/openperouter`, next to `target/<profile>/deps/<this test>`.
fn openperouter() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("openperouter");
    bin.exists().then_some(bin)
}

/// The churn drill's sequence here: it toggles BFD on the ToR session (which runs no BFD) and
/// later the passthrough's IPv6 pool, which resets that session (see `frr::delta`'s
/// `bfd_resets`), besides adding, removing and changing every kind of resource. Other sequences:
/// `OPR_CHURN_SEED=N openperouter lab check --only churn` (without it, a seed from the clock).
const CHURN_SEED: u64 = 1796593219770215945;

/// On FRR 10 (what users run) the configuration churn drill follows, on the same lab.
#[test]
fn lab_with_pes_passes_every_scenario() {
    let churn = frr::FrrVersion::installed(Path::new("/usr/lib/frr")).is_some_and(|v| v.at_least(10, 0));
    if !churn {
        eprintln!("!!! the configuration churn drill is left out: it runs on FRR 10 in scripts/test !!!");
    }
    run_lab_then("e", &[SpeakerKind::Frr], false, false, churn);
}

/// The speakers Calico (BIRD) and Cilium (GoBGP, no listener, routes installed by the lab)
/// run, side by side: node0 BIRD, node1 GoBGP.
#[test]
fn lab_with_bird_and_gobgp_speakers_passes_every_scenario() {
    whole_lab("s", &[SpeakerKind::Bird, SpeakerKind::Gobgp]);
}

/// The two smaller labs (SRv6, IPv6 underlay) run one after the other, beside the two whole
/// ones: four labs at once overload the emulated VM. The churn drill takes the same turn.
static SMALL_LABS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The SRv6 fabric (FRR ≥ 10): VRF red as an L3VPN over SRv6 to leafS, VRF blue over EVPN.
#[test]
fn lab_with_an_srv6_fabric_passes_every_scenario() {
    let version = frr::FrrVersion::installed(Path::new("/usr/lib/frr"));
    if !version.is_some_and(|v| v.at_least(10, 0)) {
        eprintln!("!!! SKIPPED: the SRv6 fabric needs FRR 10 (SRv6 micro-SIDs); this FRR is {version:?} !!!");
        return;
    }
    let _one_at_a_time = SMALL_LABS.lock().unwrap_or_else(|e| e.into_inner());
    run_lab("r", &[SpeakerKind::Frr], true, false);
}

/// The IPv6-only underlay: node0 peers with the ToR over IPv6, node1 unnumbered; IPv4 VTEPs.
#[test]
fn lab_with_an_ipv6_underlay_passes_every_scenario() {
    let _one_at_a_time = SMALL_LABS.lock().unwrap_or_else(|e| e.into_inner());
    run_lab("v", &[SpeakerKind::Frr], false, true);
}

fn whole_lab(tag: &str, speakers: &[SpeakerKind]) {
    run_lab(tag, speakers, false, false);
}

fn run_lab(tag: &str, speakers: &[SpeakerKind], srv6: bool, ipv6: bool) {
    run_lab_then(tag, speakers, srv6, ipv6, false);
}

/// The lab, every scenario, then the churn drill when `churn`.
fn run_lab_then(tag: &str, speakers: &[SpeakerKind], srv6: bool, ipv6: bool, churn: bool) {
    if let Some(why) = lab::control::missing_prerequisite() {
        assert!(std::env::var("OPR_REQUIRE_VRF").as_deref() != Ok("1"), "lab prerequisites missing: {why}");
        eprintln!("!!! SKIPPED: {why} !!!");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if !rt.block_on(lab::control::kernel_has_vrf()).unwrap() {
        assert!(std::env::var("OPR_REQUIRE_VRF").as_deref() != Ok("1"), "OPR_REQUIRE_VRF=1 but no VRF devices");
        eprintln!("!!! SKIPPED: this kernel has no VRF devices (run it with scripts/vm-test -p lab --test e2e) !!!");
        return;
    }
    let program = openperouter().expect("the openperouter binary next to the test (cargo build -p openperouter)");
    let name = format!("{tag}{}", std::process::id() % 100_000);
    let _guard = Guard(name.clone());
    let spec = LabSpec { prefix: name.clone(), nodes: 2, vrf: true, speakers: speakers.to_vec(), srv6, ipv6 };
    let mut options = LabOptions::new(spec);
    options.wait_timeout = Duration::from_secs(150);
    options.pe = Some(PeOptions { config: None, program: program.clone() });
    options.program = Some(program);
    let start = Instant::now();
    let lab = rt.block_on(lab::up(&options, &mut |l| eprintln!("  {l}"))).expect("lab up");
    eprintln!("lab up with PEs in {:.1} s", start.elapsed().as_secs_f64());
    let status = rt.block_on(lab::status(&lab));
    eprintln!("{status}");
    for i in 0..2 {
        let want = lab::speaker::kind_of(speakers, i);
        assert!(status.speakers.iter().any(|s| s.node == i && s.kind == want), "node{i} is not {want}: {status}");
    }
    let mut report = rt.block_on(lab::check::run(&lab, &[], &[], &mut |o| {
        eprintln!("  {:?} {} ({:.1} s)", o.verdict, o.name, o.took.as_secs_f64())
    }));
    eprintln!("{report}");
    if churn && report.passed() {
        // Not beside the smaller labs: the drill alone loads the emulated VM for 8-9 minutes.
        let _alone = SMALL_LABS.lock().unwrap_or_else(|e| e.into_inner());
        report = rt.block_on(lab::check::run_churn(&lab, Some(CHURN_SEED)));
        eprintln!("{report}");
    }
    if !report.passed() {
        // The lab is removed on the way out: its logs are the only trace of why.
        for i in 0..2 {
            eprintln!("== logs of node{i} (lab {name})\n{}", lab::pe::log_tails(&name, &options.dir(), i, 60));
        }
    }
    assert!(report.passed(), "{report}");
    let down = lab::down(&name, Path::new(lab::DEFAULT_RUN_ROOT), 2).expect("lab down");
    assert_eq!(down.agents.len(), 2, "{down:?}");
    // BIRD: one process; GoBGP: gobgpd and the route installer.
    let own: usize = (0..2)
        .map(|i| match lab::speaker::kind_of(speakers, i) {
            SpeakerKind::Frr => 0,
            SpeakerKind::Bird => 1,
            SpeakerKind::Gobgp => 2,
        })
        .sum();
    assert_eq!(down.speakers.len(), own, "{down:?}");
    // Each node's ovsdb-server and ovs-vswitchd, when Open vSwitch is installed.
    let ovs_daemons = if lab::ovs::missing().is_none() { 4 } else { 0 };
    assert_eq!(down.ovs.len(), ovs_daemons, "{down:?}");
    assert!(kernel::NetNs::list().iter().all(|n| !n.starts_with(&format!("{name}-"))));
    assert!(lab::control::processes_under(&options.dir()).is_empty());
}
