//! The VM's userland: which root file system the guest runs its command in.
//!
//! * [`Userland::Host`] — the host's own root (Debian 12: FRR 8.4, BIRD 2.0, GoBGP 3.10), as
//!   the VM always did.
//! * [`Userland::Debian13`] — a Debian 13 root (FRR 10.3, BIRD 2.17, GoBGP 3.36) built with
//!   `debootstrap` from the Debian mirror this machine already uses, cached in the kit directory
//!   and rebuilt when its recipe ([`DEBIAN13_PACKAGES`], [`ROOT_FORMAT`]) changes. In the guest,
//!   the host directories the command needs (its working directory, the program's directory,
//!   `/tmp`, and any [`RunOptions::binds`](super::RunOptions::binds)) appear at their own paths,
//!   under the same throw-away overlay as the rest of the root.
//!
//! Layout in the kit directory:
//!
//! ```text
//! debian13/            the root (usr-merged; kmod inside, so the kernel's module loading works)
//! debian13.stamp       written last: the recipe fingerprint the root was built from
//! debian13.new/        a build in progress (removed and redone when a build was interrupted)
//! .debian13.lock       serializes builds between processes
//! ```

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::kit::{lock_exclusive, which};

/// Bumped whenever the way the root is built changes (forces a rebuild).
pub const ROOT_FORMAT: u32 = 1;
/// The Debian suite of the root.
const SUITE: &str = "trixie";
/// Installed into the Debian 13 root on top of debootstrap's minimal base.
pub const DEBIAN13_PACKAGES: &[&str] = &[
    "frr",
    "frr-pythontools",
    "iproute2",
    "iputils-ping",
    "tcpdump",
    "bird2",
    "gobgpd",
    "jq",
    "kmod",
    "procps",
    "util-linux",
    "containernetworking-plugins",
    "openvswitch-switch",
    "dnsmasq-base",
    // The boot lane (`lab boot-check`): systemd as PID 1, as a host-mode user runs it.
    "systemd",
    "systemd-sysv",
    "dbus",
];
/// Environment variable overriding the Debian mirror (otherwise read from apt's sources).
pub const MIRROR_ENV: &str = "OPR_DEBIAN_MIRROR";
const ROOT_DIR: &str = "debian13";
const STAMP: &str = "debian13.stamp";

/// The guest's root file system.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Userland {
    /// The host's own root.
    #[default]
    Host,
    /// A prepared root directory on the host (see [`prepare_debian13`]).
    Root(PathBuf),
}

impl Userland {
    /// The userland carrying an FRR line: the host's root for 8, the Debian 13 root (built in
    /// `kit_dir` on first use) for 10.
    pub fn for_frr(line: FrrLine, kit_dir: &Path, verbose: bool) -> Result<Userland, RootError> {
        match line {
            FrrLine::V8 => Ok(Userland::Host),
            FrrLine::V10 => prepare_debian13(kit_dir, verbose).map(Userland::Root),
        }
    }
}

/// The FRR line the lab VM runs unless told otherwise: the one users run.
pub const DEFAULT_FRR_LINE: FrrLine = FrrLine::V10;

/// The FRR line a userland carries, as users name it (`--frr 8`, `--frr 10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrrLine {
    /// Debian 12's FRR 8.4: the host's root.
    V8,
    /// Debian 13's FRR 10.3: the Debian 13 root.
    V10,
}

impl FrrLine {
    /// The line's major version number.
    pub fn major(self) -> u32 {
        match self {
            FrrLine::V8 => 8,
            FrrLine::V10 => 10,
        }
    }
}

impl std::str::FromStr for FrrLine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "8" | "8.4" => Ok(FrrLine::V8),
            "10" | "10.3" => Ok(FrrLine::V10),
            other => Err(format!("unknown FRR line {other:?}: use 8 (Debian 12's 8.4) or 10 (Debian 13's 10.3)")),
        }
    }
}

impl std::fmt::Display for FrrLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.major())
    }
}

/// Why the Debian 13 root could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("`debootstrap` is not installed; install it with `apt-get install debootstrap`")]
    NoDebootstrap,
    #[error(
        "cannot tell which Debian mirror to use: no `URIs:` in /etc/apt/sources.list.d/debian.sources and no `deb` line in /etc/apt/sources.list; set {MIRROR_ENV}"
    )]
    NoMirror,
    #[error("`{command}` failed ({status}); its last lines: {tail}")]
    Command { command: String, status: String, tail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> RootError {
    let context = context.into();
    move |source| RootError::Io { context, source }
}

/// The fingerprint of the root's recipe (FNV-1a over the format, suite and packages).
pub fn recipe_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    feed(&ROOT_FORMAT.to_le_bytes());
    feed(SUITE.as_bytes());
    for p in DEBIAN13_PACKAGES {
        feed(p.as_bytes());
    }
    format!("{hash:016x}")
}

/// The Debian mirror apt uses on this machine: `$OPR_DEBIAN_MIRROR`, else the first `URIs:` of
/// a `deb` stanza in `/etc/apt/sources.list.d/debian.sources`, else the first `deb` line of
/// `/etc/apt/sources.list`.
pub fn debian_mirror() -> Result<String, RootError> {
    if let Some(m) = std::env::var_os(MIRROR_ENV).and_then(|m| m.into_string().ok()).filter(|m| !m.is_empty()) {
        return Ok(m);
    }
    let deb822 = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    mirror_from_sources(&deb822, &list).ok_or(RootError::NoMirror)
}

/// The main archive's URI from apt sources (deb822 first, then one-line format); security
/// archives are skipped, since debootstrap needs the main one.
fn mirror_from_sources(deb822: &str, one_line: &str) -> Option<String> {
    for stanza in deb822.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default()
        };
        let types = field("Types:");
        let suites = field("Suites:");
        if !types.split_whitespace().any(|t| t == "deb") || suites.contains("security") {
            continue;
        }
        if let Some(uri) = field("URIs:").split_whitespace().next() {
            return Some(uri.to_string());
        }
    }
    one_line.lines().find_map(|l| {
        let mut words = l.split_whitespace().filter(|w| !w.starts_with('['));
        (words.next() == Some("deb"))
            .then(|| words.next())
            .flatten()
            .filter(|uri| !uri.contains("security"))
            .map(str::to_string)
    })
}

/// The Debian 13 root in `kit_dir`, built first if it is missing or its recipe changed.
/// Progress goes to stderr when `verbose`.
pub fn prepare_debian13(kit_dir: &Path, verbose: bool) -> Result<PathBuf, RootError> {
    fs::create_dir_all(kit_dir).map_err(io_err(format!("creating {}", kit_dir.display())))?;
    let kit_dir = kit_dir.canonicalize().map_err(io_err(format!("resolving {}", kit_dir.display())))?;
    let lock_path = kit_dir.join(".debian13.lock");
    let _lock = lock_exclusive(&lock_path).map_err(io_err(format!("locking {}", lock_path.display())))?;

    let root = kit_dir.join(ROOT_DIR);
    let stamp = kit_dir.join(STAMP);
    let fingerprint = recipe_fingerprint();
    if root.join("usr/lib/frr/zebra").is_file()
        && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == format!("recipe={fingerprint}"))
    {
        return Ok(root);
    }
    build(&kit_dir, &root, &stamp, &fingerprint, verbose)?;
    Ok(root)
}

fn build(kit_dir: &Path, root: &Path, stamp: &Path, fingerprint: &str, verbose: bool) -> Result<(), RootError> {
    let started = Instant::now();
    let say = |what: &str| {
        if verbose {
            eprintln!("lab vm: [{:5.1} s] {what}", started.elapsed().as_secs_f64());
        }
    };
    let debootstrap = which("debootstrap").ok_or(RootError::NoDebootstrap)?;
    let mirror = debian_mirror()?;
    say(&format!(
        "building the Debian 13 root for --frr 10 in {} (once, or when its recipe changes; about 1 min, 500 MB)",
        root.display()
    ));
    let _ = fs::remove_file(stamp);
    let fresh = kit_dir.join(format!("{ROOT_DIR}.new"));
    for dir in [&fresh, &root.to_path_buf()] {
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(io_err(format!("removing {}", dir.display())))?;
        }
    }

    say(&format!("debootstrap --variant=minbase {SUITE} (mirror {mirror})"));
    let mut cmd = Command::new(debootstrap);
    cmd.args(["--variant=minbase", SUITE]).arg(&fresh).arg(&mirror);
    let phase = std::sync::Mutex::new("");
    run_streaming(&mut cmd, &|line| {
        if let (Some(p), Ok(mut last)) = (debootstrap_phase(line), phase.lock())
            && *last != p
        {
            *last = p;
            say(&format!("debootstrap: {p}"));
        }
    })?;

    // No service may start inside the chroot while packages are configured.
    let policy = fresh.join("usr/sbin/policy-rc.d");
    fs::write(&policy, "#!/bin/sh\nexit 101\n").map_err(io_err(format!("writing {}", policy.display())))?;
    set_executable(&policy)?;
    say(&format!("apt-get install {}", DEBIAN13_PACKAGES.join(" ")));
    let mut cmd = Command::new("chroot");
    cmd.arg(&fresh)
        .args(["apt-get", "install", "-y", "-q", "--no-install-recommends"])
        .args(DEBIAN13_PACKAGES)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    run_streaming(&mut cmd, &|line| {
        if let Some(package) = line.strip_prefix("Setting up ") {
            let name = package.split_whitespace().next().unwrap_or(package);
            if name.starts_with("frr") || name.starts_with("bird") || name.starts_with("gobgp") {
                say(&format!("apt-get: setting up {name}"));
            }
        }
    })?;
    let mut cmd = Command::new("chroot");
    cmd.arg(&fresh).args(["apt-get", "clean"]).env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    run_streaming(&mut cmd, &|_| {})?;
    let lists = fresh.join("var/lib/apt/lists");
    if let Ok(entries) = fs::read_dir(&lists) {
        for e in entries.flatten().filter(|e| e.path().is_file()) {
            let _ = fs::remove_file(e.path());
        }
    }
    fs::rename(&fresh, root).map_err(io_err(format!("renaming {} to {}", fresh.display(), root.display())))?;
    let version = frr_version(root);
    fs::write(stamp, format!("recipe={fingerprint}\n")).map_err(io_err(format!("writing {}", stamp.display())))?;
    say(&format!(
        "Debian 13 root ready in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        version.unwrap_or_else(|| "FRR version unknown".into())
    ));
    Ok(())
}

/// The FRR package version installed in a root, from dpkg's status file.
fn frr_version(root: &Path) -> Option<String> {
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).ok()?;
    status
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == "Package: frr"))
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Version: ")).map(|v| format!("FRR {v}")))
}

/// The phase a debootstrap output line starts, if it starts one ("Retrieving packages", …):
/// debootstrap prints one line per package and step; progress shows each phase once.
fn debootstrap_phase(line: &str) -> Option<&'static str> {
    let msg = line.strip_prefix("I: ")?;
    const PHASES: &[(&str, &str)] = &[
        ("Retrieving InRelease", "fetching the package index"),
        ("Retrieving Packages", "fetching the package index"),
        ("Validating Packages", "fetching the package index"),
        ("Resolving dependencies of required", "resolving the base system"),
        ("Found additional required dependencies", "resolving the base system"),
        ("Checking component", "checking the packages"),
        ("Retrieving ", "downloading packages"),
        ("Extracting ", "extracting packages"),
        ("Installing core packages", "installing core packages"),
        ("Unpacking required packages", "unpacking the base system"),
        ("Configuring required packages", "configuring the base system"),
        ("Base system installed successfully", "base system installed"),
    ];
    PHASES.iter().find(|(prefix, _)| msg.starts_with(prefix)).map(|(_, phase)| *phase)
}

/// Runs a command, handing each line of its stdout and stderr to `on_line`; on failure the error
/// carries the last lines.
fn run_streaming(cmd: &mut Command, on_line: &(dyn Fn(&str) + Sync)) -> Result<(), RootError> {
    let described = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("starting {described}")))?;
    let last = std::sync::Mutex::new(std::collections::VecDeque::<String>::new());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    std::thread::scope(|scope| {
        let pump = |pipe: Box<dyn io::Read + Send>| {
            let last = &last;
            scope.spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    on_line(&line);
                    if let Ok(mut l) = last.lock() {
                        l.push_back(line);
                        if l.len() > 8 {
                            l.pop_front();
                        }
                    }
                }
            });
        };
        if let Some(out) = stdout {
            pump(Box::new(out));
        }
        if let Some(err) = stderr {
            pump(Box::new(err));
        }
    });
    let status = child.wait().map_err(io_err(format!("waiting for {described}")))?;
    if status.success() {
        return Ok(());
    }
    let tail = last.into_inner().unwrap_or_default().into_iter().collect::<Vec<_>>().join(" / ");
    Err(RootError::Command { command: described, status: status.to_string(), tail })
}

fn set_executable(path: &Path) -> Result<(), RootError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_err(format!("chmod {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_comes_from_the_main_archive() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n\
                      Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
                      Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(mirror_from_sources(deb822, "").as_deref(), Some("http://mirror.example/debian"));
        let list = "# comment\ndeb http://sec.example/debian-security bookworm-security main\n\
                    deb [arch=amd64] http://one.example/debian bookworm main\n";
        assert_eq!(mirror_from_sources("", list).as_deref(), Some("http://one.example/debian"));
        assert_eq!(mirror_from_sources("", ""), None);
    }

    #[test]
    fn frr_lines_parse_and_refuse_unknown_ones() {
        assert_eq!("10".parse::<FrrLine>(), Ok(FrrLine::V10));
        assert_eq!("8.4".parse::<FrrLine>(), Ok(FrrLine::V8));
        assert!("9".parse::<FrrLine>().unwrap_err().contains("use 8"));
    }

    #[test]
    fn recipe_fingerprint_is_stable() {
        assert_eq!(recipe_fingerprint(), recipe_fingerprint());
        assert_eq!(recipe_fingerprint().len(), 16);
    }

    #[test]
    fn debootstrap_progress_reports_phases_only() {
        assert_eq!(debootstrap_phase("I: Retrieving libc6 2.41-12"), Some("downloading packages"));
        assert_eq!(debootstrap_phase("I: Validating libc6 2.41-12"), None);
        assert_eq!(debootstrap_phase("I: Base system installed successfully."), Some("base system installed"));
        assert_eq!(debootstrap_phase("W: something"), None);
    }
}
