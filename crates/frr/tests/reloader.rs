//! The reloader service over a real unix socket against a live FRR: the
//! request/response contract, health that fails when FRR is stopped, and
//! concurrent POSTs that are applied one at a time. Needs root and FRR
//! (skipped loudly otherwise).

use std::sync::Arc;
use std::time::Duration;

use frr::reloader::{HealthCheck, Reloader, ReloaderClient};
use frr::testing::{Fleet, skip_loudly, skip_reason};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends a raw HTTP/1.1 request and returns (status, body).
async fn raw(stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin, request: &str) -> (u16, String) {
    let mut stream = stream;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

async fn unix(socket: &std::path::Path, request: &str) -> (u16, String) {
    raw(tokio::net::UnixStream::connect(socket).await.unwrap(), request).await
}

async fn tcp(addr: std::net::SocketAddr, path: &str, method: &str) -> (u16, String) {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw(tokio::net::TcpStream::connect(addr).await.unwrap(), &request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_health_and_serialisation() {
    if let Some(reason) = skip_reason() {
        skip_loudly("reloader", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrrl", Some("rl-1")).unwrap();
    fleet.start_all().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("reload.sock");
    // A stale socket file is replaced; a regular file is not.
    std::fs::write(&socket, "").unwrap();
    let applier = Arc::new(frr::Applier::for_instance(&inst));
    let health = HealthCheck::new(inst.vtysh().with_timeout(Duration::from_secs(5)));
    let err = Reloader::bind(&socket, None, applier.clone(), health.clone()).await.unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    std::fs::remove_file(&socket).unwrap();
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let server = Reloader::bind(&socket, Some("127.0.0.1:0".parse().unwrap()), applier.clone(), health).await.unwrap();
    let health_addr = server.health_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stop_rx.await;
    }));

    // Health: every daemon (watchfrr included) is up.
    assert_eq!(tcp(health_addr, "/healthz", "GET").await, (200, "ok".to_string()));
    assert_eq!(tcp(health_addr, "/readyz", "GET").await.0, 200);
    assert_eq!(tcp(health_addr, "/readyz", "POST").await.0, 405);
    assert_eq!(tcp(health_addr, "/other", "GET").await.0, 404);

    // The contract on the unix socket.
    let config_path = inst.config_path();
    let client = ReloaderClient::new(&socket);
    let config = |asn: u32| {
        format!(
            "hostname rl-1\nrouter bgp {asn}\n bgp router-id 10.0.0.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n no bgp network import-check\nexit\n!\n"
        )
    };
    // The FRR release behind the reloader: what is installed here.
    let installed = frr::FrrVersion::installed(std::path::Path::new(frr::instance::FRR_SBIN_DIR));
    assert_eq!(Some(client.version().await.unwrap()), installed);
    let body = client.apply(&config_path, &config(64512)).await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["reloaded"], true, "{body}");
    assert!(report["added"].as_array().unwrap().iter().any(|l| l == "router bgp 64512"), "{body}");
    // GET /sessions: the state of every session (none yet, then one that cannot come up).
    assert_eq!(client.sessions().await.unwrap(), vec![]);
    // (The summary lists a neighbor under the address families it is active in.)
    let with_peer = config(64512).replace(
        " no bgp network import-check\nexit\n",
        " no bgp network import-check\n neighbor 192.0.2.99 remote-as 64513\n !\n address-family ipv4 unicast\n  neighbor 192.0.2.99 activate\n exit-address-family\nexit\n",
    );
    client.apply(&config_path, &with_peer).await.unwrap();
    let sessions = client.sessions().await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!((sessions[0].vrf.as_str(), sessions[0].peer.as_str()), ("default", "192.0.2.99"));
    assert_ne!(sessions[0].state, "Established");
    assert!(!sessions[0].state.is_empty());
    client.apply(&config_path, &config(64512)).await.unwrap();
    let (status, body) = unix(&socket, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 405, "{body}");
    let (status, _) =
        unix(&socket, "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status, 404);
    // A bad file: 500 naming the failing line; FRR keeps running the old one.
    let err = client.apply(&config_path, "router bgp 64512\n neighbor 1.2.3.4 remote-az 5\nexit\n").await.unwrap_err();
    let frr::reloader::ClientError::Status { status, body } = &err else { panic!("{err:?}") };
    assert_eq!(*status, 500);
    assert!(body.contains("neighbor 1.2.3.4 remote-az 5"), "{body}");
    assert!(inst.vtysh().show_running_config().await.unwrap().contains("router bgp 64512"));

    // Concurrent POSTs: each gets its own answer, and the applies never
    // overlap in time (the reports carry their start and end).
    std::fs::write(&config_path, config(64512)).unwrap();
    let mut handles = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        handles.push(tokio::spawn(async move { client.reload().await }));
    }
    let mut spans = Vec::new();
    let mut queued = 0.0f64;
    for h in handles {
        let body = h.await.unwrap().unwrap();
        let r: serde_json::Value = serde_json::from_str(&body).unwrap();
        spans.push((r["startedAtMs"].as_u64().unwrap(), r["finishedAtMs"].as_u64().unwrap()));
        queued += r["queuedMs"].as_f64().unwrap();
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "applies overlap: {spans:?}");
    }
    assert!(queued > 0.0, "no request waited for another: {spans:?}");
    eprintln!("4 concurrent POSTs, spans (ms since epoch): {spans:?}, total queued {queued:.0} ms");

    // Health fails once FRR is stopped.
    inst.stop().unwrap();
    let (status, body) = tcp(health_addr, "/healthz", "GET").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("show daemons") || body.contains("not running"), "{body}");

    // Shutdown removes the socket.
    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!socket.exists());
    let err = client.reload().await.unwrap_err();
    assert!(matches!(err, frr::reloader::ClientError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn health_with_a_custom_daemon_list() {
    if let Some(reason) = skip_reason() {
        skip_loudly("reloader health", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let mut spec = fleet.spec("frrrlh", None).unwrap();
    spec.daemons = vec!["zebra".into(), "bgpd".into()];
    let inst = fleet.adopt(spec);
    fleet.start_all().unwrap();
    let vtysh = inst.vtysh();
    let mut check = HealthCheck::new(vtysh);
    let err = check.check().await.unwrap_err();
    assert!(err.to_string().contains("staticd bfdd"), "{err}");
    check.required = vec!["zebra".into(), "bgpd".into()];
    let running = check.check().await.unwrap();
    assert!(running.contains(&"watchfrr".to_string()), "{running:?}");
}
