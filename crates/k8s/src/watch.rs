//! Watching the API's resources: one reflector store per planned kind ([`api::KINDS`]), set up
//! here once for the webhooks' view of the cluster and for the node controller. Objects are kept
//! untyped and decoded on use, so one object the current types cannot read is skipped (with one
//! warning) instead of breaking the whole watch.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use api::{L2VNI, L3Passthrough, L3VNI, L3VPN, Object, Objects, RawFRRConfig, ResourceKind, Underlay};
use futures::{Future, StreamExt};
use kube::Client;
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::task::JoinHandle;

/// The API resource of a planned kind.
fn api_resource(kind: ResourceKind) -> Option<ApiResource> {
    Some(match kind {
        ResourceKind::Underlay => ApiResource::erase::<Underlay>(&()),
        ResourceKind::L3VNI => ApiResource::erase::<L3VNI>(&()),
        ResourceKind::L3VPN => ApiResource::erase::<L3VPN>(&()),
        ResourceKind::L2VNI => ApiResource::erase::<L2VNI>(&()),
        ResourceKind::L3Passthrough => ApiResource::erase::<L3Passthrough>(&()),
        ResourceKind::RawFRRConfig => ApiResource::erase::<RawFRRConfig>(&()),
        ResourceKind::FrrConfiguration => return None,
    })
}

/// Drives a watch stream into a store: `on_event` sees every event, errors are logged (the
/// watcher retries with backoff).
pub(crate) fn drive<K>(
    what: &'static str,
    writer: Writer<K>,
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    on_event: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static
where
    K: Resource + Clone + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    reflector::reflector(writer, stream.default_backoff()).for_each(move |event| {
        match &event {
            Ok(e) => on_event(e),
            Err(e) => tracing::warn!(resource = what, error = %e, "watch failed; retrying"),
        }
        futures::future::ready(())
    })
}

/// The reflector stores of every planned kind.
#[derive(Clone)]
pub struct KindStores {
    stores: Vec<(ResourceKind, Store<DynamicObject>)>,
    /// Objects already warned about (kind/namespace/name@resourceVersion).
    reported: Arc<Mutex<BTreeSet<String>>>,
}

impl KindStores {
    /// Starts one watch per kind on the current runtime: RawFRRConfigs in `namespace` only,
    /// everything else cluster-wide. `on_change` runs when an object is applied or deleted and
    /// when a kind's initial listing is complete. Returns the stores and the watch tasks.
    pub fn start(
        client: &Client,
        namespace: &str,
        on_change: impl Fn() + Clone + Send + Sync + 'static,
    ) -> (KindStores, Vec<JoinHandle<()>>) {
        let mut stores = Vec::new();
        let mut tasks = Vec::new();
        for kind in api::KINDS {
            let Some(ar) = api_resource(kind) else { continue };
            let api: Api<DynamicObject> = match kind {
                ResourceKind::RawFRRConfig => Api::namespaced_with(client.clone(), namespace, &ar),
                _ => Api::all_with(client.clone(), &ar),
            };
            let writer = Writer::new(ar);
            stores.push((kind, writer.as_reader()));
            let notify = on_change.clone();
            let on_event = move |e: &watcher::Event<DynamicObject>| {
                if matches!(e, watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) {
                    notify();
                }
            };
            tasks.push(tokio::spawn(drive(kind.as_str(), writer, watcher(api, watcher::Config::default()), on_event)));
        }
        (KindStores { stores, reported: Arc::new(Mutex::new(BTreeSet::new())) }, tasks)
    }

    /// Waits until every kind was listed once; false when a watch ended before that.
    pub async fn wait_ready(&self) -> bool {
        for (_, store) in &self.stores {
            if store.wait_until_ready().await.is_err() {
                return false;
            }
        }
        true
    }

    /// Every object the stores hold that the current types can read.
    pub fn objects(&self) -> Objects {
        let mut out = Objects::default();
        for (kind, store) in &self.stores {
            for object in store.state() {
                let decoded = serde_json::to_value(object.as_ref())
                    .map_err(|e| e.to_string())
                    .and_then(|v| Object::from_json(*kind, v));
                match decoded {
                    Ok(o) => out.push(o),
                    Err(e) => self.warn_once(*kind, &object, &e),
                }
            }
        }
        out
    }

    fn warn_once(&self, kind: ResourceKind, object: &DynamicObject, error: &str) {
        let key = format!(
            "{kind}/{}/{}@{}",
            object.metadata.namespace.as_deref().unwrap_or_default(),
            object.metadata.name.as_deref().unwrap_or_default(),
            object.metadata.resource_version.as_deref().unwrap_or_default()
        );
        // A poisoned lock only loses the de-duplication of this warning.
        let first = self.reported.lock().map(|mut s| s.insert(key.clone())).unwrap_or(true);
        if first {
            tracing::warn!(object = %key, %error, "cannot read an existing object; ignored");
        }
    }
}
