//! The node a process plans for, decided in one place for the agent and the command line: its
//! name, index and labels, from the flags, then `node-config.yaml`, then the host.

use std::collections::BTreeMap;

/// What the flags say about the node (each field may defer to `node-config.yaml`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeIdentity {
    /// Node name (default: from `node-config.yaml`, else the host name).
    pub name: Option<String>,
    /// Node index (default: from `node-config.yaml`).
    pub index: Option<u32>,
    /// Node labels for `nodeSelector`s (`kubernetes.io/hostname` is added).
    pub labels: BTreeMap<String, String>,
}

/// What to do when neither a flag nor `node-config.yaml` gives the node index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithoutIndex {
    /// Refuse: a router must not guess its addresses (the agent).
    Refuse,
    /// Use 0 (offline planning and validation).
    Zero,
}

impl NodeIdentity {
    /// From the flags: `labels` as `k=v` pairs (empty ones are skipped).
    pub fn from_flags(name: Option<String>, index: Option<u32>, labels: &[String]) -> Result<NodeIdentity, String> {
        let mut parsed = BTreeMap::new();
        for pair in labels.iter().filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| format!("--node-labels: {pair:?} is not key=value"))?;
            parsed.insert(k.to_string(), v.to_string());
        }
        Ok(NodeIdentity { name, index, labels: parsed })
    }

    /// The node, with what `loaded` holds (its `node-config.yaml`) filling in what the flags do
    /// not say.
    pub fn resolve(&self, loaded: &api::load::Loaded, without_index: WithoutIndex) -> Result<plan::Node, String> {
        let node_config = loaded.node_config.as_ref();
        let index = match (self.index, node_config) {
            (Some(i), _) => i,
            (None, Some((c, path))) => match (c.node_index.index, &c.node_index.interface_name) {
                (_, Some(iface)) => {
                    return Err(format!(
                        "{}: nodeIndex.interfaceName ({iface}) derives the index from a live interface; pass --node-index",
                        path.display()
                    ));
                }
                (Some(i), None) => i,
                (None, None) => 0,
            },
            (None, None) => match without_index {
                WithoutIndex::Zero => 0,
                WithoutIndex::Refuse => {
                    return Err("no node index: pass --node-index or provide node-config.yaml".into());
                }
            },
        };
        let name =
            self.name.clone().or_else(|| node_config.and_then(|(c, _)| c.node_name.clone())).unwrap_or_else(hostname);
        let mut labels = self.labels.clone();
        labels.entry("kubernetes.io/hostname".into()).or_insert_with(|| name.clone());
        Ok(plan::Node { name, index, labels })
    }
}

/// This host's name (its UTS namespace's).
pub fn hostname() -> String {
    kernel::sysctl::read("kernel/hostname").ok().flatten().unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_labels_are_parsed() {
        let id = NodeIdentity::from_flags(Some("n1".into()), Some(3), &["a=b".into(), String::new()]).unwrap();
        let node = id.resolve(&api::load::Loaded::default(), WithoutIndex::Refuse).unwrap();
        assert_eq!((node.name.as_str(), node.index), ("n1", 3));
        assert_eq!(node.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(node.labels.get("kubernetes.io/hostname").map(String::as_str), Some("n1"));
        assert!(NodeIdentity::from_flags(None, None, &["nope".into()]).is_err());
    }

    #[test]
    fn a_missing_index_is_refused_or_zero_as_asked() {
        let id = NodeIdentity::default();
        let err = id.resolve(&api::load::Loaded::default(), WithoutIndex::Refuse).unwrap_err();
        assert!(err.contains("--node-index"), "{err}");
        assert_eq!(id.resolve(&api::load::Loaded::default(), WithoutIndex::Zero).unwrap().index, 0);
    }
}
