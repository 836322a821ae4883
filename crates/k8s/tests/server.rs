//! The webhook HTTPS server end to end on 127.0.0.1: a review over TLS, health, a malformed
//! body (400), and certificate rotation by replacing the files.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s::admission::WebhookConfig;
use k8s::server::{FixedState, StateSource, TlsFiles, router, serve};
use k8s::state::ClusterState;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn leaf(ca: &CertifiedIssuer<'_, KeyPair>, serial: u64) -> Leaf {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.serial_number = Some(serial.into());
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
}

/// Replaces a file atomically (as a Secret volume update does).
fn replace(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

struct Client {
    connector: tokio_rustls::TlsConnector,
    port: u16,
}

impl Client {
    /// Sends one request; returns (served certificate, status, body).
    async fn send(&self, method: &str, path: &str, body: &[u8]) -> (CertificateDer<'static>, u16, String) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = self.connector.connect(name, tcp).await.expect("TLS handshake");
        let served = tls.get_ref().1.peer_certificates().expect("peer certificate")[0].clone().into_owned();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.expect("write head");
        tls.write_all(body).await.expect("write body");
        let mut raw = Vec::new();
        // The server closes the connection after the response (Connection: close); a TLS
        // close_notify may or may not come first.
        let _ = tls.read_to_end(&mut raw).await;
        let text = String::from_utf8_lossy(&raw).to_string();
        let (headers, body) = text.split_once("\r\n\r\n").expect("HTTP response");
        let status = headers.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
        (served, status, body.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_reviews_over_tls_and_picks_up_new_certificates() {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
    let first = leaf(&ca, 1);
    let second = leaf(&ca, 2);

    let dir = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles { cert: dir.path().join("tls.crt"), key: dir.path().join("tls.key") };
    replace(&files.cert, &first.cert_pem);
    replace(&files.key, &first.key_pem);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let source: Arc<dyn StateSource> = Arc::new(FixedState(ClusterState::default()));
    let app = router(WebhookConfig::default(), source);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, files.clone(), Duration::from_millis(100), app, async move {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("CA root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = Client { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), port };

    // Health.
    let (served, status, body) = client.send("GET", "/healthz", b"").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(served, first.der);
    let (_, status, _) = client.send("GET", "/readyz", b"").await;
    assert_eq!(status, 200);

    // A review.
    let review =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reviews/l3vni-create-allowed.json"))
            .expect("fixture");
    let (_, status, body) = client.send("POST", "/validate-openperouter-io-v1alpha1-l3vni", &review).await;
    assert_eq!(status, 200, "{body}");
    let response: serde_json::Value = serde_json::from_str(&body).expect("JSON response");
    assert_eq!(response["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(response["kind"], "AdmissionReview");
    assert_eq!(response["response"]["uid"], "1950a6ee-649e-5ed8-94a5-91b4a5f3a57f");
    assert_eq!(response["response"]["allowed"], true);

    // The same review on another kind's endpoint: denied with 400 inside the review.
    let (_, status, body) = client.send("POST", "/validate-openperouter-io-v1alpha1-underlay", &review).await;
    assert_eq!(status, 200);
    let response: serde_json::Value = serde_json::from_str(&body).expect("JSON response");
    assert_eq!(response["response"]["allowed"], false);
    assert_eq!(response["response"]["status"]["code"], 400);

    // Malformed: HTTP 400 with the reason.
    let (_, status, body) = client.send("POST", "/validate-openperouter-io-v1alpha1-l3vni", b"{\"kind\":").await;
    assert_eq!(status, 400);
    assert!(body.contains("malformed admission request: the body is not an AdmissionReview"), "{body}");

    // Rotate: key first, then certificate (a reader may see the mismatched pair in between;
    // the server keeps the old pair until the new one loads).
    replace(&files.key, &second.key_pem);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (served, status, _) = client.send("GET", "/healthz", b"").await;
    assert_eq!((served == first.der, status), (true, 200), "a half-written pair keeps the old certificate in service");
    replace(&files.cert, &second.cert_pem);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (served, status, _) = client.send("GET", "/healthz", b"").await;
        assert_eq!(status, 200);
        if served == second.der {
            break;
        }
        assert_eq!(served, first.der);
        assert!(Instant::now() < deadline, "the new certificate was not picked up within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Garbage in the files: the current certificate stays.
    replace(&files.cert, "not a certificate");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (served, _, _) = client.send("GET", "/healthz", b"").await;
    assert_eq!(served, second.der);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("server stops")
        .expect("task")
        .expect("serve result");
}

#[tokio::test]
async fn unusable_certificate_files_fail_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = TlsFiles { cert: dir.path().join("tls.crt"), key: dir.path().join("tls.key") };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = router(WebhookConfig::default(), Arc::new(FixedState::default()));
    let err = serve(listener, files.clone(), Duration::from_secs(1), app, async {}).await.expect_err("missing files");
    assert!(err.to_string().contains("tls.crt"), "{err}");

    std::fs::write(&files.cert, "garbage").expect("write");
    std::fs::write(&files.key, "garbage").expect("write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = router(WebhookConfig::default(), Arc::new(FixedState::default()));
    let err = serve(listener, files, Duration::from_secs(1), app, async {}).await.expect_err("garbage files");
    assert!(err.to_string().contains("holds no certificate"), "{err}");
}

/// Until the cluster state is synchronised, reviews get 503 (the API server then applies the
/// failure policy) and /readyz fails.
#[tokio::test]
async fn not_ready_state_answers_503() {
    struct NotYet;
    impl StateSource for NotYet {
        fn ready(&self) -> bool {
            false
        }
        fn snapshot(&self) -> Option<ClusterState> {
            None
        }
    }
    use tower::ServiceExt;
    let app = router(WebhookConfig::default(), Arc::new(NotYet));
    let review =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reviews/l3vni-create-allowed.json"))
            .expect("fixture");
    let request = http::Request::post("/validate-openperouter-io-v1alpha1-l3vni")
        .body(axum::body::Body::from(review))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), 503);
    let request = http::Request::get("/readyz").body(axum::body::Body::empty()).expect("request");
    assert_eq!(app.oneshot(request).await.expect("response").status(), 503);
}
