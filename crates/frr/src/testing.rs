//! Helpers for tests and the lab: throwaway network namespaces and FRR
//! instances that clean up after themselves.
//!
//! A [`Fleet`] owns everything it creates: uniquely named namespaces
//! (`PREFIX-PID-N`), temporary directories and instances. Dropping it (also
//! when a test panics) stops every instance at once, then deletes the
//! namespaces it created (by name) and the directories.

use std::io;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::instance::{self, Instance, InstanceError, InstanceSpec, NetnsRef};

/// How many instances [`Fleet::start_all`] starts at once.
pub const START_WAVE: usize = 4;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique on this machine for this process: `PREFIX-PID-N`.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Why live FRR tests cannot run here (not root, FRR or a tool missing).
pub fn skip_reason() -> Option<String> {
    let probe = InstanceSpec::private("probe", NetnsRef::Name("probe".into()), "/nonexistent", "/nonexistent");
    if let Some(reason) = instance::missing_prerequisite(&probe) {
        return Some(reason);
    }
    if !Path::new(crate::reload::FRR_RELOAD_SCRIPT).is_file() {
        return Some(format!("{} is missing (apt-get install frr-pythontools)", crate::reload::FRR_RELOAD_SCRIPT));
    }
    for tool in ["ip", "nsenter", "unshare", "hostname", "python3"] {
        if crate::layout::find_in_path(tool).is_none() {
            return Some(format!("{tool} not found in PATH"));
        }
    }
    None
}

/// Prints a banner nobody can miss, for a test that cannot run here.
pub fn skip_loudly(test: &str, reason: &str) {
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! SKIPPED {test}: {reason}\n\
         !!! Nothing was checked against real FRR daemons.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Runs `ip ARGS…`, failing on a non-zero exit.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Runs `ip netns exec NS ARGS…`, failing on a non-zero exit.
pub fn netns_exec(netns: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip").args(["netns", "exec", netns]).args(args).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "ip netns exec {netns} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Turns IPv4 and IPv6 forwarding on in a namespace (a new namespace has
/// them off, which zebra prints as `no ip forwarding`).
pub fn enable_forwarding(netns: &str) -> io::Result<()> {
    netns_exec(
        netns,
        &["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"],
    )
    .map(|_| ())
}

/// Namespaces, directories and FRR instances of one test; see the module
/// documentation.
#[derive(Default)]
pub struct Fleet {
    instances: Vec<Instance>,
    namespaces: Vec<String>,
    dirs: Vec<tempfile::TempDir>,
}

impl Fleet {
    pub fn new() -> Self {
        Fleet::default()
    }

    /// Creates a uniquely named network namespace with `lo` up.
    pub fn add_netns(&mut self, prefix: &str) -> io::Result<String> {
        let name = unique_name(prefix);
        ip(&["netns", "add", &name])?;
        self.namespaces.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// A new namespace and the spec of an instance in it, with private
    /// directories in a new temporary directory (`run/` and `etc/`). With
    /// a hostname the instance gets its own UTS namespace.
    pub fn spec(&mut self, prefix: &str, hostname: Option<&str>) -> io::Result<InstanceSpec> {
        use std::os::unix::fs::PermissionsExt as _;
        let netns = self.add_netns(prefix)?;
        let dir = tempfile::Builder::new().prefix(&format!("{netns}-")).tempdir()?;
        // The daemons (user frr) must reach run/ inside it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let mut spec =
            InstanceSpec::private(netns.clone(), NetnsRef::Name(netns), dir.path().join("run"), dir.path().join("etc"));
        spec.hostname = hostname.map(String::from);
        spec.keep_logs = true;
        // A busy machine (other netlink-heavy tests) can hold the kernel's
        // rtnl lock for seconds, and zebra's start waits for it.
        spec.start_timeout = std::time::Duration::from_secs(60);
        self.dirs.push(dir);
        Ok(spec)
    }

    /// Registers an instance so that it is stopped on drop; returns it.
    pub fn adopt(&mut self, spec: InstanceSpec) -> Instance {
        let instance = Instance::new(spec);
        self.instances.push(instance.clone());
        instance
    }

    /// [`Fleet::spec`] then [`Fleet::adopt`].
    pub fn add_instance(&mut self, prefix: &str, hostname: Option<&str>) -> io::Result<Instance> {
        let spec = self.spec(prefix, hostname)?;
        Ok(self.adopt(spec))
    }

    /// Starts every instance not running yet, in parallel.
    ///
    /// At most [`START_WAVE`] instances start at once: a dozen FRRs starting
    /// together on an emulated two-core machine took longer than their start
    /// timeout (bgpd came up 55 s after its instance's start), while a wave
    /// of four starts in a few seconds each.
    pub fn start_all(&self) -> Result<(), InstanceError> {
        let pending: Vec<&Instance> = self.instances.iter().filter(|i| !i.status().all_running()).collect();
        for wave in pending.chunks(START_WAVE) {
            instance::start_all(wave).into_iter().collect::<Result<Vec<_>, _>>()?;
        }
        Ok(())
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let all: Vec<&Instance> = self.instances.iter().collect();
        for result in instance::stop_all(&all) {
            if let Err(e) = result {
                eprintln!("fleet cleanup: {e}");
            }
        }
        for ns in &self.namespaces {
            if let Err(e) = ip(&["netns", "delete", ns]) {
                eprintln!("fleet cleanup: {e}");
            }
        }
        // The temporary directories are removed by their own Drop.
    }
}
