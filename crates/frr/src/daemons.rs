//! Which FRR daemons an instance runs, in which order, and which options
//! each accepts: what differs between the FRR lines on the daemon side
//! (`docs/frr-versions.md`). The process supervision is in
//! [`instance`](crate::instance).

use std::path::Path;

use crate::FrrVersion;
use crate::layout::is_executable;

/// The daemons OpenPERouter runs on every FRR line (watchfrr comes on top).
pub const DEFAULT_DAEMONS: &[&str] = &["zebra", "bgpd", "staticd", "bfdd"];
/// FRR 9 and later route the configuration of staticd (and more daemons in
/// later releases) through the management daemon; it must run, and start
/// before zebra.
pub const MGMTD: &str = "mgmtd";

/// The daemons the FRR installed in `sbin_dir` needs: [`DEFAULT_DAEMONS`],
/// and `mgmtd` first when that FRR has one (FRR ≥ 9; Debian 13's 10.3 does,
/// Debian 12's 8.4.4 does not).
pub fn needed_daemons(sbin_dir: &Path) -> Vec<String> {
    let mut daemons = Vec::new();
    if is_executable(&sbin_dir.join(MGMTD)) {
        daemons.push(MGMTD.to_string());
    }
    daemons.extend(DEFAULT_DAEMONS.iter().map(|d| d.to_string()));
    daemons
}

/// Started one after the other, in this order, before the other daemons
/// (which start in parallel): mgmtd holds the configuration the others
/// fetch when they connect to it, zebra's API socket must exist before a
/// daemon connects to zebra.
pub(crate) const STARTED_ALONE: &[&str] = &[MGMTD, "zebra"];

/// Whether `daemon` of FRR `version` accepts `-f FILE` (we pass `/dev/null`
/// so that nothing is read from `/etc/frr`). mgmtd never does (it reads no
/// file of its own; `vtysh -b` gives it the integrated configuration), nor
/// does staticd once it is a back end of mgmtd (FRR ≥ 9; 10.3 refuses -f).
pub(crate) fn takes_config_file(version: FrrVersion, daemon: &str) -> bool {
    match daemon {
        MGMTD => false,
        "staticd" => !version.at_least(9, 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn mgmtd_is_needed_when_installed() {
        let dir = std::env::temp_dir().join(format!("frr-sbin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(needed_daemons(&dir), DEFAULT_DAEMONS);
        let mgmtd = dir.join(MGMTD);
        std::fs::write(&mgmtd, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&mgmtd, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(needed_daemons(&dir), ["mgmtd", "zebra", "bgpd", "staticd", "bfdd"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_daemons_that_read_a_file_get_one() {
        assert!(takes_config_file(FrrVersion::FRR_8_4, "staticd"));
        assert!(!takes_config_file(FrrVersion::FRR_10_3, "staticd"));
        assert!(!takes_config_file(FrrVersion::FRR_10_3, MGMTD));
        assert!(takes_config_file(FrrVersion::FRR_10_3, "bgpd"));
    }
}
