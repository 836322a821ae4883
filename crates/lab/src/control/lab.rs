//! The lab as data: its options, names, FRR instances and speakers, and what can go wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use frr::instance::{Instance, InstanceSpec, NetnsRef};

use crate::build::BuildError;
use crate::fabric::{LabSpec, Role, Topology};
use crate::speaker::Speaker;

/// Where lab run directories live by default.
pub const DEFAULT_RUN_ROOT: &str = "/run/openperouter-lab";
pub(super) const CONF_FILE: &str = "lab.conf";
/// The daemons of a lab router (watchfrr on top; the ToR adds bfdd): each daemon costs about
/// 0.5 s to start under the VM's TCG emulation, and the fabric needs no static routes.
pub(super) const LAB_DAEMONS: &[&str] = &["zebra", "bgpd"];

/// What `up`, `status` and `down` work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOptions {
    /// Prefix, node count, VRFs.
    pub spec: LabSpec,
    /// Parent of the lab's run directory.
    pub run_root: PathBuf,
    /// How long [`up`] waits for every fabric session to be Established.
    pub wait_timeout: Duration,
    /// PE routers: one node agent per node filling the router namespace (None: left empty).
    pub pe: Option<crate::pe::PeOptions>,
    /// This `openperouter` program, which runs the route installer of GoBGP nodes (falls back
    /// to the PE options' program).
    pub program: Option<PathBuf>,
    /// Make [`up`] fail once FRR runs (tests its cleanup).
    #[doc(hidden)]
    pub fail_after_start: bool,
}

impl LabOptions {
    /// Options for a lab with default run root and timeout.
    pub fn new(spec: LabSpec) -> Self {
        LabOptions {
            spec,
            run_root: PathBuf::from(DEFAULT_RUN_ROOT),
            wait_timeout: Duration::from_secs(90),
            pe: None,
            program: None,
            fail_after_start: false,
        }
    }

    /// The lab's run directory.
    pub fn dir(&self) -> PathBuf {
        self.run_root.join(&self.spec.prefix)
    }
}

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab name {0:?} is invalid: use 1 to 12 ASCII letters and digits, starting with a letter")]
    BadName(String),
    #[error("a lab named {name} already exists ({what}); remove it with `openperouter lab down --name {name}`")]
    Exists { name: String, what: String },
    #[error("no lab named {0} (no {1})")]
    NotFound(String, String),
    #[error(
        "this kernel ({release}) cannot create VRF devices, which the leaves' tenant VRFs need.\n  \
         Run the lab in a VM with a stock kernel: openperouter lab up --vm\n  \
         or without tenant VRFs on this kernel:   openperouter lab up --no-vrf"
    )]
    NoVrf { release: String },
    #[error("{0}")]
    Prerequisite(String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Frr(#[from] frr::instance::InstanceError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fabric sessions not Established after {waited:?}:\n{pending}")]
    NotEstablished { waited: Duration, pending: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("failure injected after FRR started (LabOptions::fail_after_start)")]
    Injected,
    #[error("PE: {0}")]
    Pe(String),
    #[error("node speaker: {0}")]
    Speaker(String),
    #[error("cleanup left things behind: {0}")]
    Leftovers(String),
}

pub(super) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LabError {
    let path = path.to_path_buf();
    move |source| LabError::Io { what, path, source }
}

/// Checks a lab name (it prefixes namespace names, so it stays short and plain).
pub fn check_name(name: &str) -> Result<(), LabError> {
    let ok = !name.is_empty()
        && name.len() <= 12
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.starts_with(|c: char| c.is_ascii_alphabetic());
    if ok { Ok(()) } else { Err(LabError::BadName(name.to_string())) }
}

/// A lab that [`up`] built (or that [`Lab::open`] found).
#[derive(Debug, Clone)]
pub struct Lab {
    /// The options it was built with (node count and VRFs from its `lab.conf`).
    pub options: LabOptions,
    /// Its topology.
    pub topology: Topology,
    /// Whether node agents run the PEs (from `lab.conf`: `pe yes`).
    pub with_pe: bool,
}

impl Lab {
    /// Node `index`'s BGP speaker.
    pub fn speaker(&self, index: u32) -> Speaker {
        Speaker::new(&self.options.spec, &self.options.dir(), index, self.instance(&format!("node{index}")))
    }

    pub(super) fn from_options(options: LabOptions) -> Lab {
        Lab { topology: Topology::new(&options.spec), with_pe: options.pe.is_some(), options }
    }

    /// The lab named `prefix` under `run_root`, from its `lab.conf`.
    pub fn open(prefix: &str, run_root: &Path) -> Result<Lab, LabError> {
        check_name(prefix)?;
        let dir = run_root.join(prefix);
        let conf = dir.join(CONF_FILE);
        let text = std::fs::read_to_string(&conf)
            .map_err(|_| LabError::NotFound(prefix.to_string(), conf.display().to_string()))?;
        let mut spec = LabSpec { prefix: prefix.to_string(), ..LabSpec::default() };
        let mut with_pe = false;
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("nodes", n)) => spec.nodes = n.trim().parse().unwrap_or(spec.nodes),
                Some(("vrf", v)) => spec.vrf = v.trim() == "yes",
                Some(("pe", v)) => with_pe = v.trim() == "yes",
                Some(("srv6", v)) => spec.srv6 = v.trim() == "yes",
                Some(("ipv6", v)) => spec.ipv6 = v.trim() == "yes",
                Some(("speakers", v)) => {
                    spec.speakers = crate::speaker::parse_list(v.trim(), spec.nodes).unwrap_or_default();
                }
                _ => {}
            }
        }
        let mut options = LabOptions::new(spec);
        options.run_root = run_root.to_path_buf();
        let mut lab = Lab::from_options(options);
        lab.with_pe = with_pe;
        Ok(lab)
    }

    /// The FRR instance of a routing namespace, by short name (`spine`, `leafA`, `tor`, `node0`).
    pub fn instance(&self, short: &str) -> Option<Instance> {
        let ns = self.topology.namespace(short)?;
        ns.frr.as_ref()?;
        let dir = self.options.dir().join(short);
        let mut spec =
            InstanceSpec::private(ns.name.clone(), NetnsRef::Name(ns.name.clone()), dir.join("run"), dir.join("etc"));
        spec.hostname = Some(short.to_string());
        // The lab's daemons, plus mgmtd where the installed FRR needs it (FRR ≥ 9: without it
        // zebra never gets the `vrf X / vni N` configuration, so L3 VNIs stay L2).
        spec.daemons.retain(|d| LAB_DAEMONS.contains(&d.as_str()) || d == "mgmtd");
        // Under the VM's emulation on a busy machine a daemon can take 10+ s to start.
        spec.start_timeout = Duration::from_secs(120);
        if ns.role == Role::Tor {
            // BFD towards the PEs is a fabric feature worth testing; nothing else needs bfdd.
            spec.daemons.push("bfdd".to_string());
        }
        if self.options.spec.srv6 && (ns.role == Role::Tor || short == "leafS") {
            spec.daemons.push("isisd".to_string());
        }
        Some(Instance::new(spec))
    }

    /// Every FRR instance, `(short name, instance)`, in topology order.
    pub fn instances(&self) -> Vec<(String, Instance)> {
        self.topology.namespaces.iter().filter_map(|n| Some((n.short.clone(), self.instance(&n.short)?))).collect()
    }

    /// The full namespace name of a short name.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.options.spec.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("opr").is_ok());
        assert!(check_name("t123ab").is_ok());
        for bad in ["", "1abc", "a-b", "abcdefghijklm", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
