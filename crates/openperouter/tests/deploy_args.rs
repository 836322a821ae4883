//! Every command line the deployment manifests give the binary is one it accepts: the
//! containers of `config/default` (kustomize) and of the Helm chart with each of its value sets
//! are run with their arguments and `--help`, so an unknown flag or a value out of range fails
//! here rather than in a crash-looping pod. Needs kubectl and helm (`scripts/deps test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rendered(program: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(program)
        .args(args)
        .env("HELM_CACHE_HOME", std::env::temp_dir().join("opr-deploy-args-helm"))
        .env("HELM_CONFIG_HOME", std::env::temp_dir().join("opr-deploy-args-helm"))
        .env("HELM_DATA_HOME", std::env::temp_dir().join("opr-deploy-args-helm"))
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (scripts/deps test installs it)"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout))
        .expect("YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// `(where, args)` of every container that runs our binary.
fn command_lines(objects: &[Value], source: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for w in objects {
        let Some(spec) = w.pointer("/spec/template/spec") else { continue };
        for c in ["initContainers", "containers"].iter().filter_map(|k| spec.get(*k)?.as_array()).flatten() {
            if c.pointer("/command/0").and_then(Value::as_str) != Some("/usr/bin/openperouter") {
                continue;
            }
            let args: Vec<String> =
                c["args"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            let name = format!("{source}: {}/{}", w["metadata"]["name"].as_str().unwrap_or("?"), c["name"]);
            out.push((name, args));
        }
    }
    out
}

#[test]
fn the_binary_accepts_every_command_line_the_manifests_and_the_chart_give_it() {
    let mut lines = command_lines(&rendered("kubectl", &["kustomize", "config/default"]), "config/default");
    let mut value_sets = vec![None];
    for entry in std::fs::read_dir(root().join("charts/openperouter/ci")).expect("chart value sets") {
        value_sets.push(Some(entry.expect("entry").path()));
    }
    for values in &value_sets {
        let mut args = vec!["template", "opr", "charts/openperouter", "--namespace", "openperouter-system"];
        if let Some(v) = values {
            args.extend(["-f", v.to_str().expect("utf-8")]);
        }
        let source = values.as_ref().map_or("chart".to_string(), |v| v.display().to_string());
        lines.extend(command_lines(&rendered("helm", &args), &source));
    }
    assert!(lines.len() >= 4 * value_sets.len(), "controller, reloader, nodemarker, webhook: {lines:?}");
    for (name, args) in &lines {
        // Kubernetes fills in $(VAR) from the container's env; any word does for parsing.
        let args: Vec<String> =
            args.iter().map(|a| a.replace("$(NODE_NAME)", "node-0").replace("$(NAMESPACE)", "ns")).collect();
        let out = Command::new(env!("CARGO_BIN_EXE_openperouter")).args(&args).arg("--help").output().expect("run");
        assert!(out.status.success(), "{name}: {args:?} is refused: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The check can fail: a flag the binary does not know is refused.
    let (_, first) = &lines[0];
    let out = Command::new(env!("CARGO_BIN_EXE_openperouter"))
        .args(&first[..1])
        .args(["--bgp-listen-limit=0", "--help"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a value out of range must be refused before --help");
}
