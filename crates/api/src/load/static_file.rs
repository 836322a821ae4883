//! Upstream's static host-mode files (`openpe_*.yaml`): sections of specs, not objects.

use serde_json::Value;

use super::{LoadError, Loaded, Origin, Sourced, typed_spec};
use crate::overlays::*;
use crate::types::*;

const STATIC_SECTIONS: &[&str] = &["underlays", "l3vnis", "l2vnis", "l3vpns", "bgppassthrough", "rawfrrconfigs"];

/// Static files hold specs, not objects: names come from `name` (L3VNI/L2VNI/L3VPN) or are
/// derived (`underlay-<i>`, `passthrough`, `rawfrrconfig-<i>`), counted across all files read.
pub(super) fn load_static(doc: Value, origin: Origin, loaded: &mut Loaded) -> Result<(), LoadError> {
    let Value::Object(map) = doc else { return Ok(()) };
    if let Some(unknown) = map.keys().find(|k| !STATIC_SECTIONS.contains(&k.as_str())) {
        return Err(LoadError::Shape {
            origin,
            what: "static configuration".into(),
            field: unknown.clone(),
            message: format!("unknown section (expected one of {})", STATIC_SECTIONS.join(", ")),
        });
    }
    let list = |key: &str| -> Result<Vec<Value>, LoadError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(LoadError::Shape {
                origin: origin.clone(),
                what: "static configuration".into(),
                field: key.into(),
                message: "must be a list".into(),
            }),
        }
    };
    for spec in list("underlays")? {
        let name = format!("underlay-{}", loaded.underlays.len() + count_rejected(loaded, ResourceKind::Underlay));
        let what = format!("underlays[{name}]");
        if let Some(spec) = typed_spec::<UnderlaySpec>(ResourceKind::Underlay, &name, spec, &origin, &what, loaded)? {
            loaded.underlays.push(Sourced { resource: Underlay::new(&name, spec), origin: origin.clone() });
        }
    }
    for (i, entry) in list("l3vnis")?.into_iter().enumerate() {
        let (name, spec) = split_name(entry, &origin, &format!("l3vnis[{i}]"))?;
        let what = format!("L3VNI/{name}");
        if let Some(spec) = typed_spec::<L3VNISpec>(ResourceKind::L3VNI, &name, spec, &origin, &what, loaded)? {
            loaded.l3vnis.push(Sourced { resource: L3VNI::new(&name, spec), origin: origin.clone() });
        }
    }
    for (i, entry) in list("l2vnis")?.into_iter().enumerate() {
        let (name, spec) = split_name(entry, &origin, &format!("l2vnis[{i}]"))?;
        let what = format!("L2VNI/{name}");
        if let Some(spec) = typed_spec::<L2VNISpec>(ResourceKind::L2VNI, &name, spec, &origin, &what, loaded)? {
            loaded.l2vnis.push(Sourced { resource: L2VNI::new(&name, spec), origin: origin.clone() });
        }
    }
    for (i, entry) in list("l3vpns")?.into_iter().enumerate() {
        let (name, spec) = split_name(entry, &origin, &format!("l3vpns[{i}]"))?;
        let what = format!("L3VPN/{name}");
        if let Some(spec) = typed_spec::<L3VPNSpec>(ResourceKind::L3VPN, &name, spec, &origin, &what, loaded)? {
            loaded.l3vpns.push(Sourced { resource: L3VPN::new(&name, spec), origin: origin.clone() });
        }
    }
    if let Some(spec) = map.get("bgppassthrough").filter(|v| !v.is_null()) {
        // Upstream only uses the passthrough when a host session ASN is set.
        let has_session = spec.pointer("/hostSession/asn").and_then(Value::as_i64).is_some_and(|a| a > 0);
        if has_session {
            let name = "passthrough".to_string();
            let what = "bgppassthrough".to_string();
            if let Some(spec) = typed_spec::<L3PassthroughSpec>(
                ResourceKind::L3Passthrough,
                &name,
                spec.clone(),
                &origin,
                &what,
                loaded,
            )? {
                loaded.passthroughs.push(Sourced { resource: L3Passthrough::new(&name, spec), origin: origin.clone() });
            }
        }
    }
    for spec in list("rawfrrconfigs")? {
        let name =
            format!("rawfrrconfig-{}", loaded.raw_configs.len() + count_rejected(loaded, ResourceKind::RawFRRConfig));
        let what = format!("rawfrrconfigs[{name}]");
        if let Some(spec) =
            typed_spec::<RawFRRConfigSpec>(ResourceKind::RawFRRConfig, &name, spec, &origin, &what, loaded)?
        {
            loaded.raw_configs.push(Sourced { resource: RawFRRConfig::new(&name, spec), origin: origin.clone() });
        }
    }
    Ok(())
}

fn count_rejected(loaded: &Loaded, kind: ResourceKind) -> usize {
    loaded.rejected.iter().filter(|r| r.kind == kind).count()
}

fn split_name(entry: Value, origin: &Origin, what: &str) -> Result<(String, Value), LoadError> {
    let Value::Object(mut map) = entry else {
        return Err(LoadError::Shape {
            origin: origin.clone(),
            what: what.into(),
            field: String::new(),
            message: "must be a mapping".into(),
        });
    };
    match map.remove("name") {
        Some(Value::String(name)) if !name.is_empty() => Ok((name, Value::Object(map))),
        _ => Err(LoadError::Shape {
            origin: origin.clone(),
            what: what.into(),
            field: "name".into(),
            message: "is required (a non-empty string)".into(),
        }),
    }
}
