//! Leader election with a `coordination.k8s.io/v1` Lease (kube has none built in).
//!
//! [`Elector`] is the pure state machine: given the Lease as read and the local clock, it says
//! what to write ([`Action`]) and whether this process leads. [`LeaseLock`] drives it against
//! the API server. The protocol is the usual one:
//!
//! * **acquire** when the Lease is absent (create it), released (empty holder), or expired;
//! * **renew** (write `renewTime`) every retry period while holding it;
//! * a Lease held by someone else is **expired** once it has not changed for
//!   `leaseDurationSeconds`, measured on the *local* clock from the moment the change was
//!   observed, so clock skew between machines does not matter;
//! * every write carries the `resourceVersion` that was read: of two candidates racing for an
//!   expired Lease only one write succeeds, the other gets a conflict and **steps down**;
//! * the leader considers itself leader until `renew deadline` after its last successful write
//!   (measured from before the write was sent). The renew deadline is shorter than the lease
//!   duration, so a leader that cannot renew stops acting before anyone else may take over:
//!   **handover** after a crash takes at most the lease duration plus a retry period;
//! * on shutdown the leader **releases** the Lease (empty holder), so a successor takes over at
//!   its next retry instead of waiting for expiry.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

use crate::Error;

/// Timing of the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// How long a Lease stays valid without renewal (written as `leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How long the leader keeps acting after its last successful renewal. Must be shorter
    /// than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often to read and renew (or try to acquire) the Lease.
    pub retry_period: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl LeaseSettings {
    /// Checks `renew_deadline < lease_duration` and `retry_period < renew_deadline`.
    pub fn validate(&self) -> Result<(), String> {
        if self.renew_deadline >= self.lease_duration {
            return Err("the renew deadline must be shorter than the lease duration".into());
        }
        if self.retry_period >= self.renew_deadline {
            return Err("the retry period must be shorter than the renew deadline".into());
        }
        if self.lease_duration.as_secs() == 0 || self.lease_duration.as_secs() > i32::MAX as u64 {
            return Err("the lease duration must be between 1 second and 68 years".into());
        }
        Ok(())
    }
}

/// What to do with the Lease.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The Lease does not exist: create it with this spec.
    Create(LeaseSpec),
    /// Replace the spec of the Lease that was read (same resourceVersion) with this one: a
    /// renewal, or taking over a released or expired Lease.
    Update(LeaseSpec),
    /// Someone else holds a valid Lease.
    Wait {
        /// Its holder.
        holder: String,
    },
}

/// The parts of a Lease that tell whether its holder is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew: Option<Timestamp>,
    acquire: Option<Timestamp>,
    transitions: i32,
    duration: Option<i32>,
}

impl Record {
    fn of(spec: &LeaseSpec) -> Record {
        Record {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renew: spec.renew_time.as_ref().map(|t| t.0),
            acquire: spec.acquire_time.as_ref().map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
            duration: spec.lease_duration_seconds,
        }
    }
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// The election state machine of one candidate (pure: the clock is an argument).
#[derive(Debug, Clone)]
pub struct Elector {
    identity: String,
    settings: LeaseSettings,
    /// The last record held by someone else, and when this process first saw it.
    observed: Option<(Record, Timestamp)>,
    /// Leader until this instant (local clock), if leader.
    leading_until: Option<Timestamp>,
}

impl Elector {
    /// A candidate named `identity` (unique per process, for example the pod name).
    pub fn new(identity: impl Into<String>, settings: LeaseSettings) -> Elector {
        Elector { identity: identity.into(), settings, observed: None, leading_until: None }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    fn spec(&self, now: Timestamp, acquire: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: Some(MicroTime(acquire)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Decides what to do given the Lease as just read (`None`: it does not exist; a Lease
    /// without spec is passed as an empty spec).
    pub fn next(&mut self, current: Option<&LeaseSpec>, now: Timestamp) -> Action {
        let Some(spec) = current else {
            self.observed = None;
            return Action::Create(self.spec(now, now, 0));
        };
        let record = Record::of(spec);
        match &record.holder {
            Some(h) if *h == self.identity => {
                self.observed = None;
                let acquire = record.acquire.unwrap_or(now);
                Action::Update(self.spec(now, acquire, record.transitions))
            }
            None => {
                self.observed = None;
                Action::Update(self.spec(now, now, record.transitions.saturating_add(1)))
            }
            Some(holder) => {
                // Someone else holds it: this process does not lead, whatever it believed.
                self.leading_until = None;
                let since = match &self.observed {
                    Some((seen, at)) if *seen == record => *at,
                    _ => {
                        self.observed = Some((record.clone(), now));
                        now
                    }
                };
                let duration = record
                    .duration
                    .and_then(|d| u64::try_from(d).ok())
                    .map(Duration::from_secs)
                    .unwrap_or(self.settings.lease_duration);
                if now >= plus(since, duration) {
                    self.observed = None;
                    Action::Update(self.spec(now, now, record.transitions.saturating_add(1)))
                } else {
                    Action::Wait { holder: holder.clone() }
                }
            }
        }
    }

    /// The write decided at `decided_at` (the `now` given to [`Elector::next`]) succeeded.
    pub fn written(&mut self, decided_at: Timestamp) {
        self.leading_until = Some(plus(decided_at, self.settings.renew_deadline));
    }

    /// The write was refused because the Lease changed since it was read: someone else
    /// wrote it, so step down now.
    pub fn lost(&mut self) {
        self.leading_until = None;
    }

    /// Whether this candidate leads at `now`.
    pub fn is_leader(&self, now: Timestamp) -> bool {
        self.leading_until.is_some_and(|until| now < until)
    }

    /// The spec that releases a Lease held by this candidate (`None` if it holds it not).
    /// Stops leading at once.
    pub fn release(&mut self, current: &LeaseSpec, now: Timestamp) -> Option<LeaseSpec> {
        self.leading_until = None;
        if current.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return None;
        }
        Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: current.acquire_time.clone(),
            renew_time: Some(MicroTime(now)),
            lease_transitions: current.lease_transitions,
            ..LeaseSpec::default()
        })
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// An [`Elector`] bound to a Lease object.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    elector: Elector,
}

impl LeaseLock {
    /// The Lease `namespace/name`, contended for as `identity`.
    pub fn new(client: kube::Client, namespace: &str, name: &str, elector: Elector) -> LeaseLock {
        LeaseLock { api: Api::namespaced(client, namespace), name: name.to_string(), elector }
    }

    /// The state machine.
    pub fn elector(&self) -> &Elector {
        &self.elector
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        self.elector.is_leader(Timestamp::now())
    }

    /// One round (read, decide, write) with the real clock; returns whether this process
    /// leads afterwards.
    pub async fn tick(&mut self) -> Result<bool, Error> {
        self.tick_at(Timestamp::now()).await
    }

    /// One round at a given instant (tests drive the clock).
    pub async fn tick_at(&mut self, now: Timestamp) -> Result<bool, Error> {
        let current = self.api.get_opt(&self.name).await.map_err(|e| Error::Kube("reading the Lease", e))?;
        let empty = LeaseSpec::default();
        let spec = current.as_ref().map(|l| l.spec.as_ref().unwrap_or(&empty));
        match self.elector.next(spec, now) {
            Action::Wait { .. } => {}
            Action::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                    spec: Some(spec),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => self.elector.written(now),
                    Err(e) if is_conflict(&e) => self.elector.lost(),
                    Err(e) => return Err(Error::Kube("creating the Lease", e)),
                }
            }
            Action::Update(spec) => {
                let mut lease = current.unwrap_or_default();
                lease.spec = Some(spec);
                match self.api.replace(&self.name, &PostParams::default(), &lease).await {
                    Ok(_) => self.elector.written(now),
                    Err(e) if is_conflict(&e) => self.elector.lost(),
                    Err(e) => return Err(Error::Kube("renewing the Lease", e)),
                }
            }
        }
        Ok(self.elector.is_leader(now))
    }

    /// Gives the Lease up if this process holds it (on shutdown).
    pub async fn release(&mut self) -> Result<(), Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await.map_err(|e| Error::Kube("reading the Lease", e))?;
        let Some(mut lease) = current else {
            self.elector.lost();
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if let Some(released) = self.elector.release(&spec, now) {
            lease.spec = Some(released);
            match self.api.replace(&self.name, &PostParams::default(), &lease).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(Error::Kube("releasing the Lease", e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).expect("valid test timestamp")
    }

    fn spec_of(a: &Action) -> LeaseSpec {
        match a {
            Action::Create(s) | Action::Update(s) => s.clone(),
            Action::Wait { holder } => panic!("expected a write, got Wait({holder})"),
        }
    }

    #[test]
    fn absent_lease_is_created_then_renewed() {
        let mut a = Elector::new("a", LeaseSettings::default());
        let act = a.next(None, t(0));
        assert!(matches!(act, Action::Create(_)), "{act:?}");
        let spec = spec_of(&act);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
        assert!(!a.is_leader(t(0)));
        a.written(t(0));
        assert!(a.is_leader(t(9)));
        assert!(!a.is_leader(t(10)), "steps down at the renew deadline without renewal");
        let act = a.next(Some(&spec), t(2));
        let renewed = spec_of(&act);
        assert!(matches!(act, Action::Update(_)));
        assert_eq!(renewed.acquire_time, spec.acquire_time, "acquire time is kept on renewal");
        assert_eq!(renewed.renew_time, Some(MicroTime(t(2))));
        assert_eq!(renewed.lease_transitions, Some(0));
    }

    #[test]
    fn valid_foreign_lease_is_respected_until_it_stops_changing_for_the_duration() {
        let mut a = Elector::new("a", LeaseSettings::default());
        let mut b = Elector::new("b", LeaseSettings::default());
        let held = spec_of(&a.next(None, t(0)));
        // b sees a's Lease at t=100 on its own clock (clock skew is irrelevant).
        assert_eq!(b.next(Some(&held), t(100)), Action::Wait { holder: "a".into() });
        assert_eq!(b.next(Some(&held), t(114)), Action::Wait { holder: "a".into() });
        // a renews: the record changes, b restarts its count.
        let renewed = spec_of(&a.next(Some(&held), t(5)));
        assert_eq!(b.next(Some(&renewed), t(114)), Action::Wait { holder: "a".into() });
        assert_eq!(b.next(Some(&renewed), t(128)), Action::Wait { holder: "a".into() });
        // a stopped renewing 15 s ago (as seen by b): take over.
        let act = b.next(Some(&renewed), t(129));
        let taken = spec_of(&act);
        assert!(matches!(act, Action::Update(_)));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        assert_eq!(taken.acquire_time, Some(MicroTime(t(129))));
    }

    #[test]
    fn losing_the_lease_steps_down() {
        let mut a = Elector::new("a", LeaseSettings::default());
        let spec = spec_of(&a.next(None, t(0)));
        a.written(t(0));
        assert!(a.is_leader(t(1)));
        // Someone else holds it now (e.g. a took too long to renew).
        let foreign = LeaseSpec { holder_identity: Some("b".into()), ..spec.clone() };
        assert_eq!(a.next(Some(&foreign), t(2)), Action::Wait { holder: "b".into() });
        assert!(!a.is_leader(t(2)));
        // A refused write also steps down at once.
        a.written(t(3));
        a.lost();
        assert!(!a.is_leader(t(3)));
    }

    #[test]
    fn released_lease_is_taken_at_once() {
        let mut a = Elector::new("a", LeaseSettings::default());
        let mut b = Elector::new("b", LeaseSettings::default());
        let held = spec_of(&a.next(None, t(0)));
        a.written(t(0));
        let released = a.release(&held, t(1)).expect("a holds it");
        assert!(!a.is_leader(t(1)));
        assert_eq!(released.holder_identity, None);
        let taken = spec_of(&b.next(Some(&released), t(1)));
        assert_eq!(taken.holder_identity.as_deref(), Some("b"));
        assert_eq!(taken.lease_transitions, Some(1));
        // Releasing a Lease someone else holds writes nothing.
        assert_eq!(a.release(&taken, t(2)), None);
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(LeaseSettings::default().validate(), Ok(()));
        let bad = LeaseSettings { renew_deadline: Duration::from_secs(20), ..LeaseSettings::default() };
        assert!(bad.validate().is_err());
    }
}
