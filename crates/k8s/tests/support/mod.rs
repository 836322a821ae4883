//! Reading rendered Kubernetes objects (kustomize or helm output as JSON values): the helpers
//! the manifest and chart tests share. Each test file uses a part of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The YAML documents of a rendering, empty ones dropped.
pub fn parse_documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The string at `pointer` (empty when absent).
pub fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// `Kind/name`.
pub fn id(v: &Value) -> String {
    format!("{}/{}", s(v, "/kind"), s(v, "/metadata/name"))
}

/// The object of that kind and name (the test fails without it).
pub fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| s(o, "/kind") == kind && s(o, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is not rendered"))
}

/// The objects of a kind.
pub fn of_kind<'a>(objects: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    objects.iter().filter(move |o| s(o, "/kind") == kind)
}

/// Numbers compare by value (kustomize may re-print 1.0 as 1), everything else exactly.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// Every container of a workload, init containers included, with the pod spec.
pub fn containers(workload: &Value) -> Vec<&Value> {
    let spec = workload.pointer("/spec/template/spec").expect("pod template");
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec.get(*k).and_then(Value::as_array).into_iter().flatten())
        .collect()
}

pub fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    containers(workload)
        .into_iter()
        .find(|c| s(c, "/name") == name)
        .unwrap_or_else(|| panic!("{}: no container {name}", id(workload)))
}

/// The strings of the list `key` of `v` (empty when absent).
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// A container's args.
pub fn args(c: &Value) -> Vec<String> {
    strings(c, "args")
}

/// The value of `--flag=value` in a container's args.
pub fn flag(c: &Value, name: &str) -> String {
    let prefix = format!("--{name}=");
    args(c)
        .iter()
        .find_map(|a| a.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("container {} has no {prefix}", s(c, "/name")))
}

/// The port of `host:port`.
pub fn port_of(addr: &str) -> u64 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{addr:?} has no port"))
}

/// The hostPath behind a file path of a container (through its volume mounts).
pub fn host_path(workload: &Value, c: &Value, file: &str) -> String {
    let mounts = c.get("volumeMounts").and_then(Value::as_array).expect("volume mounts");
    let mount = mounts
        .iter()
        .filter(|m| file.starts_with(s(m, "/mountPath")))
        .max_by_key(|m| s(m, "/mountPath").len())
        .unwrap_or_else(|| panic!("{file} is on no volume of {}", s(c, "/name")));
    let volumes = workload.pointer("/spec/template/spec/volumes").and_then(Value::as_array).expect("volumes");
    let volume = volumes.iter().find(|v| s(v, "/name") == s(mount, "/name")).expect("mounted volume exists");
    let host = s(volume, "/hostPath/path");
    assert!(!host.is_empty(), "{file} must be on a hostPath volume");
    format!("{host}{}", &file[s(mount, "/mountPath").len()..])
}

/// The ports a container's HTTP probes use.
pub fn probe_ports(c: &Value) -> Vec<u64> {
    ["livenessProbe", "readinessProbe", "startupProbe"]
        .iter()
        .filter_map(|p| c.get(*p))
        .map(|p| p.pointer("/httpGet/port").and_then(Value::as_u64).expect("numeric probe port"))
        .collect()
}
