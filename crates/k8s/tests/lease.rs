//! Leader election: a simulation of several candidates racing on one Lease (reads and writes
//! interleaved arbitrarily, optimistic concurrency like the API server), and the driver
//! against a mocked API server (tower-test).

use http::{Method, Request, Response, StatusCode};
use k8s::lease::{Action, Elector, LeaseLock, LeaseSettings};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use proptest::prelude::*;
use tower_test::mock;

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_700_000_000_000 + ms).expect("timestamp")
}

/// The API server's view: the Lease and its resourceVersion.
#[derive(Default)]
struct Server {
    lease: Option<(LeaseSpec, u64)>,
}

/// A candidate between its read and its write.
struct Candidate {
    elector: Elector,
    pending: Option<(Action, Option<u64>, Timestamp)>,
    alive: bool,
}

#[derive(Debug, Clone)]
enum Step {
    /// Time passes (milliseconds).
    Wait(u32),
    /// Candidate reads the Lease and decides.
    Read(usize),
    /// Candidate's pending write reaches the server.
    Write(usize),
    /// Candidate crashes (stops doing anything) or comes back.
    Toggle(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u32..3000).prop_map(Step::Wait),
        4 => (0usize..3).prop_map(Step::Read),
        4 => (0usize..3).prop_map(Step::Write),
        1 => (0usize..3).prop_map(Step::Toggle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever the interleaving of reads, writes, delays and crashes: never two leaders at
    /// the same instant, and the Lease's holder is the only one that may lead.
    #[test]
    fn at_most_one_leader_at_any_time(steps in proptest::collection::vec(step(), 1..200)) {
        let settings = LeaseSettings::default();
        let mut server = Server::default();
        let mut cands: Vec<Candidate> = (0..3)
            .map(|i| Candidate { elector: Elector::new(format!("c{i}"), settings), pending: None, alive: true })
            .collect();
        let mut now = 0i64;
        for s in steps {
            match s {
                Step::Wait(ms) => now += i64::from(ms),
                Step::Toggle(i) => {
                    cands[i].alive = !cands[i].alive;
                    cands[i].pending = None;
                }
                Step::Read(i) if cands[i].alive && cands[i].pending.is_none() => {
                    let current = server.lease.as_ref().map(|(s, _)| s);
                    let rv = server.lease.as_ref().map(|(_, v)| *v);
                    let action = cands[i].elector.next(current, t(now));
                    if !matches!(action, Action::Wait { .. }) {
                        cands[i].pending = Some((action, rv, t(now)));
                    }
                }
                Step::Write(i) if cands[i].alive => {
                    if let Some((action, rv, decided)) = cands[i].pending.take() {
                        let current_rv = server.lease.as_ref().map(|(_, v)| *v);
                        let accepted = match (&action, current_rv) {
                            (Action::Create(_), None) => true,
                            (Action::Update(_), Some(v)) => rv == Some(v),
                            _ => false,
                        };
                        if accepted {
                            let spec = match action {
                                Action::Create(s) | Action::Update(s) => s,
                                Action::Wait { .. } => unreachable!("waits are not pending"),
                            };
                            let next = current_rv.unwrap_or(0) + 1;
                            server.lease = Some((spec, next));
                            cands[i].elector.written(decided);
                        } else {
                            cands[i].elector.lost();
                        }
                    }
                }
                _ => {}
            }
            let leaders: Vec<&str> =
                cands.iter().filter(|c| c.elector.is_leader(t(now))).map(|c| c.elector.identity()).collect();
            prop_assert!(leaders.len() <= 1, "two leaders at {now} ms: {leaders:?}");
            if let Some(l) = leaders.first() {
                let holder = server.lease.as_ref().and_then(|(s, _)| s.holder_identity.clone());
                prop_assert_eq!(holder.as_deref(), Some(*l), "the leader must hold the Lease");
            }
        }
    }
}

/// Handover: the holder stops renewing; another candidate that keeps polling takes over
/// after the lease duration, with one more transition, and the old holder has stepped down
/// well before.
#[test]
fn handover_when_the_holder_stops_renewing() {
    let settings = LeaseSettings::default();
    let mut a = Elector::new("a", settings);
    let mut b = Elector::new("b", settings);
    let mut lease: Option<LeaseSpec> = None;
    let apply = |e: &mut Elector, lease: &mut Option<LeaseSpec>, at: i64| match e.next(lease.as_ref(), t(at)) {
        Action::Create(s) | Action::Update(s) => {
            *lease = Some(s);
            e.written(t(at));
        }
        Action::Wait { .. } => {}
    };
    // a acquires and renews every 2 s for a minute; b polls every 2 s and never leads.
    for at in (0..60_000).step_by(2_000) {
        apply(&mut a, &mut lease, at);
        apply(&mut b, &mut lease, at + 1_000);
        assert!(a.is_leader(t(at + 1_000)) && !b.is_leader(t(at + 1_000)), "at {at}");
    }
    // a dies after its renewal at 58 s.
    assert!(!a.is_leader(t(68_000)), "a steps down at its renew deadline");
    let mut took_over = None;
    for at in (61_000..100_000).step_by(2_000) {
        apply(&mut b, &mut lease, at);
        if b.is_leader(t(at)) {
            took_over = Some(at);
            break;
        }
    }
    let at = took_over.expect("b takes over");
    // b last saw a change at 59 s (a's renewal at 58 s); 15 s later it may take over.
    assert!((74_000..=76_000).contains(&at), "took over at {at} ms");
    let spec = lease.expect("lease");
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_transitions, Some(1));
    // a comes back: it sees b and does not lead.
    assert_eq!(a.next(Some(&spec), t(at + 1_000)), Action::Wait { holder: "b".into() });
    assert!(!a.is_leader(t(at + 1_000)));
}

// ------------------------------------------------------------------------------------------
// The driver against a mocked API server.
// ------------------------------------------------------------------------------------------

type Handle = mock::Handle<Request<Body>, Response<Body>>;

const LEASE_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/openperouter-system/leases/openperouter-nodemarker";

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).expect("json")))
        .expect("response")
}

fn status(code: u16, reason: &str) -> Response<Body> {
    json_response(
        StatusCode::from_u16(code).expect("code"),
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason, "reason": reason, "code": code}),
    )
}

fn lease(holder: &str, renew: Timestamp, rv: &str, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("openperouter-nodemarker".into()),
            namespace: Some("openperouter-system".into()),
            resource_version: Some(rv.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(renew)),
            renew_time: Some(MicroTime(renew)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }),
    }
}

async fn expect(
    handle: &mut Handle,
    method: Method,
    path: &str,
) -> (serde_json::Value, mock::SendResponse<Response<Body>>) {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!(request.method(), method);
    assert_eq!(request.uri().path(), path);
    let bytes = request.into_body().collect_bytes().await.expect("body");
    let body =
        if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).expect("json body") };
    (body, send)
}

fn lock() -> (LeaseLock, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let settings = LeaseSettings::default();
    let lock = LeaseLock::new(client, "openperouter-system", "openperouter-nodemarker", Elector::new("me", settings));
    (lock, handle)
}

#[tokio::test]
async fn driver_creates_renews_and_releases() {
    let (mut lock, mut handle) = lock();
    let server = tokio::spawn(async move {
        // Round 1: absent → create.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(status(404, "NotFound"));
        let (body, send) =
            expect(&mut handle, Method::POST, "/apis/coordination.k8s.io/v1/namespaces/openperouter-system/leases")
                .await;
        assert_eq!(body["spec"]["holderIdentity"], "me");
        assert_eq!(body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(body["spec"]["leaseTransitions"], 0);
        send.send_response(json_response(StatusCode::CREATED, body));
        // Round 2: held by me → renew with the resourceVersion read.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(json_response(
            StatusCode::OK,
            serde_json::to_value(lease("me", t(0), "7", 0)).expect("json"),
        ));
        let (body, send) = expect(&mut handle, Method::PUT, LEASE_PATH).await;
        assert_eq!(body["metadata"]["resourceVersion"], "7", "optimistic concurrency");
        assert_eq!(body["spec"]["holderIdentity"], "me");
        assert_eq!(body["spec"]["renewTime"], "2023-11-14T22:13:22.000000Z");
        send.send_response(json_response(StatusCode::OK, body));
        // Release: holder cleared.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(json_response(
            StatusCode::OK,
            serde_json::to_value(lease("me", t(2000), "8", 0)).expect("json"),
        ));
        let (body, send) = expect(&mut handle, Method::PUT, LEASE_PATH).await;
        assert!(body["spec"].get("holderIdentity").is_none_or(|h| h.is_null()), "{body}");
        assert_eq!(body["metadata"]["resourceVersion"], "8");
        send.send_response(json_response(StatusCode::OK, body));
    });
    assert!(lock.tick_at(t(0)).await.expect("round 1"), "leader after creating the Lease");
    assert!(lock.tick_at(t(2000)).await.expect("round 2"), "still leader after renewing");
    lock.release().await.expect("release");
    assert!(!lock.is_leader());
    server.await.expect("server script");
}

#[tokio::test]
async fn driver_follows_a_valid_foreign_lease_and_steps_down_on_conflict() {
    let (mut lock, mut handle) = lock();
    let server = tokio::spawn(async move {
        // Held by someone else and fresh: no write.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(json_response(
            StatusCode::OK,
            serde_json::to_value(lease("other", t(0), "3", 2)).expect("json"),
        ));
        // Unchanged 15 s later (on our clock): take over, transitions + 1.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(json_response(
            StatusCode::OK,
            serde_json::to_value(lease("other", t(0), "3", 2)).expect("json"),
        ));
        let (body, send) = expect(&mut handle, Method::PUT, LEASE_PATH).await;
        assert_eq!(body["spec"]["holderIdentity"], "me");
        assert_eq!(body["spec"]["leaseTransitions"], 3);
        assert_eq!(body["metadata"]["resourceVersion"], "3");
        send.send_response(json_response(StatusCode::OK, body));
        // Next renewal conflicts (someone wrote in between): step down.
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(json_response(
            StatusCode::OK,
            serde_json::to_value(lease("me", t(15_000), "4", 3)).expect("json"),
        ));
        let (_, send) = expect(&mut handle, Method::PUT, LEASE_PATH).await;
        send.send_response(status(409, "Conflict"));
    });
    assert!(!lock.tick_at(t(1_000)).await.expect("round 1"), "follower while the other holds it");
    assert!(lock.tick_at(t(16_000)).await.expect("round 2"), "took over the expired Lease");
    assert!(!lock.tick_at(t(17_000)).await.expect("round 3"), "a refused renewal steps down");
    server.await.expect("server script");
}

#[tokio::test]
async fn driver_reports_api_errors_without_claiming_leadership() {
    let (mut lock, mut handle) = lock();
    let server = tokio::spawn(async move {
        let (_, send) = expect(&mut handle, Method::GET, LEASE_PATH).await;
        send.send_response(status(500, "InternalError"));
    });
    let err = lock.tick_at(t(0)).await.expect_err("API error");
    assert!(err.to_string().contains("reading the Lease"), "{err}");
    assert!(!lock.elector().is_leader(t(0)));
    server.await.expect("server script");
}
