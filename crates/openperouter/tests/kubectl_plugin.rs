//! The binary as a kubectl plugin: called `kubectl-openperouter`, `status` reads the cluster;
//! called `openperouter`, `status` asks the local host agent unless `--cluster` is given.

use std::process::Command;

/// Runs the binary under `name` with no cluster credentials anywhere it could find them.
fn run_as(name: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_openperouter"), &program).expect("symlink");
    let out = Command::new(&program)
        .args(args)
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .env("HOME", dir.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("run");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn kubectl_openperouter_status_reads_the_cluster() {
    let (ok, out) = run_as("kubectl-openperouter", &["status"]);
    assert!(!ok);
    assert!(out.contains("connecting to the Kubernetes API"), "{out}");
    // Its help names it as kubectl shows it.
    let (ok, out) = run_as("kubectl-openperouter", &["status", "--help"]);
    assert!(ok && out.contains("kubectl openperouter status"), "{out}");
}

#[test]
fn openperouter_status_asks_the_host_agent_unless_told_otherwise() {
    let (ok, out) = run_as("openperouter", &["status", "--agent", "127.0.0.1:1"]);
    assert!(!ok);
    assert!(out.contains("connecting to the agent at 127.0.0.1:1"), "{out}");
    let (ok, out) = run_as("openperouter", &["status", "--cluster", "-n", "elsewhere"]);
    assert!(!ok);
    assert!(out.contains("connecting to the Kubernetes API"), "{out}");
    let (ok, out) = run_as("openperouter", &["status", "--namespace", "x"]);
    assert!(!ok && out.contains("--cluster"), "--namespace needs --cluster: {out}");
}
