//! CustomResourceDefinitions generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{L2VNI, L3Passthrough, L3VNI, L3VPN, RawFRRConfig, RouterNodeConfigurationStatus, Underlay};

/// Every CRD this product serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        Underlay::crd(),
        L3VNI::crd(),
        L2VNI::crd(),
        L3VPN::crd(),
        L3Passthrough::crd(),
        RawFRRConfig::crd(),
        RouterNodeConfigurationStatus::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream (what `openperouter crds` prints).
pub fn to_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}
