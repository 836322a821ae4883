//! The one place that talks to the Open vSwitch database.
//!
//! ## Why `ovs-vsctl` and not the OVSDB protocol
//!
//! OVSDB is JSON-RPC (RFC 7047) on a unix socket, and speaking it directly would spare a
//! process per call. The Rust clients on crates.io were checked (December 2026): `ovsdb-client`
//! (one 0.0.1 release, async on jsonrpsee, mostly undocumented) and `ovsdb` (0.0.6, "heavily
//! WIP", last released early 2024, models generated from the schema at build time). Neither is
//! maintained enough to carry a production datapath, and both pull an async runtime into a
//! crate that is synchronous on purpose. `ovs-vsctl` ships with every Open vSwitch, is the
//! interface OVS documents and keeps stable, and does what we need in one transaction per
//! call: reads with `--format=json` and `--columns`, writes with `--may-exist`/`--if-exists`
//! so a repeated step is harmless. A reconcile reads once (one process) and writes only when
//! the pure diff found something to do, so a no-op reconcile spawns one reader and no writer.
//!
//! Every call names the database socket (`--db`) and has a deadline (`--timeout`), so a dead
//! `ovs-vswitchd` or database turns into an error instead of a hung reconcile.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{OvsAction, OvsBridgeState, OvsObserved};

/// The tag a bridge we create carries in `external_ids`.
pub const CREATED_BY_KEY: &str = "created-by";
/// Its value.
pub const CREATED_BY_VALUE: &str = "openperouter";

/// Seconds `ovs-vsctl` may wait for the database (and, on writes, for `ovs-vswitchd`).
const TIMEOUT_SECS: u32 = 10;

/// What can go wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    /// `ovs-vsctl` could not be run.
    #[error("cannot run {program}: {source} (is Open vSwitch installed?)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// `ovs-vsctl` ran and failed.
    #[error("ovs-vsctl --db={db} {what} failed: {message}")]
    Failed {
        /// The database socket.
        db: String,
        /// What was asked.
        what: String,
        /// Its standard error.
        message: String,
    },
    /// The answer could not be read.
    #[error("ovs-vsctl --db={db}: unexpected answer to {what}: {message}")]
    Parse {
        /// The database socket.
        db: String,
        /// What was asked.
        what: String,
        /// What did not fit.
        message: String,
    },
}

/// A connection setting for one Open vSwitch database.
#[derive(Debug, Clone)]
pub struct Ovsdb {
    /// The database socket, as OVS spells it (`unix:/var/run/openvswitch/db.sock`).
    db: String,
    /// `datapath_type` of the bridges we create (`None`: Open vSwitch's default, the kernel
    /// datapath; `netdev` for the userspace datapath of DPDK hosts and kernels without the
    /// openvswitch module).
    datapath_type: Option<String>,
    /// The `ovs-vsctl` program.
    program: PathBuf,
    /// Write transactions made so far.
    writes: u64,
}

/// The default database socket.
pub const DEFAULT_SOCKET: &str = "unix:/var/run/openvswitch/db.sock";

impl Ovsdb {
    /// The database at `db` (`unix:PATH`, or any remote `ovs-vsctl --db` accepts).
    pub fn new(db: impl Into<String>, datapath_type: Option<String>) -> Ovsdb {
        Ovsdb {
            db: db.into(),
            datapath_type: datapath_type.filter(|t| !t.is_empty()),
            program: PathBuf::from("ovs-vsctl"),
            writes: 0,
        }
    }

    /// The database socket.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Write transactions made through this handle so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Whether the database may be reachable: for a `unix:` socket, whether the file exists
    /// (a host without Open vSwitch has none); other remotes are assumed reachable.
    pub fn present(&self) -> bool {
        match self.db.strip_prefix("unix:") {
            Some(path) => std::path::Path::new(path).exists(),
            None => true,
        }
    }

    fn run(&self, args: &[String], what: &str) -> Result<String, OvsError> {
        let out = Command::new(&self.program)
            .arg(format!("--db={}", self.db))
            .arg(format!("--timeout={TIMEOUT_SECS}"))
            .args(args)
            .output()
            .map_err(|source| OvsError::Spawn { program: self.program.display().to_string(), source })?;
        if !out.status.success() {
            let message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let message = if message.is_empty() { format!("exit status {}", out.status) } else { message };
            return Err(OvsError::Failed { db: self.db.clone(), what: what.to_string(), message });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Reads every bridge with its ports' names and whether we created it (one call, one
    /// read-only transaction).
    pub fn observe(&self) -> Result<OvsObserved, OvsError> {
        let what = "list Bridge, Port";
        let args: Vec<String> = [
            "--format=json",
            "--columns=name,ports,external_ids",
            "list",
            "Bridge",
            "--",
            "--columns=_uuid,name",
            "list",
            "Port",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = self.run(&args, what)?;
        parse_observed(&out).map_err(|message| OvsError::Parse { db: self.db.clone(), what: what.to_string(), message })
    }

    /// Runs `actions` as one transaction (all or nothing).
    pub fn transact(&mut self, actions: &[&OvsAction]) -> Result<(), OvsError> {
        if actions.is_empty() {
            return Ok(());
        }
        let mut args: Vec<String> = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            if i > 0 {
                args.push("--".into());
            }
            args.extend(self.command(a));
        }
        let what: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
        self.writes += 1;
        self.run(&args, &what.join("; ")).map(|_| ())
    }

    /// The `ovs-vsctl` words of one action.
    fn command(&self, a: &OvsAction) -> Vec<String> {
        let words: Vec<String> = match a {
            OvsAction::AddBridge { bridge } => {
                let mut w = vec![
                    "--may-exist".into(),
                    "add-br".into(),
                    bridge.clone(),
                    "--".into(),
                    "set".into(),
                    "Bridge".into(),
                    bridge.clone(),
                    format!("external_ids:{CREATED_BY_KEY}={CREATED_BY_VALUE}"),
                ];
                if let Some(t) = &self.datapath_type {
                    w.push(format!("datapath_type={t}"));
                }
                w
            }
            // A new interface's type is empty, which is `system`: the existing netdev.
            OvsAction::AddPort { bridge, port } => {
                vec!["--may-exist".into(), "add-port".into(), bridge.clone(), port.clone()]
            }
            OvsAction::DeletePort { bridge, port } => {
                vec!["--if-exists".into(), "del-port".into(), bridge.clone(), port.clone()]
            }
            OvsAction::DeleteBridge { bridge } => vec!["--if-exists".into(), "del-br".into(), bridge.clone()],
        };
        words
    }
}

/// Reads the two tables `observe` lists (one JSON document per line).
fn parse_observed(out: &str) -> Result<OvsObserved, String> {
    let mut docs = out.lines().filter(|l| !l.trim().is_empty());
    let bridges: Value = serde_json::from_str(docs.next().ok_or("no Bridge table")?).map_err(|e| e.to_string())?;
    let ports: Value = serde_json::from_str(docs.next().ok_or("no Port table")?).map_err(|e| e.to_string())?;
    let mut port_names: HashMap<String, String> = HashMap::new();
    for row in rows(&ports)? {
        let uuid = uuid_of(row.get(0).ok_or("Port row without _uuid")?).ok_or("Port _uuid is not a uuid")?;
        let name = row.get(1).and_then(Value::as_str).ok_or("Port row without a name")?;
        port_names.insert(uuid.to_string(), name.to_string());
    }
    let mut out = OvsObserved::default();
    for row in rows(&bridges)? {
        let name = row.get(0).and_then(Value::as_str).ok_or("Bridge row without a name")?.to_string();
        let mut ports: Vec<String> = set_atoms(row.get(1).ok_or("Bridge row without ports")?)
            .iter()
            .filter_map(|v| uuid_of(v))
            .filter_map(|u| port_names.get(u).cloned())
            .collect();
        ports.sort();
        let ids = map_pairs(row.get(2).ok_or("Bridge row without external_ids")?);
        let created_by_us = ids.iter().any(|(k, v)| k == CREATED_BY_KEY && v == CREATED_BY_VALUE);
        out.bridges.push(OvsBridgeState { name, created_by_us, ports });
    }
    out.bridges.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn rows(table: &Value) -> Result<&Vec<Value>, String> {
    let data = table.get("data").and_then(Value::as_array).ok_or("a table without data")?;
    for r in data {
        if !r.is_array() {
            return Err(format!("a row that is not an array: {r}"));
        }
    }
    Ok(data)
}

/// `["uuid", "…"]` → the uuid.
fn uuid_of(v: &Value) -> Option<&str> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, id]) if tag == "uuid" => id.as_str(),
        _ => None,
    }
}

/// OVSDB's set encoding: `["set", [atoms…]]`, or a single atom on its own.
fn set_atoms(v: &Value) -> Vec<&Value> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, atoms]) if tag == "set" => atoms.as_array().map(|a| a.iter().collect()).unwrap_or_default(),
        _ => vec![v],
    }
}

/// OVSDB's map encoding: `["map", [[key, value]…]]` (string keys and values only).
fn map_pairs(v: &Value) -> Vec<(String, String)> {
    let Some([tag, pairs]) = v.as_array().map(Vec::as_slice) else { return Vec::new() };
    if tag != "map" {
        return Vec::new();
    }
    pairs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| match p.as_array().map(Vec::as_slice) {
            Some([k, v]) => Some((k.as_str()?.to_string(), v.as_str()?.to_string())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bridges_with_port_names_and_our_tag() {
        // As ovs-vsctl 3.1 prints it: a one-element set is the bare atom.
        let out = concat!(
            r#"{"data":[["br-hs-10",["set",[["uuid","a"],["uuid","b"]]],["map",[["created-by","openperouter"]]]],"#,
            r#"["br-ext",["uuid","c"],["map",[]]]],"headings":["name","ports","external_ids"]}"#,
            "\n",
            r#"{"data":[[["uuid","a"],"host-e-10"],[["uuid","b"],"br-hs-10"],[["uuid","c"],"br-ext"]],"headings":["_uuid","name"]}"#,
            "\n"
        );
        let o = parse_observed(out).unwrap();
        assert_eq!(
            o.bridges,
            vec![
                OvsBridgeState { name: "br-ext".into(), created_by_us: false, ports: vec!["br-ext".into()] },
                OvsBridgeState {
                    name: "br-hs-10".into(),
                    created_by_us: true,
                    ports: vec!["br-hs-10".into(), "host-e-10".into()]
                },
            ]
        );
    }

    #[test]
    fn a_truncated_answer_is_an_error() {
        assert!(parse_observed(r#"{"data":[],"headings":[]}"#).is_err());
        assert!(parse_observed("not json\n{}").is_err());
    }

    #[test]
    fn managed_bridge_is_tagged_and_gets_the_datapath_type() {
        let db = Ovsdb::new("unix:/x", Some("netdev".into()));
        let w = db.command(&OvsAction::AddBridge { bridge: "br-hs-5".into() });
        assert_eq!(
            w.join(" "),
            "--may-exist add-br br-hs-5 -- set Bridge br-hs-5 external_ids:created-by=openperouter datapath_type=netdev"
        );
        let db = Ovsdb::new("unix:/x", Some(String::new()));
        let w = db.command(&OvsAction::AddBridge { bridge: "br-hs-5".into() });
        assert!(!w.join(" ").contains("datapath_type"));
    }
}
