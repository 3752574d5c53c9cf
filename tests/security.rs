//! Hardening of `vigil run` against the real binary, a real nats-server and raw TCP: the JWT
//! secret it refuses, token claims it checks (`nbf`, `iss`, `aud`), connection time-outs and
//! caps, client addresses behind trusted proxies, and `/metrics` on its own listener.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use vigil_peers::NatsServer;

/// A running service with its setup and temp dir.
struct Running {
    setup: ServiceSetup,
    service: Service,
    _dir: tempfile::TempDir,
}

async fn start(nats: &NatsServer, config: &str) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = ServiceSetup::new(dir.path(), &nats.url(), config, "wall");
    let mut service = setup.start();
    service.ready().await;
    Running {
        setup,
        service,
        _dir: dir,
    }
}

/// An HS256 token signed with the test services' secret.
fn signed(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .expect("sign")
}

fn now_s() -> u64 {
    (now_ms() / 1000) as u64
}

/// `vigil run` with `env`, expected to refuse to start: its exit status and output.
fn run_refused(cwd: &Path, config: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = vigil(cwd);
    cmd.args(["run", "--config"]).arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Nothing may be reached: a service that started would hang here, so bound the wait.
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start vigil run");
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("vigil run started instead of refusing the secret");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output").into()
}

#[test]
fn run_refuses_the_shipped_secret_and_short_ones_and_says_how_to_make_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = root.join("config/vigil.toml");
    let dir = tempfile::tempdir().unwrap();
    // Nothing else in the way: a store in the temp dir, a free port.
    let store = format!("sqlite://{}", dir.path().join("v.db").display());
    let listen = format!("127.0.0.1:{}", free_port());
    let base = [
        ("VIGIL__STORE__URL", store.as_str()),
        ("VIGIL__HTTP__LISTEN", listen.as_str()),
    ];

    let run = run_refused(dir.path(), &shipped, &base);
    assert!(!run.status.success(), "{run:?}");
    for needle in [
        "auth.jwt_secret",
        "known development secret",
        "openssl rand -base64 48",
        "VIGIL__AUTH__JWT_SECRET",
        "config/vigil.toml:",
    ] {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} missing:\n{}",
            run.stderr
        );
    }
    assert!(
        !dir.path().join("v.db").exists(),
        "refused before touching the store"
    );

    for weak in ["changeme", "secret", "0123456789abcdef0123456789abcde"] {
        let mut env = base.to_vec();
        env.push(("VIGIL__AUTH__JWT_SECRET", weak));
        let run = run_refused(dir.path(), &shipped, &env);
        assert!(!run.status.success(), "{weak:?} accepted: {run:?}");
        assert!(
            run.stderr
                .contains("environment variable VIGIL__AUTH__JWT_SECRET: auth.jwt_secret: "),
            "{}",
            run.stderr
        );
    }

    // `vigil token` still mints development tokens with the configured secret, and says so.
    let token = run_vigil(
        root,
        &[
            "token",
            "--tenant",
            "1",
            "--role",
            "ops",
            "--config",
            "config/vigil.toml",
        ],
        None,
    );
    assert!(token.status.success(), "{token:?}");
    assert!(
        token.stderr.contains("development only"),
        "{}",
        token.stderr
    );
    let key = jsonwebtoken::DecodingKey::from_secret(b"change-me");
    let claims = jsonwebtoken::decode::<Value>(
        token.stdout.trim(),
        &key,
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("signed with the configured secret");
    assert_eq!(claims.claims["role"], "ops");
}

#[tokio::test]
async fn tokens_before_nbf_or_for_another_issuer_or_audience_are_refused() {
    let nats = NatsServer::start();
    let config = format!(
        "{UNLIMITED}\n[auth]\njwt_issuer = \"https://login.example.com\"\njwt_audience = \"vigil\"\n"
    );
    let svc = start(&nats, &config).await;
    let port = svc.service.port;
    let path = "/api/v1/alerts";
    let claims = |extra: Value| {
        let mut c = json!({"sub":"x","tenant_id":1,"role":"ops","exp": now_s() + 600});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    };
    let good = json!({"iss":"https://login.example.com","aud":"vigil"});
    let ok = request(port, "GET", path, Some(&signed(claims(good.clone()))), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // `vigil token` mints the configured issuer and audience.
    let minted = svc.setup.token(1, "ops", "olga");
    assert_eq!(
        request(port, "GET", path, Some(&minted), None).await.status,
        200
    );

    let mut early = good.clone();
    early["nbf"] = json!(now_s() + 300);
    for (what, extra) in [
        ("nbf ahead", early),
        (
            "other issuer",
            json!({"iss":"https://evil.example.com","aud":"vigil"}),
        ),
        (
            "other audience",
            json!({"iss":"https://login.example.com","aud":"billing"}),
        ),
        ("no issuer or audience", json!({})),
    ] {
        let a = request(port, "GET", path, Some(&signed(claims(extra))), None).await;
        assert_eq!((a.status, a.code()), (401, 40004), "{what}: {}", a.text);
    }
}

/// Reads until the server closes the connection; the bytes it sent first.
async fn read_until_closed(conn: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    match tokio::time::timeout(WAIT, conn.read_to_end(&mut buf)).await {
        Ok(_) => buf,
        Err(_) => panic!("the server kept the connection open"),
    }
}

// Raw TCP on purpose: the test holds connections that send nothing, or half a request head,
// which no HTTP client can be made to do.
#[tokio::test]
async fn idle_and_slow_connections_are_closed_after_the_header_read_timeout() {
    let nats = NatsServer::start();
    let config = format!("{UNLIMITED}\nheader_read_timeout = \"1s\"\n");
    let svc = start(&nats, &config).await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, svc.service.port));
    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..5 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    for conn in idle.iter_mut().chain(std::iter::once(&mut slow)) {
        let sent = read_until_closed(conn).await;
        assert!(
            sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&sent)
        );
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the time-out"
    );
    // The service still answers.
    assert_eq!(svc.service.get("/healthz").await.map(|(s, _)| s), Some(200));
}

/// A connection from `source` (any 127.0.0.0/8 address is this host's on Linux).
async fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    socket.connect(to).await.expect("connect")
}

// Raw TCP on purpose: the cap counts connections, so the test opens each one itself from a
// chosen source address, holds it without a request, and sends a request on one it holds; an
// HTTP client's pool decides for itself when to open, reuse or close a connection.
#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let nats = NatsServer::start();
    let config = format!("{UNLIMITED}\nmax_connections_per_ip = 3\n");
    let svc = start(&nats, &config).await;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, svc.service.port));
    let greedy = IpAddr::from([127, 0, 0, 2]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(greedy, addr).await);
    }
    // The fourth from the same address is closed without an answer...
    let mut extra = connect_from(greedy, addr).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let sent = read_until_closed(&mut extra).await;
    assert!(sent.is_empty(), "{}", String::from_utf8_lossy(&sent));
    // ...while other clients, /healthz and /readyz still get theirs,
    assert_eq!(svc.service.get("/healthz").await.map(|(s, _)| s), Some(200));
    assert_eq!(svc.service.get("/readyz").await.map(|(s, _)| s), Some(200));
    // and the held connections are served.
    held[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let answer = read_until_closed(&mut held[0]).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        svc.service
            .metric("vigil_security_events_total{kind=\"connection_limit\"}")
            .await
            >= Some(1.0)
    );
    // A closed connection frees its place.
    drop(held.remove(0));
    eventually("a free place for the greedy address", || async {
        let mut c = connect_from(greedy, addr).await;
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.ok()?;
        buf.starts_with(b"HTTP/1.1 200").then_some(())
    })
    .await;
}

#[tokio::test]
async fn behind_trusted_proxies_the_client_is_the_rightmost_untrusted_address() {
    let nats = NatsServer::start();
    let config = "[nats]\npartitions = 4\n[http]\nrate_limit_per_ip = 3\nrate_limit_per_tenant = 0\ntrusted_proxies = [\"127.0.0.0/8\"]\n";
    let svc = start(&nats, config).await;
    let port = svc.service.port;
    let token = svc.setup.token(1, "client_user", "ursula");
    let get = |xff: String| {
        let token = token.clone();
        async move {
            request_with(
                port,
                "GET",
                "/api/v1/alerts",
                Some(&token),
                None,
                &[("X-Forwarded-For", xff.as_str())],
            )
            .await
        }
    };
    // Rotating the left part of the header does not make a new client: the proxy appended
    // the real address, the right-most one.
    for n in 0..3 {
        let a = get(format!("198.51.100.{n}, 203.0.113.7")).await;
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let limited = get("198.51.100.99, 203.0.113.7".into()).await;
    assert_eq!(
        (limited.status, limited.code()),
        (429, 40005),
        "{}",
        limited.text
    );
    // Another real client is not limited.
    assert_eq!(get("203.0.113.8".into()).await.status, 200);
    // IPv6 clients are one client per /64.
    for n in 1..=3 {
        assert_eq!(get(format!("2001:db8:1:2::{n}")).await.status, 200);
    }
    let same_64 = get("2001:db8:1:2:ffff::1".into()).await;
    assert_eq!(same_64.status, 429, "{}", same_64.text);
    assert_eq!(get("2001:db8:1:3::1".into()).await.status, 200);

    // Security logs name the real client, not the forged part.
    let forged = request_with(
        port,
        "GET",
        "/api/v1/alerts",
        Some("not.a.token"),
        None,
        &[("X-Forwarded-For", "6.6.6.6, 203.0.113.9")],
    )
    .await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    let log = eventually("the bad-token event in the log", || async {
        let log = svc.service.log();
        log.contains("bad_token").then_some(log)
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("bad_token"))
        .unwrap_or_default();
    assert!(line.contains("203.0.113.9"), "{line}");
    assert!(!line.contains("6.6.6.6"), "{line}");
    // /metrics stays on the main listener when no metrics_listen is set.
    assert_eq!(svc.service.get("/metrics").await.map(|(s, _)| s), Some(200));
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let nats = NatsServer::start();
    let metrics_port = free_port();
    let config = format!("{UNLIMITED}\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n");
    let svc = start(&nats, &config).await;
    let (status, body) = http_get(metrics_port, "/metrics")
        .await
        .expect("metrics answer");
    assert_eq!(status, 200);
    assert!(body.contains("vigil_"), "{body}");
    let (status, body) = svc.service.get("/metrics").await.expect("main answers");
    assert_eq!(status, 404, "{body}");
    let v: Value = serde_json::from_str(&body).expect("an envelope");
    assert_eq!(v["code"], 41001, "{body}");
    // Only /metrics is there: the API is not.
    let (status, _) = http_get(metrics_port, "/healthz").await.expect("answer");
    assert_eq!(status, 404);
    assert_eq!(svc.service.get("/healthz").await.map(|(s, _)| s), Some(200));
}
