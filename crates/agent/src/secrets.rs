//! BGP passwords in host mode: a neighbor's `passwordSecret {name, key}` is the file
//! `<dir>/<name>/<key>`, laid out as Kubernetes mounts a Secret (one directory per Secret, one
//! file per key). Read at every reconcile, so a rotated file is applied by the next one. One
//! trailing newline is dropped (as `echo` writes it); the values become [`plan::Secret`]s at once
//! and no message carries one.

use std::io::ErrorKind;
use std::path::{Component, Path};

use api::PasswordRef;

/// Where host mode looks for passwords unless told otherwise.
pub const DEFAULT_DIR: &str = "/etc/openperouter/secrets";

/// Reads every referenced password from `dir`.
pub fn from_dir(dir: &Path, refs: impl IntoIterator<Item = PasswordRef>) -> plan::Passwords {
    refs.into_iter()
        .map(|r| {
            let value = read_one(dir, &r);
            (r, value)
        })
        .collect()
}

fn read_one(dir: &Path, r: &PasswordRef) -> Result<plan::Secret, String> {
    let plain = |s: &str| {
        let p = Path::new(s);
        p.components().count() == 1 && matches!(p.components().next(), Some(Component::Normal(_)))
    };
    if !plain(&r.name) || !plain(&r.key) {
        return Err("the Secret name and key must be plain file names".into());
    }
    let path = dir.join(&r.name).join(&r.key);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(format!("{} does not exist", path.display())),
        Err(e) => return Err(format!("{} cannot be read: {}", path.display(), e.kind())),
    };
    let mut text = String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(plan::Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str, key: &str) -> PasswordRef {
        PasswordRef { namespace: String::new(), name: name.into(), key: key.into() }
    }

    #[test]
    fn passwords_are_files_per_secret_and_key() {
        let dir = std::env::temp_dir().join(format!("opr-secrets-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("tor")).expect("mkdir");
        std::fs::write(dir.join("tor/password"), "s3cret-pw\n").expect("write");
        std::fs::write(dir.join("tor/other"), "two\r\n").expect("write");
        let got = from_dir(
            &dir,
            [
                reference("tor", "password"),
                reference("tor", "other"),
                reference("tor", "nokey"),
                reference("../etc", "passwd"),
            ],
        );
        let value = |name: &str, key: &str| got[&reference(name, key)].as_ref().map(|s| s.expose().to_string());
        assert_eq!(value("tor", "password"), Ok("s3cret-pw".to_string()));
        assert_eq!(value("tor", "other"), Ok("two".to_string()));
        assert!(value("tor", "nokey").unwrap_err().ends_with("tor/nokey does not exist"));
        assert_eq!(value("../etc", "passwd").unwrap_err(), "the Secret name and key must be plain file names");
        assert!(!format!("{got:?}").contains("s3cret"), "Debug never shows a value");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
