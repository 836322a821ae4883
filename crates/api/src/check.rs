//! Local evaluation of everything the API server checks on a single object: the OpenAPI
//! constraints of the generated schema (types, required fields, ranges, lengths, patterns,
//! enums, list sizes) and the CEL rules (`x-kubernetes-validations`, evaluated with kube's CEL
//! interpreter). Both are driven by the very schema that goes into the CRD, so host mode and the
//! CLI cannot drift from what a cluster enforces.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

use crate::{L2VNI, L3Passthrough, L3VNI, L3VPN, RawFRRConfig, ResourceKind, Underlay};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the offending field (`spec.neighbors[0].port`), empty for the object.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// Joins violations into one human sentence list.
pub fn join(violations: &[Violation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The openAPIV3Schema of a kind's CRD, cached.
fn schema_for(kind: ResourceKind) -> Option<&'static Value> {
    static SCHEMAS: OnceLock<HashMap<ResourceKind, Value>> = OnceLock::new();
    let map = SCHEMAS.get_or_init(|| {
        let mut map = HashMap::new();
        for (kind, crd) in [
            (ResourceKind::Underlay, Underlay::crd()),
            (ResourceKind::L3VNI, L3VNI::crd()),
            (ResourceKind::L3VPN, L3VPN::crd()),
            (ResourceKind::L2VNI, L2VNI::crd()),
            (ResourceKind::L3Passthrough, L3Passthrough::crd()),
            (ResourceKind::RawFRRConfig, RawFRRConfig::crd()),
        ] {
            let schema = crd
                .spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .and_then(|s| serde_json::to_value(s).ok());
            if let Some(schema) = schema {
                map.insert(kind, schema);
            }
        }
        map
    });
    map.get(&kind)
}

/// The CEL rules of every kind's schema, compiled once per thread (compiling them is most of the
/// cost of checking an object: an agent checks every resource at every reconcile).
struct CompiledRules {
    validator: kube::core::cel::Validator,
    compiled: HashMap<ResourceKind, kube::core::cel::CompiledSchema>,
}

thread_local! {
    static CEL: CompiledRules = CompiledRules {
        validator: kube::core::cel::Validator::new(),
        compiled: [
            ResourceKind::Underlay,
            ResourceKind::L2VNI,
            ResourceKind::L3VNI,
            ResourceKind::L3VPN,
            ResourceKind::L3Passthrough,
            ResourceKind::RawFRRConfig,
        ]
        .into_iter()
        .filter_map(|kind| Some((kind, kube::core::cel::compile_schema(schema_for(kind)?))))
        .collect(),
    };
}

/// Checks a spec (the value under `spec`) of `kind` against the schema constraints and CEL rules.
/// `old` is the previous spec for update checks (transition rules such as `self == oldSelf`).
pub fn check_spec(kind: ResourceKind, spec: &Value, old: Option<&Value>) -> Vec<Violation> {
    let Some(root) = schema_for(kind) else {
        return vec![Violation { path: String::new(), message: format!("{kind} has no schema") }];
    };
    let Some(spec_schema) = root.get("properties").and_then(|p| p.get("spec")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(spec_schema, spec, "spec", &mut out);
    // CEL runs over the whole object shape so rule paths read `spec.…`.
    let object = serde_json::json!({ "spec": spec });
    let old_object = old.map(|o| serde_json::json!({ "spec": o }));
    // Every kind `schema_for` knows is compiled.
    let checked = CEL.with(|cel| {
        cel.compiled.get(&kind).map_or(Ok(()), |c| cel.validator.validate_compiled(c, &object, old_object.as_ref()))
    });
    if let Err(errors) = checked {
        for e in errors.into_vec() {
            out.push(Violation { path: e.field_path.clone(), message: e.message.clone() });
        }
    }
    out
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>) {
    let push = |out: &mut Vec<Violation>, message: String| {
        out.push(Violation { path: path.to_string(), message });
    };
    if value.is_null() {
        // Optional fields serialise as absent; an explicit null is accepted when nullable.
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str)
        && !type_matches(ty, value)
    {
        push(out, format!("must be of type {ty}, got {}", describe(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list = allowed.iter().map(describe).collect::<Vec<_>>().join(", ");
        push(out, format!("unsupported value {}: must be one of {list}", describe(value)));
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                push(out, format!("must be at least {min} characters long, got {len}"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                push(out, format!("must be at most {max} characters long, got {len}"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => {
                        push(out, format!("{} does not match the pattern {pattern}", describe(value)))
                    }
                    Ok(_) => {}
                    Err(e) => push(out, format!("schema pattern {pattern} is invalid: {e}")),
                }
            }
        }
        Value::Number(n) => {
            let v = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && v < min
            {
                push(out, format!("must be at least {min}, got {n}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && v > max
            {
                push(out, format!("must be at most {max}, got {n}"));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && len < min
            {
                push(out, format!("must have at least {min} item(s), got {len}"));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && len > max
            {
                push(out, format!("must have at most {max} item(s), got {len}"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => {
            if schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
                return;
            }
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for field in required.iter().filter_map(Value::as_str) {
                    if map.get(field).is_none_or(Value::is_null) {
                        push(out, format!("required field {field:?} is missing"));
                    }
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, child) in map {
                let child_path = format!("{path}.{key}");
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(s), _) => walk(s, child, &child_path, out),
                    (None, Some(s)) if s.is_object() => walk(s, child, &child_path, out),
                    (None, _) => out.push(Violation { path: child_path, message: "unknown field".to_string() }),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn underlay(extra: Value) -> Value {
        let mut base = json!({
            "asn": 64514,
            "interfaces": [{"type": "NetworkDevice", "networkDevice": {"interfaceName": "eth0"}}],
            "neighbors": [{"asn": 64512, "address": "192.168.11.2"}]
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    }

    #[test]
    fn valid_underlay_passes() {
        assert_eq!(check_spec(ResourceKind::Underlay, &underlay(json!({})), None), vec![]);
    }

    #[test]
    fn range_violation_names_field() {
        let v = check_spec(ResourceKind::Underlay, &underlay(json!({"asn": 0})), None);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].path, "spec.asn");
        assert!(v[0].message.contains("at least 1"), "{}", v[0].message);
    }

    #[test]
    fn pattern_violation() {
        let spec =
            underlay(json!({"interfaces": [{"type": "NetworkDevice", "networkDevice": {"interfaceName": "0bad"}}]}));
        let v = check_spec(ResourceKind::Underlay, &spec, None);
        assert!(v.iter().any(|v| v.path == "spec.interfaces[0].networkDevice.interfaceName"), "{v:?}");
    }

    #[test]
    fn cel_rule_violation_is_reported() {
        let spec = underlay(json!({"neighbors": [{"asn": 64512, "type": "External", "address": "192.168.11.2"}]}));
        let v = check_spec(ResourceKind::Underlay, &spec, None);
        assert!(v.iter().any(|v| v.message == "ASN and Type cannot be set together"), "{v:?}");
    }

    #[test]
    fn transition_rule_uses_old_value() {
        let spec = json!({"vrf": "red", "vni": 100, "hostSession": {"asn": 64514, "hostASN": 64515, "localCIDR": {"ipv4": "192.169.10.0/24"}}});
        let mut changed = spec.clone();
        changed["hostSession"]["localCIDR"]["ipv4"] = json!("192.169.11.0/24");
        assert_eq!(check_spec(ResourceKind::L3VNI, &spec, Some(&spec)), vec![]);
        let v = check_spec(ResourceKind::L3VNI, &changed, Some(&spec));
        assert!(v.iter().any(|v| v.message == "LocalCIDR can't be changed"), "{v:?}");
    }

    #[test]
    fn enum_violation() {
        let spec = json!({"vni": 10, "hostMaster": {"type": "Bridge"}});
        let v = check_spec(ResourceKind::L2VNI, &spec, None);
        assert!(v.iter().any(|v| v.path == "spec.hostMaster.type" && v.message.contains("must be one of")), "{v:?}");
    }
}
