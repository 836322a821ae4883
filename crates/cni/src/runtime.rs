//! Attachments of a configuration list to a namespace, kept in line with the configuration,
//! and the cache that makes that possible: next to each attachment's result it stores the
//! configuration (and capability arguments) it was made with. So a changed configuration
//! deletes what the old one made, with the old one, before adding; a removed attachment
//! deletes its cache entry; and an attachment whose `CHECK` fails is deleted and added again.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::config::{ConfList, ConfigError};
use crate::exec::{self, Command, ExecError, Invocation};

/// Where plugins come from and where results are kept.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub plugin_dirs: Vec<PathBuf>,
    pub cache_dir: PathBuf,
    /// How long one plugin may take (DHCP can take seconds).
    pub timeout: Duration,
    /// The namespace plugins run in, where the parent NICs are (the caller's when `None`).
    pub host_netns: Option<PathBuf>,
}

/// One interface a configuration list makes: who asks (`CNI_CONTAINERID`), in which namespace,
/// under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
}

/// What [`Runtime::ensure`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Ensured {
    /// It was there and passed `CHECK` (or the list disables `CHECK`): nothing run but `CHECK`.
    Unchanged,
    /// It was made (`ADD`).
    Added { result: Value },
    /// Its `CHECK` failed: deleted and added again.
    Repaired { result: Value, why: String },
    /// It was made with another configuration: deleted with that one, then added.
    Replaced { result: Value },
}

/// Why an attachment could not be ensured or removed.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("CNI cache {}: {source}", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container id {0:?}: use letters, digits, '.', '_' and '-' only")]
    BadId(String),
}

/// An attachment as it should be, for [`Runtime::pending`].
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub ifname: &'a str,
    pub config: &'a Value,
    pub runtime_config: &'a Map<String, Value>,
}

/// A step [`Runtime::pending`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub ifname: String,
    pub action: PendingAction,
}

/// What a [`Pending`] step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingAction {
    /// Not made yet: `ADD`.
    Add,
    /// Made with this configuration but gone from its namespace: `DEL`, then `ADD`.
    Repair,
    /// Made with another configuration: `DEL` with that one, then `ADD`.
    Replace,
    /// Made but no longer wanted: `DEL`.
    Delete,
}

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.action {
            PendingAction::Add => "add (not made yet)",
            PendingAction::Repair => "make again (made, but gone from its namespace)",
            PendingAction::Replace => "make again with the new configuration",
            PendingAction::Delete => "delete (no longer planned)",
        };
        write!(f, "{:<6} {} {what}", "cni", self.ifname)
    }
}

/// A cache entry.
#[derive(Debug, Clone, PartialEq)]
struct Cached {
    config: Value,
    runtime_config: Map<String, Value>,
    result: Value,
}

impl Runtime {
    /// A runtime with `plugin_dirs` and `cache_dir`, plugins given 60 s each.
    pub fn new(plugin_dirs: Vec<PathBuf>, cache_dir: impl Into<PathBuf>) -> Runtime {
        Runtime { plugin_dirs, cache_dir: cache_dir.into(), timeout: Duration::from_secs(60), host_netns: None }
    }

    /// Makes sure `att` exists as `config` (a configuration list or a single plugin
    /// configuration) with capability arguments `runtime_config` describe it.
    pub fn ensure(
        &self,
        att: &Attachment,
        config: &Value,
        runtime_config: &Map<String, Value>,
    ) -> Result<Ensured, CniError> {
        let list = ConfList::parse(config)?;
        match self.cached(att)? {
            Some(c) if c.config == *config && c.runtime_config == *runtime_config => {
                if list.disable_check {
                    return Ok(Ensured::Unchanged);
                }
                match self.check(&list, runtime_config, &c.result, att) {
                    Ok(()) => Ok(Ensured::Unchanged),
                    Err(e) => {
                        // Best effort: what is left of it goes, then it is made again.
                        let _ = self.del(&list, runtime_config, Some(&c.result), att);
                        let result = self.add(config, &list, runtime_config, att)?;
                        Ok(Ensured::Repaired { result, why: e.to_string() })
                    }
                }
            }
            Some(old) => {
                if let Ok(old_list) = ConfList::parse(&old.config) {
                    // Best effort: an ADD that then fails says why.
                    let _ = self.del(&old_list, &old.runtime_config, Some(&old.result), att);
                }
                let result = self.add(config, &list, runtime_config, att)?;
                Ok(Ensured::Replaced { result })
            }
            None => Ok(Ensured::Added { result: self.add(config, &list, runtime_config, att)? }),
        }
    }

    /// Whether `att` was made with exactly `config` and `runtime_config` (by the cache; nothing
    /// runs). A caller that also sees the interface in place may skip [`Runtime::ensure`].
    pub fn is_current(&self, att: &Attachment, config: &Value, runtime_config: &Map<String, Value>) -> bool {
        matches!(self.cached(att), Ok(Some(c)) if c.config == *config && c.runtime_config == *runtime_config)
    }

    /// Deletes `att` with the configuration it was made with and forgets it. `false` when there
    /// was nothing to remove. When its namespace is gone, so is the interface: the entry is
    /// forgotten even if a plugin fails.
    pub fn remove(&self, att: &Attachment) -> Result<bool, CniError> {
        let Some(c) = self.cached(att)? else { return Ok(false) };
        let deleted = match ConfList::parse(&c.config) {
            Ok(list) => self.del(&list, &c.runtime_config, Some(&c.result), att),
            Err(_) => Ok(()),
        };
        if let Err(e) = deleted
            && att.netns.exists()
        {
            return Err(e);
        }
        let path = self.cache_path(att)?;
        std::fs::remove_file(&path).map_err(|source| CniError::Cache { path, source })?;
        Ok(true)
    }

    /// What [`ensure`](Self::ensure) and [`remove`](Self::remove) would do to make the
    /// attachments of `container_id` in `netns` exactly `wanted`, read from the cache alone: no
    /// plugin runs (so no `CHECK` either: an interface made with its configuration and still
    /// present counts as in place). `present` says whether an interface exists in `netns`.
    pub fn pending(
        &self,
        container_id: &str,
        netns: &std::path::Path,
        wanted: &[Wanted<'_>],
        present: impl Fn(&str) -> bool,
    ) -> Vec<Pending> {
        let mut steps: Vec<Pending> = self
            .attached(container_id)
            .into_iter()
            .filter(|n| !wanted.iter().any(|w| w.ifname == n))
            .map(|ifname| Pending { ifname, action: PendingAction::Delete })
            .collect();
        for w in wanted {
            let att = Attachment { container_id: container_id.into(), netns: netns.into(), ifname: w.ifname.into() };
            let action = match self.cached(&att) {
                Ok(Some(c)) if c.config == *w.config && c.runtime_config == *w.runtime_config => {
                    if present(w.ifname) {
                        continue;
                    }
                    PendingAction::Repair
                }
                Ok(Some(_)) => PendingAction::Replace,
                Ok(None) | Err(_) => PendingAction::Add,
            };
            steps.push(Pending { ifname: w.ifname.to_string(), action });
        }
        steps
    }

    /// The configuration `att` was made with, by its cache entry (`None`: no entry, or one that
    /// cannot be read).
    pub fn cached_config(&self, att: &Attachment) -> Option<Value> {
        self.cached(att).ok().flatten().map(|c| c.config)
    }

    /// The interface names `container_id` has cache entries for.
    pub fn attached(&self, container_id: &str) -> Vec<String> {
        let prefix = format!("{container_id}@");
        let Ok(entries) = std::fs::read_dir(&self.cache_dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter_map(|n| n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".json")).map(str::to_string))
            .collect();
        names.sort();
        names
    }

    fn invocation<'a>(&'a self, command: Command, att: &'a Attachment) -> Invocation<'a> {
        Invocation {
            command,
            container_id: &att.container_id,
            netns: &att.netns,
            ifname: &att.ifname,
            plugin_dirs: &self.plugin_dirs,
            timeout: self.timeout,
            host_netns: self.host_netns.as_deref(),
        }
    }

    /// `ADD` plugin by plugin, each given the previous one's result; on a failure, what the
    /// earlier plugins made is deleted and the error returned. The result is cached.
    fn add(&self, raw: &Value, list: &ConfList, rc: &Map<String, Value>, att: &Attachment) -> Result<Value, CniError> {
        let how = self.invocation(Command::Add, att);
        let mut prev: Option<Value> = None;
        for i in 0..list.plugins.len() {
            match exec::run(list.plugin_type(i), &list.stdin_for(i, rc, prev.as_ref()), &how) {
                Ok(result) => prev = Some(result),
                Err(e) => {
                    let _ = self.del(list, rc, prev.as_ref(), att);
                    return Err(e.into());
                }
            }
        }
        let result = prev.unwrap_or(Value::Null);
        self.store(att, &Cached { config: raw.clone(), runtime_config: rc.clone(), result: result.clone() })?;
        Ok(result)
    }

    /// `CHECK` plugin by plugin with the cached result; the first failure.
    fn check(
        &self,
        list: &ConfList,
        rc: &Map<String, Value>,
        result: &Value,
        att: &Attachment,
    ) -> Result<(), CniError> {
        let how = self.invocation(Command::Check, att);
        for i in 0..list.plugins.len() {
            exec::run(list.plugin_type(i), &list.stdin_for(i, rc, Some(result)), &how)?;
        }
        Ok(())
    }

    /// `DEL` in reverse order; every plugin runs, the first failure is returned.
    fn del(
        &self,
        list: &ConfList,
        rc: &Map<String, Value>,
        result: Option<&Value>,
        att: &Attachment,
    ) -> Result<(), CniError> {
        let how = self.invocation(Command::Del, att);
        let mut first: Option<CniError> = None;
        for i in (0..list.plugins.len()).rev() {
            if let Err(e) = exec::run(list.plugin_type(i), &list.stdin_for(i, rc, result), &how) {
                first.get_or_insert(e.into());
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn cache_path(&self, att: &Attachment) -> Result<PathBuf, CniError> {
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain(&att.container_id) {
            return Err(CniError::BadId(att.container_id.clone()));
        }
        if !plain(&att.ifname) {
            return Err(CniError::BadId(att.ifname.clone()));
        }
        Ok(self.cache_dir.join(format!("{}@{}.json", att.container_id, att.ifname)))
    }

    fn cached(&self, att: &Attachment) -> Result<Option<Cached>, CniError> {
        let path = self.cache_path(att)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CniError::Cache { path, source }),
        };
        // An unreadable entry is treated as another configuration: deleted with nothing, added anew.
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Some(Cached {
            config: v.get("config").cloned().unwrap_or(Value::Null),
            runtime_config: v.get("runtimeConfig").and_then(Value::as_object).cloned().unwrap_or_default(),
            result: v.get("result").cloned().unwrap_or(Value::Null),
        }))
    }

    fn store(&self, att: &Attachment, c: &Cached) -> Result<(), CniError> {
        let path = self.cache_path(att)?;
        let io = |source| CniError::Cache { path: path.clone(), source };
        std::fs::create_dir_all(&self.cache_dir).map_err(io)?;
        let tmp = path.with_extension("json.tmp");
        let body = json!({"config": c.config, "runtimeConfig": c.runtime_config, "result": c.result});
        std::fs::write(&tmp, body.to_string()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
