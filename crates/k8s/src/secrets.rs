//! BGP passwords kept in Secrets (`Underlay.spec.neighbors[].passwordSecret`), read for a
//! reconcile that plans: one GET per referenced Secret, nothing cached or watched, so a rotated
//! password is applied by the next reconcile (at the latest the periodic resync). Values become
//! [`plan::Secret`]s at once; no error message carries one.

use std::collections::BTreeMap;

use api::PasswordRef;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// Reads every referenced password. A Secret in no namespace (an Underlay from a static file)
/// is looked for in `default_namespace`.
pub async fn read(
    client: &Client,
    refs: impl IntoIterator<Item = PasswordRef>,
    default_namespace: &str,
) -> plan::Passwords {
    let mut secrets: BTreeMap<(String, String), Result<Option<Secret>, String>> = BTreeMap::new();
    let mut out = plan::Passwords::new();
    for r in refs {
        let namespace = if r.namespace.is_empty() { default_namespace.to_string() } else { r.namespace.clone() };
        let key = (namespace.clone(), r.name.clone());
        if !secrets.contains_key(&key) {
            let got = Api::<Secret>::namespaced(client.clone(), &namespace).get_opt(&r.name).await;
            secrets.insert(key.clone(), got.map_err(|e| api_error(&e)));
        }
        let value = match &secrets[&key] {
            Err(why) => Err(why.clone()),
            Ok(None) => Err("the Secret does not exist".to_string()),
            Ok(Some(secret)) => value_of(secret, &r.key),
        };
        out.insert(r, value);
    }
    out
}

/// The password under `key`, as text.
fn value_of(secret: &Secret, key: &str) -> Result<plan::Secret, String> {
    let Some(bytes) = secret.data.as_ref().and_then(|d| d.get(key)) else {
        return Err(format!("the Secret has no key {key:?}"));
    };
    match std::str::from_utf8(&bytes.0) {
        Ok(text) => Ok(plan::Secret::new(text)),
        Err(_) => Err(format!("the value of key {key:?} is not UTF-8 text")),
    }
}

/// Why a Secret could not be read, without anything the API server echoed back.
fn api_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if status.code == 403 => {
            "the Secret cannot be read: forbidden (the controller may read Secrets in its own namespace only)".into()
        }
        kube::Error::Api(status) => format!("the Secret cannot be read: API error {} ({})", status.code, status.reason),
        _ => "the Secret cannot be read: the API server did not answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn values_come_from_the_named_key() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                ("password".to_string(), ByteString(b"s3cret-pw".to_vec())),
                ("binary".to_string(), ByteString(vec![0xff, 0xfe])),
            ])),
            ..Secret::default()
        };
        assert_eq!(value_of(&secret, "password").map(|s| s.expose().to_string()), Ok("s3cret-pw".to_string()));
        let missing = value_of(&secret, "other").map(|_| ()).unwrap_err();
        assert_eq!(missing, "the Secret has no key \"other\"");
        assert!(value_of(&secret, "binary").is_err());
        assert!(!format!("{:?}", value_of(&secret, "password")).contains("s3cret"), "Debug never shows the value");
    }
}
