//! Node selection: a Kubernetes label selector matched against the node's labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects a node with `labels`. An absent or empty selector selects every
/// node. An invalid selector (unknown operator, values where none are allowed, or none where
/// they are required) is an error, reported against the resource.
pub fn matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let Some(selector) = selector else { return Ok(true) };
    for (key, value) in selector.match_labels.iter().flatten() {
        if labels.get(key) != Some(value) {
            return Ok(false);
        }
    }
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or_default();
        let label = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!("nodeSelector: operator {} on key {:?} needs values", expr.operator, expr.key));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!("nodeSelector: operator {} on key {:?} takes no values", expr.operator, expr.key));
            }
            "In" => label.is_some_and(|l| values.contains(l)),
            "NotIn" => label.is_none_or(|l| !values.contains(l)),
            "Exists" => label.is_some(),
            "DoesNotExist" => label.is_none(),
            other => {
                return Err(format!(
                    "nodeSelector: unknown operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
                ));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: if values.is_empty() { None } else { Some(values.iter().map(|s| s.to_string()).collect()) },
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn empty_selects_all() {
        assert_eq!(matches(None, &labels(&[])), Ok(true));
        assert_eq!(matches(Some(&LabelSelector::default()), &labels(&[])), Ok(true));
    }

    #[test]
    fn match_labels() {
        let sel = LabelSelector { match_labels: Some(labels(&[("rack", "r1")])), match_expressions: None };
        assert_eq!(matches(Some(&sel), &labels(&[("rack", "r1"), ("x", "y")])), Ok(true));
        assert_eq!(matches(Some(&sel), &labels(&[("rack", "r2")])), Ok(false));
    }

    #[test]
    fn expressions() {
        let node = labels(&[("zone", "a")]);
        assert_eq!(matches(Some(&expr("zone", "In", &["a", "b"])), &node), Ok(true));
        assert_eq!(matches(Some(&expr("zone", "NotIn", &["a"])), &node), Ok(false));
        assert_eq!(matches(Some(&expr("zone", "Exists", &[])), &node), Ok(true));
        assert_eq!(matches(Some(&expr("edge", "DoesNotExist", &[])), &node), Ok(true));
        assert_eq!(matches(Some(&expr("edge", "NotIn", &["x"])), &node), Ok(true));
        assert!(matches(Some(&expr("zone", "Equals", &["a"])), &node).is_err());
        assert!(matches(Some(&expr("zone", "In", &[])), &node).is_err());
    }
}
