//! `openperouter reloader` as it runs in the router pod: against a live FRR
//! instance, POST / applies the file, health answers, SIGTERM removes the
//! socket. Needs root and FRR (skipped loudly otherwise).

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use frr::testing::{Fleet, skip_loudly, skip_reason};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(stream: &mut (impl std::io::Read + std::io::Write), request: &str) -> (u16, String) {
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[test]
fn reloader_applies_reports_health_and_cleans_up_on_sigterm() {
    if let Some(reason) = skip_reason() {
        skip_loudly("openperouter reloader", &reason);
        return;
    }
    let mut fleet = Fleet::new();
    let inst = fleet.add_instance("frrcli", Some("cli-1")).unwrap();
    fleet.start_all().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("reload.sock");
    let config = inst.config_path();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_openperouter"))
        .args(["reloader", "--socket"])
        .arg(&socket)
        .arg("--frr-config")
        .arg(&config)
        .args(["--health-address", &format!("127.0.0.1:{port}"), "--vtysh-timeout", "5", "--vty-socket"])
        .arg(&inst.spec().run_dir)
        .arg("--frr-confdir")
        .arg(&inst.spec().config_dir)
        .arg("--frr-rundir")
        .arg(&inst.spec().run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        if let Some(status) = child.get().try_wait().unwrap() {
            let mut stderr = String::new();
            child.get().stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            panic!("the reloader exited ({status}): {stderr}");
        }
        assert!(Instant::now() < deadline, "the reloader did not create its socket");
        std::thread::sleep(Duration::from_millis(20));
    }

    let health = |path: &str| {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        http(&mut tcp, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    };
    assert_eq!(health("/healthz"), (200, "ok".to_string()));
    assert_eq!(health("/readyz").0, 200);

    std::fs::write(&config, "hostname cli-1\nrouter bgp 64999\n bgp router-id 10.9.9.9\nexit\n!\n").unwrap();
    let post = || {
        let mut unix = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        http(&mut unix, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    let (status, body) = post();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("router bgp 64999"), "{body}");
    let running = Command::new("vtysh")
        .arg("--vty_socket")
        .arg(&inst.spec().run_dir)
        .args(["-c", "show running-config"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&running.stdout).contains("bgp router-id 10.9.9.9"));
    std::fs::write(&config, "router bgp 64999\n bgp router-idd 1.2.3.4\nexit\n").unwrap();
    let (status, body) = post();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("bgp router-idd 1.2.3.4"), "{body}");

    // SIGTERM: clean exit, socket gone.
    let mut child = child.0.take().unwrap();
    assert!(send_sigterm(child.id()));
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!socket.exists());
}

/// Kills the reloader if the test fails before stopping it.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// SIGTERM through kill(1).
fn send_sigterm(pid: u32) -> bool {
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success()
}
