//! `node-config.yaml`, the host-mode node settings.

use std::path::Path;

use api::load::{Loaded, load_str};

/// Loads `data` as `node-config.yaml`; what loads must follow the file's rules.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut loaded = Loaded::default();
    if load_str(text, Path::new("node-config.yaml"), &mut loaded).is_err() {
        return;
    }
    if let Some((config, _)) = &loaded.node_config {
        assert_eq!(config.validate(), Ok(()), "a node config that loaded breaks its rules");
    }
}
