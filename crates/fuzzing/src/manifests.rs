//! Manifests and static host-mode files, as `openperouter plan`, `validate` and host mode read
//! them: loaded, checked, then planned for a node and rendered.

use std::collections::BTreeMap;
use std::path::Path;

use api::load::{Loaded, load_str};

/// Loads `data` as a YAML file and plans what it holds for two nodes.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut loaded = Loaded::default();
    if load_str(text, Path::new("openpe_fuzz.yaml"), &mut loaded).is_err() {
        return;
    }
    let resources = plan::Resources::from(&loaded);
    for index in [0, 7] {
        let node = plan::Node {
            name: format!("node{index}"),
            index,
            labels: BTreeMap::from([("rack".to_string(), "a".to_string())]),
        };
        let planned = plan::plan_node(&resources, &node, &plan::Options::default());
        if let Some(config) = &planned.frr {
            let text = config.render();
            // The renderer's output is canonical: nothing in it is what normalising removes.
            assert_eq!(frr::normalize_running_config(&text, false), text, "normalising the rendered text changed it");
        }
    }
}
