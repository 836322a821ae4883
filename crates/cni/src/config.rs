//! A CNI network configuration list as data, and what each of its plugins reads on stdin. Pure.

use serde_json::{Map, Value};

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the CNI configuration is not a JSON object")]
    NotAnObject,
    #[error("the CNI configuration has no {0:?}")]
    Missing(&'static str),
    #[error("cniVersion {0:?} is not supported: 1.0.0 or later is needed")]
    Version(String),
    #[error("plugin {0} of the CNI configuration has no \"type\"")]
    NoType(usize),
}

/// A configuration list: `name`, `cniVersion`, `disableCheck` and its plugins, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfList {
    pub name: String,
    pub cni_version: String,
    pub disable_check: bool,
    pub plugins: Vec<Map<String, Value>>,
}

impl ConfList {
    /// Reads a configuration list (`{"plugins": [...]}`) or a single plugin configuration
    /// (a list of one).
    pub fn parse(raw: &Value) -> Result<ConfList, ConfigError> {
        let obj = raw.as_object().ok_or(ConfigError::NotAnObject)?;
        let name = obj.get("name").and_then(Value::as_str).ok_or(ConfigError::Missing("name"))?.to_string();
        let cni_version =
            obj.get("cniVersion").and_then(Value::as_str).ok_or(ConfigError::Missing("cniVersion"))?.to_string();
        if !version_at_least_1(&cni_version) {
            return Err(ConfigError::Version(cni_version));
        }
        let plugins: Vec<Map<String, Value>> = match obj.get("plugins") {
            Some(Value::Array(list)) => list.iter().map(|p| p.as_object().cloned().unwrap_or_default()).collect(),
            Some(_) => return Err(ConfigError::Missing("plugins list")),
            None => {
                let mut single = obj.clone();
                single.remove("name");
                single.remove("cniVersion");
                vec![single]
            }
        };
        if plugins.is_empty() {
            return Err(ConfigError::Missing("plugins"));
        }
        for (i, p) in plugins.iter().enumerate() {
            if !p.get("type").is_some_and(Value::is_string) {
                return Err(ConfigError::NoType(i));
            }
        }
        let disable_check = obj.get("disableCheck").and_then(Value::as_bool).unwrap_or(false);
        Ok(ConfList { name, cni_version, disable_check, plugins })
    }

    /// The `type` of plugin `i` (its binary's name).
    pub fn plugin_type(&self, i: usize) -> &str {
        self.plugins[i].get("type").and_then(Value::as_str).unwrap_or_default()
    }

    /// What plugin `i` reads on stdin: its configuration with the list's `name` and `cniVersion`,
    /// `runtimeConfig` holding the capability arguments it declares (`capabilities: {"mac":
    /// true}`), and `prevResult` when there is one.
    pub fn stdin_for(&self, i: usize, runtime_config: &Map<String, Value>, prev_result: Option<&Value>) -> Value {
        let mut conf = self.plugins[i].clone();
        conf.insert("cniVersion".into(), Value::String(self.cni_version.clone()));
        conf.insert("name".into(), Value::String(self.name.clone()));
        let declared: Vec<&String> = conf
            .get("capabilities")
            .and_then(Value::as_object)
            .map(|c| c.iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(k, _)| k).collect())
            .unwrap_or_default();
        let given: Map<String, Value> =
            runtime_config.iter().filter(|(k, _)| declared.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        conf.remove("runtimeConfig");
        if !given.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(given));
        }
        conf.remove("prevResult");
        if let Some(prev) = prev_result {
            conf.insert("prevResult".into(), prev.clone());
        }
        Value::Object(conf)
    }
}

/// `1.0.0` or later (`major.minor.patch`).
fn version_at_least_1(v: &str) -> bool {
    let parts: Vec<Option<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
    parts.len() == 3 && parts.iter().all(Option::is_some) && parts[0].is_some_and(|m| m >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_single_configuration_is_a_list_of_one() {
        let c = ConfList::parse(&json!({"cniVersion": "1.0.0", "name": "u", "type": "macvlan", "master": "eth0"}))
            .expect("valid");
        assert_eq!((c.name.as_str(), c.plugins.len(), c.plugin_type(0)), ("u", 1, "macvlan"));
        assert!(!c.plugins[0].contains_key("name"));
    }

    #[test]
    fn versions_below_1_and_missing_fields_are_refused() {
        let bad = [
            (json!({"cniVersion": "0.4.0", "name": "u", "type": "macvlan"}), "cniVersion \"0.4.0\" is not supported"),
            (json!({"cniVersion": "1.0", "name": "u", "type": "macvlan"}), "cniVersion \"1.0\""),
            (json!({"name": "u", "type": "macvlan"}), "no \"cniVersion\""),
            (json!({"cniVersion": "1.0.0", "type": "macvlan"}), "no \"name\""),
            (json!({"cniVersion": "1.0.0", "name": "u", "plugins": [{"master": "x"}]}), "plugin 0"),
            (json!({"cniVersion": "1.0.0", "name": "u", "plugins": []}), "no \"plugins\""),
            (json!("macvlan"), "not a JSON object"),
        ];
        for (raw, needle) in bad {
            let e = ConfList::parse(&raw).expect_err("refused").to_string();
            assert!(e.contains(needle), "{raw}: {e}");
        }
        assert!(ConfList::parse(&json!({"cniVersion": "1.1.0", "name": "u", "type": "x"})).is_ok());
    }

    #[test]
    fn plugins_get_only_the_capabilities_they_declare_and_the_previous_result() {
        let c = ConfList::parse(&json!({"cniVersion": "1.0.0", "name": "u", "plugins": [
            {"type": "macvlan", "capabilities": {"mac": true, "ips": false}, "runtimeConfig": {"stale": 1}},
            {"type": "tuning"}
        ]}))
        .expect("valid");
        let rc = json!({"mac": "02:00:00:00:00:01", "ips": ["10.0.0.1/24"]});
        let rc = rc.as_object().expect("object");
        let first = c.stdin_for(0, rc, None);
        assert_eq!(first["runtimeConfig"], json!({"mac": "02:00:00:00:00:01"}));
        assert_eq!((first["name"].as_str(), first["cniVersion"].as_str()), (Some("u"), Some("1.0.0")));
        assert!(first.get("prevResult").is_none());
        let prev = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}]});
        let second = c.stdin_for(1, rc, Some(&prev));
        assert!(second.get("runtimeConfig").is_none());
        assert_eq!(second["prevResult"], prev);
    }
}
