//! The VM's initramfs: a cpio archive ("newc" format, gzip-compressed) holding a static busybox,
//! `/init` (init.sh), the `/sbin/modprobe` wrapper (modprobe.sh) and the few kernel modules needed
//! before the host root is mounted (virtio PCI and console, 9p, overlayfs) with their
//! dependencies, in load order.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `/init` script.
pub const INIT_SCRIPT: &str = include_str!("init.sh");
/// The `/sbin/modprobe` wrapper.
pub const MODPROBE_SCRIPT: &str = include_str!("modprobe.sh");

/// Modules `/init` loads itself (their dependencies are added from modules.dep).
pub const BOOT_MODULES: &[&str] = &["virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay"];

/// Why the initramfs could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
    #[error("module {0} is neither in modules.dep nor built in")]
    UnknownModule(String),
    #[error("module file {path} is compressed ({ext}); only plain .ko and .ko.xz are supported")]
    CompressedModule { path: PathBuf, ext: String },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("decompressing {path}: {source}")]
    Decompress {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("compressing the initramfs: {0}")]
    Compress(#[source] std::io::Error),
}

/// A module's canonical name: file name without the extension(s), `-` folded to `_`.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let base = file.split(".ko").next().unwrap_or(file);
    base.replace('-', "_")
}

/// The modules to load for `wanted`, dependencies first, as paths relative to the module tree.
/// Built-in modules (listed in modules.builtin) are skipped.
pub fn load_order(modules_dep: &str, modules_builtin: &str, wanted: &[&str]) -> Result<Vec<String>, InitramfsError> {
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for line in modules_dep.lines() {
        let Some((path, rest)) = line.split_once(':') else { continue };
        let dep_paths: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
        deps.insert(module_name(path), (path.to_string(), dep_paths));
    }
    let builtin: BTreeSet<String> = modules_builtin.lines().map(module_name).collect();

    fn visit(
        name: &str,
        deps: &HashMap<String, (String, Vec<String>)>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<(), InitramfsError> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (path, dep_paths) = deps.get(name).ok_or_else(|| InitramfsError::UnknownModule(name.to_string()))?;
        for dep in dep_paths {
            visit(&module_name(dep), deps, seen, order)?;
        }
        order.push(path.clone());
        Ok(())
    }

    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for name in wanted {
        let name = name.replace('-', "_");
        if builtin.contains(&name) {
            continue;
        }
        visit(&name, &deps, &mut seen, &mut order)?;
    }
    Ok(order)
}

const SIGNATURE_MAGIC: &[u8] = b"~Module signature appended~\n";

/// A module without its appended signature. The kernel checks signatures of signed modules even
/// when it does not enforce them, and that crypto is slow under TCG; an unsigned module loads
/// (tainting the kernel, which does not matter in a test VM).
pub fn strip_signature(module: &[u8]) -> &[u8] {
    // Layout: module, signature (sig_len bytes), struct module_signature (12 bytes, sig_len is
    // its last field, big-endian u32), magic.
    let Some(rest) = module.strip_suffix(SIGNATURE_MAGIC) else { return module };
    let Some(info_start) = rest.len().checked_sub(12) else { return module };
    let len = &rest[rest.len() - 4..];
    let sig_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    match info_start.checked_sub(sig_len) {
        Some(end) => &module[..end],
        None => module,
    }
}

/// A cpio "newc" archive writer.
#[derive(Default)]
pub struct Cpio {
    data: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    fn pad4(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), body: &[u8]) {
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            self.next_ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, so the archive is reproducible
            body.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        self.data.extend_from_slice(b"070701");
        for field in fields {
            self.data.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.data.extend_from_slice(name.as_bytes());
        self.data.push(0);
        self.pad4();
        self.data.extend_from_slice(body);
        self.pad4();
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, perm: u32, body: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), body);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        // Pad to a 512-byte block like cpio(1) does.
        while !self.data.len().is_multiple_of(512) {
            self.data.push(0);
        }
        self.data
    }
}

/// What goes into the initramfs.
pub struct Contents<'a> {
    /// The static busybox binary.
    pub busybox: &'a [u8],
    /// Applet names busybox provides (`busybox --list`), linked in /bin.
    pub applets: &'a [String],
    /// The kernel's module tree (`.../lib/modules/<release>`).
    pub modules_dir: &'a Path,
    /// Module paths relative to `modules_dir`, in load order.
    pub modules: &'a [String],
}

fn read(path: &Path) -> Result<Vec<u8>, InitramfsError> {
    std::fs::read(path).map_err(|source| InitramfsError::Read { path: path.to_path_buf(), source })
}

/// Builds the gzip-compressed initramfs.
pub fn build(contents: &Contents<'_>) -> Result<Vec<u8>, InitramfsError> {
    let mut cpio = Cpio::default();
    for dir in ["bin", "sbin", "dev", "proc", "sys", "mnt", "etc", "etc/opr-vm", "lib", "lib/modules", "tmp"] {
        cpio.dir(dir);
    }
    // The kernel opens /dev/console for init's stdio before anything mounts devtmpfs.
    cpio.char_device("dev/console", 0o600, 5, 1);
    cpio.file("bin/busybox", 0o755, contents.busybox);
    for applet in contents.applets {
        if applet != "busybox" && !applet.contains('/') && applet != "modprobe" {
            cpio.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    cpio.file("init", 0o755, INIT_SCRIPT.as_bytes());
    cpio.file("sbin/modprobe", 0o755, MODPROBE_SCRIPT.as_bytes());

    let mut names = Vec::new();
    for rel in contents.modules {
        let path = contents.modules_dir.join(rel);
        let name = module_name(rel);
        let body = if rel.ends_with(".ko") {
            read(&path)?
        } else if rel.ends_with(".ko.xz") {
            let mut out = Vec::new();
            let compressed = read(&path)?;
            std::io::Read::read_to_end(&mut lzma_rust2::XzReader::new(compressed.as_slice(), true), &mut out)
                .map_err(|source| InitramfsError::Decompress { path: path.clone(), source })?;
            out
        } else {
            let ext = rel.rsplit_once(".ko").map(|(_, e)| e.to_string()).unwrap_or_default();
            return Err(InitramfsError::CompressedModule { path, ext });
        };
        cpio.file(&format!("lib/modules/{name}.ko"), 0o644, strip_signature(&body));
        names.push(name);
    }
    cpio.file("etc/opr-vm/modules", 0o644, format!("MODULES='{}'\n", names.join(" ")).as_bytes());

    let archive = cpio.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&archive).map_err(InitramfsError::Compress)?;
    gz.finish().map_err(InitramfsError::Compress)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/fs/overlayfs/overlay.ko:
kernel/fs/foo-bar.ko.xz: kernel/fs/overlayfs/overlay.ko
";

    #[test]
    fn dependencies_come_first_and_once() {
        let order = load_order(DEP, "kernel/fs/9p/9p.ko\n", &["virtio_pci", "9pnet_virtio", "9p", "foo_bar"]).unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio_pci.ko",
                "kernel/net/9p/9pnet.ko",
                "kernel/net/9p/9pnet_virtio.ko",
                "kernel/fs/overlayfs/overlay.ko",
                "kernel/fs/foo-bar.ko.xz",
            ]
        );
        assert!(matches!(load_order(DEP, "", &["nope"]), Err(InitramfsError::UnknownModule(n)) if n == "nope"));
    }

    #[test]
    fn signature_is_stripped() {
        let mut module = b"ELF module body".to_vec();
        module.extend_from_slice(b"PKCS7");
        module.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
        module.extend_from_slice(&5u32.to_be_bytes());
        module.extend_from_slice(SIGNATURE_MAGIC);
        assert_eq!(strip_signature(&module), b"ELF module body");
        assert_eq!(strip_signature(b"unsigned"), b"unsigned");
    }

    #[test]
    fn cpio_newc_layout() {
        let mut cpio = Cpio::default();
        cpio.file("init", 0o755, b"abc");
        let archive = cpio.finish();
        assert!(archive.starts_with(b"070701"));
        let header = std::str::from_utf8(&archive[..110]).unwrap();
        assert_eq!(&header[14..22], "000081ed", "mode: regular file 0755");
        assert_eq!(&header[54..62], "00000003", "file size");
        assert_eq!(&header[94..102], "00000005", "name size includes the NUL");
        // Header (110) + "init\0" = 115, padded to 116; then the body, padded to 120.
        assert_eq!(&archive[110..116], b"init\0\0");
        assert_eq!(&archive[116..120], b"abc\0");
        assert_eq!(&archive[120..126], b"070701");
        assert!(archive[120..].windows(10).any(|w| w == b"TRAILER!!!"));
        assert_eq!(archive.len() % 512, 0);
    }
}
