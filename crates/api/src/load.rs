//! Reading configuration: Kubernetes manifests (multi-document YAML, any mix of kinds, `List`s)
//! and upstream's static host-mode files (`openpe_*.yaml` and `node-config.yaml`).
//!
//! Two classes of problems are kept apart:
//! * a document that cannot be understood (malformed YAML, unknown kind or field, wrong type,
//!   missing required field) is a [`LoadError`] naming the file, the document and the field;
//! * a well-formed resource that breaks a schema constraint or CEL rule is kept aside as a
//!   [`Rejected`] resource with a `ValidationFailed` outcome, so one bad resource never hides
//!   the others.

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod static_file;

use crate::check::{self, Violation};
use crate::overlays::*;
use crate::types::*;

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based document index inside the file.
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.file.display(), self.document)
    }
}

/// A document that could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{file}: invalid YAML: {message}")]
    Yaml {
        /// The file.
        file: PathBuf,
        /// Parser message (with line and column).
        message: String,
    },
    /// The document does not fit its kind's shape.
    #[error("{origin}: {what}: {field}: {message}")]
    Shape {
        /// Where.
        origin: Origin,
        /// `Kind/name` or the static-file section.
        what: String,
        /// Dotted field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A document of a kind or apiVersion this product does not read.
    #[error("{origin}: {message}")]
    Unsupported {
        /// Where.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
}

/// A resource with its origin.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    /// The resource.
    pub resource: T,
    /// Where it came from.
    pub origin: Origin,
}

/// A well-formed resource that breaks a single-object rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Kind of the resource.
    pub kind: ResourceKind,
    /// Its name.
    pub name: String,
    /// Its node selector, when readable (the failure is only reported on selected nodes).
    pub node_selector: Option<LabelSelector>,
    /// The broken rules.
    pub violations: Vec<Violation>,
    /// Where it came from.
    pub origin: Origin,
}

impl Rejected {
    /// The outcome to report.
    pub fn failed_resource(&self) -> FailedResource {
        FailedResource::new(self.kind, &self.name, FailureReason::ValidationFailed, check::join(&self.violations))
    }
}

/// Node settings from `node-config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// How the node index is found.
    #[serde(default)]
    pub node_index: NodeIndexSource,
    /// Node name (default: the host name).
    #[serde(default)]
    pub node_name: Option<String>,
    /// Log level override.
    #[serde(default)]
    pub log_level: Option<String>,
}

/// `nodeIndex` of `node-config.yaml`: a fixed index, or the host bits of an interface address.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeIndexSource {
    /// Fixed index.
    #[serde(default)]
    pub index: Option<u32>,
    /// Interface whose address gives the index.
    #[serde(default)]
    pub interface_name: Option<String>,
    /// Restricts which address of the interface is used.
    #[serde(default)]
    pub cidr: Option<String>,
}

impl NodeConfig {
    /// Checks the rules of `node-config.yaml`.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.node_index;
        if n.index.is_some_and(|i| i != 0) && n.interface_name.is_some() {
            return Err("nodeIndex.index and nodeIndex.interfaceName are mutually exclusive".into());
        }
        if n.cidr.is_some() && n.interface_name.is_none() {
            return Err("nodeIndex.cidr is only valid together with nodeIndex.interfaceName".into());
        }
        if let Some(cidr) = &n.cidr {
            cidr.parse::<ipnet::IpNet>().map_err(|e| format!("nodeIndex.cidr {cidr:?} is not a CIDR: {e}"))?;
        }
        Ok(())
    }
}

/// Everything read from a set of paths.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Underlays.
    pub underlays: Vec<Sourced<Underlay>>,
    /// L3VNIs.
    pub l3vnis: Vec<Sourced<L3VNI>>,
    /// L3VPNs.
    pub l3vpns: Vec<Sourced<L3VPN>>,
    /// L2VNIs.
    pub l2vnis: Vec<Sourced<L2VNI>>,
    /// L3Passthroughs.
    pub passthroughs: Vec<Sourced<L3Passthrough>>,
    /// RawFRRConfigs.
    pub raw_configs: Vec<Sourced<RawFRRConfig>>,
    /// Resources that break a single-object rule, or of a kind not supported yet (L3VPN).
    pub rejected: Vec<Rejected>,
    /// `node-config.yaml`, when one was read.
    pub node_config: Option<(NodeConfig, PathBuf)>,
}

impl Loaded {
    /// The resources read, without where they came from.
    pub fn objects(&self) -> crate::Objects {
        crate::Objects {
            underlays: self.underlays.iter().map(|s| s.resource.clone()).collect(),
            l3vnis: self.l3vnis.iter().map(|s| s.resource.clone()).collect(),
            l3vpns: self.l3vpns.iter().map(|s| s.resource.clone()).collect(),
            l2vnis: self.l2vnis.iter().map(|s| s.resource.clone()).collect(),
            passthroughs: self.passthroughs.iter().map(|s| s.resource.clone()).collect(),
            raw_configs: self.raw_configs.iter().map(|s| s.resource.clone()).collect(),
        }
    }

    /// Number of resources read (valid or not).
    pub fn resource_count(&self) -> usize {
        self.underlays.len()
            + self.l3vnis.len()
            + self.l3vpns.len()
            + self.l2vnis.len()
            + self.passthroughs.len()
            + self.raw_configs.len()
            + self.rejected.len()
    }
}

/// Reads every path (a file, or a directory whose `*.yaml`/`*.yml` files are read in name order).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for path in paths {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            let entries =
                std::fs::read_dir(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
                let p = entry.path();
                let is_yaml = p.extension().is_some_and(|e| e == "yaml" || e == "yml");
                if is_yaml && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            for file in files {
                load_file(&file, &mut loaded)?;
            }
        } else {
            load_file(path, &mut loaded)?;
        }
    }
    Ok(loaded)
}

/// Reads one file into `loaded`.
pub fn load_file(path: &Path, loaded: &mut Loaded) -> Result<(), LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io { path: path.to_path_buf(), source })?;
    load_str(&text, path, loaded)
}

/// The most YAML documents one file may hold.
pub const MAX_DOCUMENTS: usize = 65_536;

/// Parses YAML text (possibly several documents) that came from `file` into `loaded`.
pub fn load_str(text: &str, file: &Path, loaded: &mut Loaded) -> Result<(), LoadError> {
    // The parser's default allows 1024 documents in a file: a node with a thousand VNIs in one
    // file has more. Its other limits (events, nodes, depth, aliases) still bound a hostile file.
    let options = serde_saphyr::options! { budget: serde_saphyr::budget! { max_documents: MAX_DOCUMENTS } };
    let docs: Vec<Value> = serde_saphyr::from_multiple_with_options(text, options)
        .map_err(|e| LoadError::Yaml { file: file.to_path_buf(), message: e.to_string() })?;
    let is_node_config_name = file.file_name().is_some_and(|n| n == "node-config.yaml" || n == "node-config.yml");
    for (i, doc) in docs.into_iter().enumerate() {
        let origin = Origin { file: file.to_path_buf(), document: i + 1 };
        if doc.is_null() {
            continue;
        }
        let Some(map) = doc.as_object() else {
            return Err(LoadError::Unsupported { origin, message: "expected a mapping at the top level".into() });
        };
        if map.contains_key("kind") || map.contains_key("apiVersion") {
            load_manifest(doc, origin, loaded)?;
        } else if is_node_config_name || map.contains_key("nodeIndex") {
            let config: NodeConfig = from_value(doc, &origin, "node config", "")?;
            config.validate().map_err(|message| LoadError::Shape {
                origin: origin.clone(),
                what: "node config".into(),
                field: "nodeIndex".into(),
                message,
            })?;
            loaded.node_config = Some((config, file.to_path_buf()));
        } else {
            static_file::load_static(doc, origin, loaded)?;
        }
    }
    Ok(())
}

/// Deserialises `value` into `T`, turning the error into a [`LoadError::Shape`] with the field
/// path prefixed by `prefix`.
fn from_value<T: DeserializeOwned>(value: Value, origin: &Origin, what: &str, prefix: &str) -> Result<T, LoadError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let field = match (prefix.is_empty(), inner == ".") {
            (true, _) => inner,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{inner}"),
        };
        LoadError::Shape { origin: origin.clone(), what: what.to_string(), field, message: e.into_inner().to_string() }
    })
}

const TOP_LEVEL_FIELDS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

fn load_manifest(doc: Value, origin: Origin, loaded: &mut Loaded) -> Result<(), LoadError> {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    if kind == "List" {
        let items = doc.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        for item in items {
            load_manifest(item, origin.clone(), loaded)?;
        }
        return Ok(());
    }
    if api_version != API_VERSION {
        let hint = if api_version == "openpe.openperouter.github.io/v1alpha1" {
            " (this is the API group used before v0.2.0; rename it and use the current field names)"
        } else {
            ""
        };
        return Err(LoadError::Unsupported {
            origin,
            message: format!("{kind}: apiVersion {api_version:?} is not supported, expected {API_VERSION:?}{hint}"),
        });
    }
    let name =
        doc.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string).ok_or_else(|| LoadError::Shape {
            origin: origin.clone(),
            what: kind.clone(),
            field: "metadata.name".into(),
            message: "is required".into(),
        })?;
    let what = format!("{kind}/{name}");
    if let Some(map) = doc.as_object()
        && let Some(unknown) = map.keys().find(|k| !TOP_LEVEL_FIELDS.contains(&k.as_str()))
    {
        return Err(LoadError::Shape { origin, what, field: unknown.clone(), message: "unknown field".into() });
    }
    let metadata: ObjectMeta =
        from_value(doc.get("metadata").cloned().unwrap_or(Value::Null), &origin, &what, "metadata")?;
    let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
    match kind.as_str() {
        "Underlay" => {
            if let Some(spec) = typed_spec::<UnderlaySpec>(ResourceKind::Underlay, &name, spec, &origin, &what, loaded)?
            {
                loaded.underlays.push(Sourced { resource: Underlay { metadata, spec, status: None }, origin });
            }
        }
        "L3VNI" => {
            if let Some(spec) = typed_spec::<L3VNISpec>(ResourceKind::L3VNI, &name, spec, &origin, &what, loaded)? {
                loaded.l3vnis.push(Sourced { resource: L3VNI { metadata, spec, status: None }, origin });
            }
        }
        "L2VNI" => {
            if let Some(spec) = typed_spec::<L2VNISpec>(ResourceKind::L2VNI, &name, spec, &origin, &what, loaded)? {
                loaded.l2vnis.push(Sourced { resource: L2VNI { metadata, spec, status: None }, origin });
            }
        }
        "L3Passthrough" => {
            if let Some(spec) =
                typed_spec::<L3PassthroughSpec>(ResourceKind::L3Passthrough, &name, spec, &origin, &what, loaded)?
            {
                loaded.passthroughs.push(Sourced { resource: L3Passthrough { metadata, spec, status: None }, origin });
            }
        }
        "RawFRRConfig" => {
            if let Some(spec) =
                typed_spec::<RawFRRConfigSpec>(ResourceKind::RawFRRConfig, &name, spec, &origin, &what, loaded)?
            {
                loaded.raw_configs.push(Sourced { resource: RawFRRConfig { metadata, spec, status: None }, origin });
            }
        }
        "L3VPN" => {
            if let Some(spec) = typed_spec::<L3VPNSpec>(ResourceKind::L3VPN, &name, spec, &origin, &what, loaded)? {
                loaded.l3vpns.push(Sourced { resource: L3VPN { metadata, spec, status: None }, origin });
            }
        }
        "RouterNodeConfigurationStatus" => {
            // Output of the router, not configuration: ignored on input.
        }
        other => {
            return Err(LoadError::Unsupported {
                origin,
                message: format!(
                    "kind {other:?} is not part of {API_VERSION} (expected Underlay, L3VNI, L2VNI, L3Passthrough, RawFRRConfig or L3VPN)"
                ),
            });
        }
    }
    Ok(())
}

/// Types the spec (shape errors are fatal) then runs the single-object rules: a resource that
/// breaks one is recorded in `loaded.rejected` and `None` is returned.
fn typed_spec<T: DeserializeOwned>(
    kind: ResourceKind,
    name: &str,
    spec: Value,
    origin: &Origin,
    what: &str,
    loaded: &mut Loaded,
) -> Result<Option<T>, LoadError> {
    if spec.is_null() {
        return Err(LoadError::Shape {
            origin: origin.clone(),
            what: what.into(),
            field: "spec".into(),
            message: "is required".into(),
        });
    }
    let typed: T = from_value(spec.clone(), origin, what, "spec")?;
    let violations = check::check_spec(kind, &spec, None);
    if violations.is_empty() {
        return Ok(Some(typed));
    }
    let node_selector = spec.get("nodeSelector").and_then(|s| serde_json::from_value(s.clone()).ok());
    loaded.rejected.push(Rejected { kind, name: name.to_string(), node_selector, violations, origin: origin.clone() });
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, LoadError> {
        let mut loaded = Loaded::default();
        load_str(text, Path::new("test.yaml"), &mut loaded)?;
        Ok(loaded)
    }

    #[test]
    fn multi_document_mixed_kinds() {
        let loaded = load(
            "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\n---\n\
             apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {name: l2}\nspec: {vni: 110}\n",
        )
        .unwrap();
        assert_eq!(loaded.l3vnis.len(), 1);
        assert_eq!(loaded.l2vnis.len(), 1);
        assert_eq!(loaded.l3vnis[0].resource.spec.vni, 100);
        assert_eq!(loaded.l2vnis[0].origin.document, 2);
    }

    #[test]
    fn a_file_with_thousands_of_documents_loads() {
        let text: Vec<String> = (0..3000)
            .map(|i| {
                format!(
                    "apiVersion: network.openperouter.io/v1alpha1\nkind: L2VNI\nmetadata: {{name: l2-{i}}}\nspec: {{vni: {}}}\n",
                    1000 + i
                )
            })
            .collect();
        let loaded = load(&text.join("---\n")).unwrap();
        assert_eq!(loaded.l2vnis.len(), 3000);
        assert_eq!(loaded.l2vnis[2999].origin.document, 3000);
    }

    #[test]
    fn unknown_field_names_the_field_and_document() {
        let err = load(
            "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\n---\n\
             apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: blue}\nspec: {vrf: blue, vni: 200, hostsession: {}}\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("document 2"), "{text}");
        assert!(text.contains("L3VNI/blue"), "{text}");
        assert!(text.contains("hostsession"), "{text}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = load("apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: hundred}\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("spec.vni"), "{text}");
    }

    #[test]
    fn old_api_group_gets_a_hint() {
        let err = load("apiVersion: openpe.openperouter.github.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 100}\n").unwrap_err();
        assert!(err.to_string().contains("before v0.2.0"), "{err}");
    }

    #[test]
    fn rule_violation_is_rejected_not_fatal() {
        let loaded = load(
            "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: red}\nspec: {vrf: red, vni: 0}\n---\n\
             apiVersion: network.openperouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: blue}\nspec: {vrf: blue, vni: 200}\n",
        )
        .unwrap();
        assert_eq!(loaded.l3vnis.len(), 1);
        assert_eq!(loaded.rejected.len(), 1);
        let failed = loaded.rejected[0].failed_resource();
        assert_eq!(failed.kind, ResourceKind::L3VNI);
        assert_eq!(failed.name, "red");
        assert_eq!(failed.reason, FailureReason::ValidationFailed);
        assert!(failed.message.contains("spec.vni"), "{}", failed.message);
    }

    #[test]
    fn l3vpns_are_read_typed_and_checked() {
        let h = "apiVersion: network.openperouter.io/v1alpha1\nkind: L3VPN\nmetadata: {name: red}\n";
        let loaded =
            load(&format!("{h}spec: {{vrf: red, rdAssignedNumber: 100, importRTs: ['64520:100']}}\n")).unwrap();
        assert_eq!(loaded.l3vpns.len(), 1);
        assert_eq!(loaded.l3vpns[0].resource.spec.rd_assigned_number, 100);
        let missing = load(&format!("{h}spec: {{vrf: red, rdAssignedNumber: 100}}\n")).unwrap_err().to_string();
        assert!(missing.contains("importRTs"), "{missing}");
        let loaded =
            load(&format!("{h}spec: {{vrf: red, rdAssignedNumber: 70000, importRTs: ['64520:1']}}\n")).unwrap();
        assert_eq!(loaded.rejected.len(), 1);
        assert!(loaded.rejected[0].failed_resource().message.contains("rdAssignedNumber"), "{:?}", loaded.rejected);
        let stat =
            load("l3vpns:\n- {name: blue, vrf: blue, rdAssignedNumber: 200, importRTs: ['64520:200']}\n").unwrap();
        assert_eq!(stat.l3vpns[0].resource.metadata.name.as_deref(), Some("blue"));
    }

    #[test]
    fn static_file_sections() {
        let loaded = load(
            "underlays:\n- asn: 64514\n  interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth0}}]\n  neighbors: [{asn: 64512, address: 192.168.111.1}]\n\
             l3vnis:\n- name: red\n  vrf: red\n  vni: 100\n\
             l2vnis:\n- name: storage\n  vni: 300\n  routingDomain: {type: L3VNI, l3vni: {name: red}}\n\
             bgppassthrough:\n  hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.168.20.0/24}}\n\
             rawfrrconfigs:\n- rawConfig: 'debug bgp updates'\n",
        )
        .unwrap();
        assert_eq!(loaded.underlays[0].resource.metadata.name.as_deref(), Some("underlay-0"));
        assert_eq!(loaded.l3vnis[0].resource.metadata.name.as_deref(), Some("red"));
        assert_eq!(loaded.l2vnis[0].resource.metadata.name.as_deref(), Some("storage"));
        assert_eq!(loaded.passthroughs.len(), 1);
        assert_eq!(loaded.raw_configs.len(), 1);
    }

    #[test]
    fn static_unknown_field_in_entry() {
        let err = load("l3vnis:\n- name: red\n  vrf: red\n  vni: 100\n  colour: blue\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("L3VNI/red") && text.contains("colour"), "{text}");
    }

    #[test]
    fn node_config() {
        let loaded = load("nodeIndex:\n  index: 3\nnodeName: worker-3\n").unwrap();
        let (config, _) = loaded.node_config.unwrap();
        assert_eq!(config.node_index.index, Some(3));
        assert_eq!(config.node_name.as_deref(), Some("worker-3"));
        let err = load("nodeIndex:\n  index: 3\n  interfaceName: eth0\n").unwrap_err();
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
    }

    #[test]
    fn malformed_yaml() {
        let err = load("kind: [unclosed\n").unwrap_err();
        assert!(matches!(err, LoadError::Yaml { .. }), "{err}");
    }
}
