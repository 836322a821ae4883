//! The VM kit: a stock Debian kernel and qemu, downloaded with `apt-get download` and unpacked
//! with `dpkg-deb -x` (never installed: installing qemu-system removes this machine's qemu-utils
//! from backports, and the kernel package pulls in initramfs-tools and systemd upgrades), plus an
//! uncompressed vmlinux and the busybox initramfs.
//!
//! Layout of the kit directory (see [`default_kit_dir`]):
//!
//! ```text
//! kit.stamp              written last: format, kernel package and release, initramfs fingerprint
//! root/                  the unpacked packages (boot/vmlinuz-*, lib/modules/<release>, usr/bin/qemu-*, firmware)
//! vmlinux                the ELF kernel extracted from root/boot/vmlinuz-<release>
//! initramfs.cpio.gz      busybox, /init, the modprobe wrapper and the boot modules
//! .lock                  serializes preparation between processes
//! ```
//!
//! Preparation is idempotent: a complete kit (its stamp is present) is reused without asking apt
//! anything, so it also works offline. The initramfs alone is rebuilt when the init script or the
//! module list changes. Delete the directory to fetch a newer kernel or qemu.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use super::initramfs::{self, BOOT_MODULES, InitramfsError};
use super::kernel::{self, ExtractError};

/// Environment variable naming the kit directory.
pub const KIT_DIR_ENV: &str = "OPR_VMKIT_DIR";

/// Bumped whenever the kit's layout or contents change incompatibly (forces a full rebuild).
const FORMAT: u32 = 1;
/// Bumped whenever the initramfs builder changes (the scripts and module list are hashed anyway).
const INITRAMFS_VERSION: u32 = 2;
const STAMP: &str = "kit.stamp";
/// The meta package whose dependency names the current kernel ABI package.
const KERNEL_META: &str = "linux-image-amd64";
/// qemu and its firmware, unpacked into the kit.
const QEMU_PACKAGES: &[&str] = &["qemu-system-x86", "qemu-system-common", "qemu-system-data", "seabios", "ipxe-qemu"];
/// Host tools the kit needs, with the Debian package providing each.
const TOOLS: &[(&str, &str)] = &[
    ("apt-get", "apt"),
    ("apt-cache", "apt"),
    ("dpkg-deb", "dpkg"),
    ("dpkg-query", "dpkg"),
    ("depmod", "kmod"),
    ("modprobe", "kmod"),
    ("busybox", "busybox-static"),
];

/// Why the kit could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("`{tool}` is not installed; install it with `apt-get install {package}`")]
    MissingTool { tool: &'static str, package: &'static str },
    #[error(
        "{0} is dynamically linked, but the VM's initramfs needs a static busybox; install it with `apt-get install busybox-static`"
    )]
    DynamicBusybox(PathBuf),
    #[error(
        "the kit's qemu needs libraries that are not installed; install them with `apt-get install --no-install-recommends {}`",
        .0.join(" ")
    )]
    MissingLibraries(Vec<String>),
    #[error(
        "cannot find the kernel package that {KERNEL_META} depends on ({0}); are the apt package lists present? Run `apt-get update`"
    )]
    KernelPackage(String),
    #[error(
        "`apt-get download {packages}` failed: {stderr} (no network, or stale package lists: run `apt-get update`)"
    )]
    Download { packages: String, stderr: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command { command: String, status: String, stderr: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("extracting vmlinux from {path}: {source}")]
    Vmlinux {
        path: PathBuf,
        #[source]
        source: ExtractError,
    },
    #[error("the unpacked kernel package has {0} module trees in lib/modules (expected exactly one)")]
    KernelRelease(usize),
    #[error("building the initramfs: {0}")]
    Initramfs(#[from] InitramfsError),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> KitError {
    let context = context.into();
    move |source| KitError::Io { context, source }
}

/// The kit directory: `$OPR_VMKIT_DIR` if set; else `<workspace>/target/vmkit` when this crate
/// is used from its source tree (the common case: tests, `cargo run`, CI on a fresh clone;
/// `cargo clean` removes it); else `$XDG_CACHE_HOME/openperouter/vmkit` or
/// `$HOME/.cache/openperouter/vmkit`.
pub fn default_kit_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(KIT_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if workspace.join("Cargo.toml").is_file() && workspace.join("crates/lab").is_dir() {
        let workspace = workspace.canonicalize().unwrap_or(workspace);
        return workspace.join("target/vmkit");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    cache.join("openperouter/vmkit")
}

/// Where and how to prepare the kit.
#[derive(Debug, Clone)]
pub struct KitOptions {
    /// The kit directory (created if missing).
    pub dir: PathBuf,
    /// Print progress to stderr while preparing (nothing is printed when the kit is ready).
    pub verbose: bool,
}

impl Default for KitOptions {
    fn default() -> Self {
        KitOptions { dir: default_kit_dir(), verbose: true }
    }
}

/// A prepared kit.
#[derive(Debug, Clone)]
pub struct Kit {
    dir: PathBuf,
    kernel_release: String,
}

impl Kit {
    /// Prepares the kit in [`default_kit_dir`], printing progress if it has to be built.
    pub fn prepare_default() -> Result<Kit, KitError> {
        prepare(&KitOptions::default())
    }

    /// The kit directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The guest kernel's release, e.g. `6.1.0-56-amd64`.
    pub fn kernel_release(&self) -> &str {
        &self.kernel_release
    }

    /// The uncompressed kernel qemu boots.
    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join("vmlinux")
    }

    /// The initramfs.
    pub fn initramfs(&self) -> PathBuf {
        self.dir.join("initramfs.cpio.gz")
    }

    /// The guest kernel's module tree (`modules.dep` is up to date).
    pub fn modules_dir(&self) -> PathBuf {
        self.dir.join("root/lib/modules").join(&self.kernel_release)
    }

    /// The unpacked qemu binary.
    pub fn qemu(&self) -> PathBuf {
        self.dir.join("root/usr/bin/qemu-system-x86_64")
    }

    /// qemu's loadable modules (the TCG accelerator is one); passed as `QEMU_MODULE_DIR`.
    pub fn qemu_module_dir(&self) -> PathBuf {
        self.dir.join("root/usr/lib/x86_64-linux-gnu/qemu")
    }

    /// The firmware: qboot (from qemu-system-data), a minimal BIOS that boots the PVH kernel fast.
    pub fn firmware(&self) -> PathBuf {
        self.dir.join("root/usr/share/qemu/qboot.rom")
    }

    /// Firmware search directories (option ROMs), each passed to qemu as `-L`.
    pub fn firmware_dirs(&self) -> Vec<PathBuf> {
        ["root/usr/share/qemu", "root/usr/share/seabios", "root/usr/lib/ipxe/qemu"]
            .iter()
            .map(|d| self.dir.join(d))
            .collect()
    }

    fn is_complete(&self) -> bool {
        self.vmlinux().is_file()
            && self.initramfs().is_file()
            && self.qemu().is_file()
            && self.firmware().is_file()
            && self.modules_dir().join("modules.dep").is_file()
    }
}

/// The contents of `kit.stamp`.
#[derive(Debug, Default, PartialEq)]
struct Stamp {
    format: u32,
    kernel_package: String,
    kernel_release: String,
    initramfs: String,
}

impl Stamp {
    fn read(dir: &Path) -> Option<Stamp> {
        let text = fs::read_to_string(dir.join(STAMP)).ok()?;
        let mut stamp = Stamp::default();
        for line in text.lines() {
            let (key, value) = line.split_once('=')?;
            match key {
                "format" => stamp.format = value.parse().ok()?,
                "kernel_package" => stamp.kernel_package = value.to_string(),
                "kernel_release" => stamp.kernel_release = value.to_string(),
                "initramfs" => stamp.initramfs = value.to_string(),
                _ => {}
            }
        }
        Some(stamp)
    }

    fn write(&self, dir: &Path) -> Result<(), KitError> {
        let text = format!(
            "format={}\nkernel_package={}\nkernel_release={}\ninitramfs={}\n",
            self.format, self.kernel_package, self.kernel_release, self.initramfs
        );
        write_atomically(&dir.join(STAMP), text.as_bytes())
    }
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), KitError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, data).map_err(io_err(format!("writing {}", tmp.display())))?;
    fs::rename(&tmp, path).map_err(io_err(format!("renaming {} to {}", tmp.display(), path.display())))
}

/// A fingerprint of what the initramfs is built from (FNV-1a, stable across builds): the
/// builder's version, the scripts and the module list. A newer busybox needs no rebuild.
fn initramfs_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&INITRAMFS_VERSION.to_le_bytes());
    feed(initramfs::INIT_SCRIPT.as_bytes());
    feed(initramfs::MODPROBE_SCRIPT.as_bytes());
    feed(BOOT_MODULES.join(",").as_bytes());
    format!("{hash:016x}")
}

/// Prepares the kit (or reuses a complete one) and returns it.
pub fn prepare(options: &KitOptions) -> Result<Kit, KitError> {
    fs::create_dir_all(&options.dir).map_err(io_err(format!("creating {}", options.dir.display())))?;
    let dir = options.dir.canonicalize().map_err(io_err(format!("resolving {}", options.dir.display())))?;
    let lock_path = dir.join(".lock");
    let _lock = lock_exclusive(&lock_path).map_err(io_err(format!("locking {}", lock_path.display())))?;

    if let Some(stamp) = Stamp::read(&dir).filter(|s| s.format == FORMAT) {
        let kit = Kit { dir: dir.clone(), kernel_release: stamp.kernel_release.clone() };
        if kit.is_complete() {
            let fingerprint = initramfs_fingerprint();
            if fingerprint != stamp.initramfs {
                progress(options, "the init script changed: rebuilding the VM's initramfs");
                build_initramfs(&kit, &read_busybox()?)?;
                Stamp { initramfs: fingerprint, ..stamp }.write(&dir)?;
            }
            return Ok(kit);
        }
    }
    build(&dir, options)
}

fn progress(options: &KitOptions, message: &str) {
    if options.verbose {
        eprintln!("lab vm: {message}");
    }
}

fn build(dir: &Path, options: &KitOptions) -> Result<Kit, KitError> {
    let started = Instant::now();
    for (tool, package) in TOOLS {
        if which(tool).is_none() {
            return Err(KitError::MissingTool { tool, package });
        }
    }
    let busybox = read_busybox()?;
    progress(options, &format!("preparing the VM kit in {} (once; about 550 MB)", dir.display()));

    for stale in ["root", "debs"] {
        let path = dir.join(stale);
        if path.exists() {
            fs::remove_dir_all(&path).map_err(io_err(format!("removing {}", path.display())))?;
        }
    }
    for stale in [STAMP, "vmlinux", "initramfs.cpio.gz"] {
        let _ = fs::remove_file(dir.join(stale));
    }

    let kernel_package = resolve_kernel_package()?;
    let debs = dir.join("debs");
    fs::create_dir_all(&debs).map_err(io_err(format!("creating {}", debs.display())))?;
    let mut packages = vec![kernel_package.as_str()];
    packages.extend_from_slice(QEMU_PACKAGES);
    let step = |what: &str| progress(options, &format!("[{:4.1} s] {what}", started.elapsed().as_secs_f64()));
    step(&format!("apt-get download {}", packages.join(" ")));
    let out = Command::new("apt-get")
        .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
        .args(&packages)
        .current_dir(&debs)
        .output()
        .map_err(io_err("running apt-get download"))?;
    if !out.status.success() {
        return Err(KitError::Download { packages: packages.join(" "), stderr: tail(&out.stderr) });
    }

    let root = dir.join("root");
    let mut deb_files: Vec<PathBuf> = fs::read_dir(&debs)
        .map_err(io_err(format!("listing {}", debs.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension() == Some(OsStr::new("deb")))
        .collect();
    deb_files.sort();
    step(&format!("unpacking {} packages with dpkg-deb -x", deb_files.len()));
    // Two lanes (this machine has two cores): the kernel package, then depmod and the vmlinux
    // extraction; meanwhile the qemu packages.
    let (kernel_debs, qemu_debs): (Vec<&PathBuf>, Vec<&PathBuf>) = deb_files
        .iter()
        .partition(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("linux-image-")));
    let kernel_release = std::thread::scope(|scope| {
        let kernel_lane = scope.spawn(|| prepare_kernel(&root, &kernel_debs, dir, &step));
        let qemu_lane =
            qemu_debs.iter().try_for_each(|deb| unpack(deb, &root)).and_then(|()| check_qemu_libraries(&deb_files));
        let kernel_release = kernel_lane.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        qemu_lane.and(kernel_release)
    })?;
    let kit = Kit { dir: dir.to_path_buf(), kernel_release: kernel_release.clone() };
    step("building the initramfs");
    build_initramfs(&kit, &busybox)?;

    let version = run_checked(Command::new(kit.qemu()).arg("-version"))?;
    fs::remove_dir_all(&debs).map_err(io_err(format!("removing {}", debs.display())))?;
    Stamp {
        format: FORMAT,
        kernel_package,
        kernel_release: kernel_release.clone(),
        initramfs: initramfs_fingerprint(),
    }
    .write(dir)?;
    progress(
        options,
        &format!(
            "kit ready in {:.1} s: kernel {kernel_release}, {}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("qemu")
        ),
    );
    Ok(kit)
}

fn unpack(deb: &Path, root: &Path) -> Result<(), KitError> {
    run_checked(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root)).map(drop)
}

/// Unpacks the kernel package, runs depmod and writes `vmlinux`; returns the kernel release.
fn prepare_kernel(
    root: &Path,
    debs: &[&PathBuf],
    dir: &Path,
    step: &(dyn Fn(&str) + Sync),
) -> Result<String, KitError> {
    for deb in debs {
        unpack(deb, root)?;
    }
    let module_trees: Vec<String> = fs::read_dir(root.join("lib/modules"))
        .map_err(io_err("listing the unpacked lib/modules"))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    let [kernel_release] = module_trees.as_slice() else {
        return Err(KitError::KernelRelease(module_trees.len()));
    };
    step(&format!("depmod for {kernel_release}"));
    let depmod = which("depmod").unwrap_or_else(|| "depmod".into());
    run_checked(Command::new(depmod).arg("-b").arg(root).arg(kernel_release))?;
    step("extracting vmlinux from the compressed kernel");
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{kernel_release}"));
    let bzimage = fs::read(&vmlinuz).map_err(io_err(format!("reading {}", vmlinuz.display())))?;
    let vmlinux = kernel::extract_vmlinux(&bzimage).map_err(|source| KitError::Vmlinux { path: vmlinuz, source })?;
    write_atomically(&dir.join("vmlinux"), &vmlinux)?;
    step("vmlinux written");
    Ok(kernel_release.clone())
}

fn build_initramfs(kit: &Kit, busybox: &[u8]) -> Result<(), KitError> {
    let modules_dir = kit.modules_dir();
    let read = |name: &str| {
        let path = modules_dir.join(name);
        fs::read_to_string(&path).map_err(io_err(format!("reading {}", path.display())))
    };
    let order = initramfs::load_order(&read("modules.dep")?, &read("modules.builtin")?, BOOT_MODULES)?;
    let list = run_checked(Command::new(which("busybox").unwrap_or_else(|| "busybox".into())).arg("--list"))?;
    let applets: Vec<String> = String::from_utf8_lossy(&list.stdout).lines().map(str::to_string).collect();
    let image = initramfs::build(&initramfs::Contents {
        busybox,
        applets: &applets,
        modules_dir: &modules_dir,
        modules: &order,
    })?;
    write_atomically(&kit.initramfs(), &image)
}

/// Reads the host's busybox and checks that it is static.
fn read_busybox() -> Result<Vec<u8>, KitError> {
    let path = which("busybox").ok_or(KitError::MissingTool { tool: "busybox", package: "busybox-static" })?;
    let path = path.canonicalize().unwrap_or(path);
    let data = fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
    if elf_has_interpreter(&data) {
        return Err(KitError::DynamicBusybox(path));
    }
    Ok(data)
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header (is dynamically linked).
fn elf_has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |at: usize| elf.get(at..at + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    if !elf.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..phnum).any(|i| {
        let at = phoff as usize + i * phentsize;
        elf.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) == Some(PT_INTERP)
    })
}

/// `linux-image-amd64`'s current dependency, e.g. `linux-image-6.1.0-56-amd64`.
fn resolve_kernel_package() -> Result<String, KitError> {
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions", KERNEL_META])
        .output()
        .map_err(io_err("running apt-cache"))?;
    if !out.status.success() {
        return Err(KitError::KernelPackage(tail(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let depends = text
        .lines()
        .find_map(|l| l.strip_prefix("Depends:"))
        .ok_or_else(|| KitError::KernelPackage("no Depends field".into()))?;
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|name| name.starts_with("linux-image-") && *name != KERNEL_META)
        .map(str::to_string)
        .ok_or_else(|| KitError::KernelPackage(format!("no linux-image-* in `Depends:{depends}`")))
}

/// Checks that the run-time dependencies of the unpacked qemu packages are installed on the host.
fn check_qemu_libraries(debs: &[PathBuf]) -> Result<(), KitError> {
    let mut wanted = Vec::new();
    for deb in debs {
        let name = deb.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.starts_with("qemu-system-x86_") {
            // Only qemu-system-x86 itself is run; the other packages hold firmware and optional
            // modules (display, audio, spice) that a headless VM never loads.
            continue;
        }
        let out = run_checked(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg("Depends"))?;
        wanted.extend(host_dependencies(&String::from_utf8_lossy(&out.stdout)));
    }
    let names: Vec<&String> = wanted.iter().flatten().collect();
    if names.is_empty() {
        return Ok(());
    }
    // dpkg-query exits non-zero when some name is unknown; its stdout still lists the known ones.
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${db:Status-Abbrev}\n"])
        .args(&names)
        .output()
        .map_err(io_err("running dpkg-query"))?;
    let missing = missing_packages(&wanted, &String::from_utf8_lossy(&out.stdout));
    if missing.is_empty() { Ok(()) } else { Err(KitError::MissingLibraries(missing)) }
}

/// The dependencies in a `Depends:` value that the host must provide (those not unpacked into
/// the kit), each as its list of alternatives.
fn host_dependencies(depends: &str) -> Vec<Vec<String>> {
    depends
        .split(',')
        .map(|dep| {
            dep.split('|')
                .filter_map(|a| a.split_whitespace().next())
                .map(|a| a.split(':').next().unwrap_or(a).to_string())
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|alternatives| {
            !alternatives.is_empty() && !alternatives.iter().any(|a| QEMU_PACKAGES.contains(&a.as_str()))
        })
        .collect()
}

/// The first alternative of each dependency none of whose alternatives `dpkg-query -W
/// -f='${Package} ${db:Status-Abbrev}\n'` reports as installed.
fn missing_packages(wanted: &[Vec<String>], dpkg_query: &str) -> Vec<String> {
    let installed: Vec<&str> = dpkg_query
        .lines()
        .filter_map(|l| l.split_once(' ').filter(|(_, status)| status.starts_with("ii")).map(|(p, _)| p))
        .collect();
    wanted
        .iter()
        .filter(|alternatives| !alternatives.iter().any(|a| installed.contains(&a.as_str())))
        .map(|alternatives| alternatives[0].clone())
        .collect()
}

/// Opens (creating it) and locks `path` exclusively, waiting for another holder; the lock lasts
/// as long as the returned file.
pub(crate) fn lock_exclusive(path: &Path) -> io::Result<File> {
    let file = File::options().create(true).truncate(false).write(true).open(path)?;
    file.lock()?;
    Ok(file)
}

/// Finds a program in PATH, also looking in the sbin directories (absent from a user's PATH).
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run_checked(cmd: &mut Command) -> Result<Output, KitError> {
    let out = cmd.output().map_err(io_err(format!("running {cmd:?}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(KitError::Command {
            command: format!("{cmd:?}"),
            status: out.status.to_string(),
            stderr: tail(&out.stderr),
        })
    }
}

/// The last lines of a command's stderr, for error messages.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip() {
        let dir = std::env::temp_dir().join(format!("opr-vmkit-stamp-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let stamp = Stamp {
            format: FORMAT,
            kernel_package: "linux-image-6.1.0-56-amd64".into(),
            kernel_release: "6.1.0-56-amd64".into(),
            initramfs: "0123".into(),
        };
        stamp.write(&dir).unwrap();
        assert_eq!(Stamp::read(&dir), Some(stamp));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn detects_dynamic_elf() {
        let host_sh = fs::read("/bin/sh").unwrap();
        assert!(elf_has_interpreter(&host_sh), "/bin/sh is dynamically linked on Debian");
        assert!(!elf_has_interpreter(b"#!/bin/sh\n"));
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(initramfs_fingerprint(), initramfs_fingerprint());
        assert_eq!(initramfs_fingerprint().len(), 16);
    }

    #[test]
    fn qemu_dependencies_missing_on_the_host() {
        let depends = "libaio1 (>= 0.3.93), libc6 (>= 2.34), libcapstone4 (>= 4.0.2), libfdt1, \
                       libfoo1 | libfoo-alt1, libbar:any, qemu-system-common (>= 1:7.2), seabios";
        let wanted = host_dependencies(depends);
        assert_eq!(
            wanted,
            [
                vec!["libaio1"],
                vec!["libc6"],
                vec!["libcapstone4"],
                vec!["libfdt1"],
                vec!["libfoo1", "libfoo-alt1"],
                vec!["libbar"]
            ]
        );
        let dpkg = "libaio1 ii \nlibc6 ii \nlibfdt1 rc \nlibfoo-alt1 ii \nlibbar ii \n";
        assert_eq!(missing_packages(&wanted, dpkg), ["libcapstone4", "libfdt1"]);
    }
}
