//! The shipped systemd units and FRR daemons file (`dist/`): systemd accepts every line, and
//! the agent accepts the command line the unit runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `ExecStart=` of a unit, continuation lines joined, split into words.
fn exec_start(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined.lines().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
    line.trim_start_matches("ExecStart=").split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_agent_accepts_the_units_command_line() {
    let argv = exec_start(&read("dist/systemd/openperouter.service"));
    assert_eq!(argv[0], "/usr/local/bin/openperouter");
    assert!(argv.iter().any(|a| a == "host"), "{argv:?}");
    // Every flag must be known: clap rejects an unknown one before it gets to --help.
    let out = Command::new(env!("CARGO_BIN_EXE_openperouter")).args(&argv[1..]).arg("--help").output().unwrap();
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    let bogus = Command::new(env!("CARGO_BIN_EXE_openperouter"))
        .args(&argv[1..])
        .args(["--no-such-flag", "--help"])
        .output()
        .unwrap();
    assert!(!bogus.status.success(), "an unknown flag must be refused");
}

#[test]
fn systemd_accepts_every_unit_line() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("!!! SKIPPED: systemd-analyze is not installed !!!");
        return;
    };
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("opr-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The agent's unit, pointing at the binary built here (verify checks it is executable).
    let agent = read("dist/systemd/openperouter.service")
        .replace("/usr/local/bin/openperouter", env!("CARGO_BIN_EXE_openperouter"));
    std::fs::write(dir.join("openperouter.service"), agent).unwrap();
    // The template, instantiated.
    std::fs::write(dir.join("openperouter-netns@perouter.service"), read("dist/systemd/openperouter-netns@.service"))
        .unwrap();
    // The FRR drop-in, as a whole unit of its own (its directives are what matters).
    let dropin = read("dist/systemd/frr@perouter.service.d/openperouter.conf");
    std::fs::write(
        dir.join("frr-dropin-check.service"),
        format!("{dropin}\n[Service]\nType=oneshot\nExecStart=/bin/true\n"),
    )
    .unwrap();
    let units = ["openperouter.service", "openperouter-netns@perouter.service", "frr-dropin-check.service"];
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.join(u)))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about the units themselves (not about this machine's other units).
    let ours: Vec<&str> = stderr.lines().filter(|l| units.iter().any(|u| l.contains(u))).collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(ours.is_empty(), "systemd-analyze verify:\n{}", ours.join("\n"));
}

#[test]
fn the_pathspace_daemons_file_runs_bgp_bfd_and_isis_and_keeps_routes_on_restart() {
    let daemons = read("dist/frr/perouter/daemons");
    let value = |key: &str| {
        daemons.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} missing"))
    };
    assert_eq!(value("bgpd"), "yes");
    assert_eq!(value("bfdd"), "yes");
    // IS-IS carries the SRv6 underlay.
    assert_eq!(value("isisd"), "yes");
    let zebra = value("zebra_options");
    assert!(zebra.contains("-K 60") && zebra.contains("-s 90000000"), "{zebra}");
}

#[test]
fn the_pathspace_drop_in_runs_the_units_command_in_pathspace_mode() {
    let unit = exec_start(&read("dist/systemd/openperouter.service"));
    let dropin = read("dist/systemd/openperouter.service.d/pathspace.conf").replace("\\\n", " ");
    let lines: Vec<&str> = dropin.lines().filter(|l| l.starts_with("ExecStart=")).collect();
    // An empty ExecStart= first: the drop-in replaces the unit's command instead of adding one.
    assert_eq!(lines.first(), Some(&"ExecStart="), "{lines:?}");
    let argv: Vec<String> = lines[1].trim_start_matches("ExecStart=").split_whitespace().map(str::to_string).collect();
    let mut without = argv.clone();
    for pair in [["--frr-mode", "pathspace"], ["--frr-restart-unit", "frr@perouter"]] {
        let at = without.windows(2).position(|w| w == pair).unwrap_or_else(|| panic!("{pair:?} missing: {argv:?}"));
        without.drain(at..at + 2);
    }
    assert_eq!(
        without, unit,
        "the drop-in's command is the unit's plus --frr-mode pathspace and --frr-restart-unit frr@perouter"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_openperouter")).args(&argv[1..]).arg("--help").output().unwrap();
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    // Started after FRR's pathspace instance, which it configures.
    assert!(dropin.contains("After=frr@perouter.service"), "{dropin}");
}
