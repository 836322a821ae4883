//! Where a packaged (Debian) FRR keeps its files, and finding programs.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Where Debian installs the FRR daemons.
pub const FRR_SBIN_DIR: &str = "/usr/lib/frr";
/// Debian's run directory (pathspace instances live below it).
pub const FRR_RUN_DIR: &str = "/var/run/frr";
/// Debian's config directory (pathspace instances live below it).
pub const FRR_CONFIG_DIR: &str = "/etc/frr";

pub(crate) fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub(crate) fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}
