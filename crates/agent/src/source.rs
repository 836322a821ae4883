//! Configuration sources: a directory of static files and/or manifests (host mode). The
//! Kubernetes controller feeds the same loop from reflectors instead.
//!
//! Changes are detected by polling a fingerprint of the directory (names, sizes, modification
//! times): robust against editors that replace files, and cheap for a handful of files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use api::load::{LoadError, Loaded};

/// What a directory looks like, for change detection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(BTreeMap<PathBuf, (u64, Option<SystemTime>)>);

/// Reads the fingerprint of the YAML files of `paths` (files or directories).
pub fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut map = BTreeMap::new();
    let mut add = |p: &Path| {
        if let Ok(meta) = std::fs::metadata(p) {
            map.insert(p.to_path_buf(), (meta.len(), meta.modified().ok()));
        }
    };
    for path in paths {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                        add(&p);
                    }
                }
            }
        } else {
            add(path);
        }
    }
    Fingerprint(map)
}

/// A stable digest of the inputs' contents (FNV-1a over file names and bytes), shown as the
/// revision the node applied.
pub fn digest(paths: &[PathBuf]) -> String {
    let mut files: Vec<PathBuf> = fingerprint(paths).0.into_keys().collect();
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in files {
        feed(f.to_string_lossy().as_bytes());
        if let Ok(bytes) = std::fs::read(&f) {
            feed(&bytes);
        }
    }
    format!("{h:016x}")
}

/// Loads the inputs.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        return Ok(Loaded::default());
    }
    api::load::load_paths(&existing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_and_digest_follow_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = vec![dir.path().to_path_buf()];
        let empty = fingerprint(&paths);
        let d0 = digest(&paths);
        std::fs::write(dir.path().join("openpe_a.yaml"), "l3vnis: []\n").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        let one = fingerprint(&paths);
        assert_ne!(empty, one);
        assert_eq!(one.0.len(), 1, "only YAML files count");
        let d1 = digest(&paths);
        assert_ne!(d0, d1);
        assert_eq!(d1, digest(&paths), "stable");
        std::fs::write(dir.path().join("openpe_a.yaml"), "l2vnis: []\n").expect("write");
        assert_ne!(d1, digest(&paths));
    }

    #[test]
    fn missing_directory_is_empty_config() {
        let loaded = load(&[PathBuf::from("/nonexistent/openperouter")]).expect("empty");
        assert_eq!(loaded.resource_count(), 0);
    }
}
