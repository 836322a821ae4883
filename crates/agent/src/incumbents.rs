//! The resources the last successful reconcile applied, kept in a file: after a restart they
//! still win conflicts against resources that appeared meanwhile.

use std::collections::BTreeSet;
use std::path::Path;

use api::ResourceKind;

/// Applied resources by kind and name.
pub type Incumbents = BTreeSet<(ResourceKind, String)>;

/// Reads the file (nothing when there is no file or it cannot be read, with a warning).
pub fn load(path: Option<&Path>) -> Incumbents {
    let Some(path) = path else { return Incumbents::new() };
    let Ok(text) = std::fs::read_to_string(path) else { return Incumbents::new() };
    match serde_json::from_str::<Vec<(ResourceKind, String)>>(&text) {
        Ok(list) => list.into_iter().collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring unreadable state file: {e}");
            Incumbents::new()
        }
    }
}

/// Writes the file atomically (a temporary file renamed over it); a failure is a warning.
pub fn save(path: Option<&Path>, incumbents: &Incumbents) {
    let Some(path) = path else { return };
    let list: Vec<&(ResourceKind, String)> = incumbents.iter().collect();
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&list).map_err(std::io::Error::other)?)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::warn!(path = %path.display(), "cannot record the applied resources: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_incumbents_are_loaded_back_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("incumbents.json");
        let set: Incumbents =
            [(ResourceKind::L3VNI, "red".to_string()), (ResourceKind::Underlay, "u".to_string())].into();
        save(Some(&path), &set);
        assert_eq!(load(Some(&path)), set);
        std::fs::write(&path, "not json").unwrap();
        assert!(load(Some(&path)).is_empty());
        assert!(load(None).is_empty());
    }
}
