//! The HTTP side: the Origin check at the upgrade, the security headers on every response, the routes, and the metrics.

use sanctum_relay::Config;
use sanctum_testkit::http::{self, Response};
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::relay::{TestRelay, roomy_config};

const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
                   connect-src 'self'; img-src 'self' blob:; media-src blob:; style-src 'self'; font-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
                   require-trusted-types-for 'script'; trusted-types sanctum dompurify";

fn assert_security_headers(response: &Response, what: &str) {
    assert_eq!(response.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{what}");
    assert_eq!(
        response.header("cross-origin-opener-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
}

const UPGRADE: [(&str, &str); 4] = [
    ("upgrade", "websocket"),
    ("connection", "upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
];

#[tokio::test]
async fn a_foreign_origin_is_refused_at_upgrade_and_the_own_origin_is_not() {
    let relay = TestRelay::start(roomy_config()).await;
    let port = relay.addr.port();
    let mut headers = UPGRADE.to_vec();
    headers.push(("origin", "https://evil.example"));
    let refused = relay.http("GET", "/ws", &headers).await;
    assert_eq!(refused.status, 403);
    assert_security_headers(&refused, "403 at upgrade");

    for origin in [format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}")] {
        let client = relay.connect_with(&[("origin", &origin)]).await;
        assert!(client.is_ok(), "{origin} is the relay's own origin");
    }
    let null = relay.connect_with(&[("origin", "null")]).await;
    assert!(null.is_err());

    // A configured public origin replaces the default.
    let relay = TestRelay::start(Config {
        public_origins: vec!["https://chat.example.org".into()],
        connect_src: vec!["wss://relay.example.org".into()],
        ..roomy_config()
    })
    .await;
    assert!(
        relay
            .connect_with(&[("origin", "https://chat.example.org")])
            .await
            .is_ok()
    );
    assert!(
        relay
            .connect_with(&[("origin", &format!("http://127.0.0.1:{port}"))])
            .await
            .is_err()
    );
    let csp = relay.http("GET", "/healthz", &[]).await;
    assert!(
        csp.header("content-security-policy")
            .is_some_and(|v| v.contains("connect-src 'self' wss://relay.example.org;"))
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let web = std::env::temp_dir().join(format!("sanctum-relay-web-{}", std::process::id()));
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>Sanctum</title>").unwrap();
    std::fs::write(web.join("app.mjs"), "export {};").unwrap();
    std::fs::write(web.join("worker.js"), "self.onmessage = () => {};").unwrap();
    std::fs::write(web.join("sanctum_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let relay = TestRelay::start(Config {
        web_dir: Some(web.clone()),
        ..roomy_config()
    })
    .await;

    // (method, path, request headers, status, content type)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("GET", "/", vec![], 200, Some("text/html")),
        ("GET", "/app.mjs", vec![], 200, Some("text/javascript")),
        ("GET", "/worker.js", vec![], 200, Some("text/javascript")),
        ("GET", "/sanctum_bg.wasm", vec![], 200, Some("application/wasm")),
        ("GET", "/missing.js", vec![], 404, None),
        ("GET", "/healthz", vec![], 200, None),
        // Metrics are served on their own listener only.
        ("GET", "/metrics", vec![], 404, None),
        ("POST", "/healthz", vec![], 405, None),
        ("GET", "/ws", vec![], 400, None),
        ("GET", "/ws", vec![("origin", "https://evil.example")], 403, None),
    ];
    for (method, path, headers, status, content_type) in cases {
        let response = relay.http(method, path, &headers).await;
        let what = format!("{method} {path}");
        assert_eq!(response.status, status, "{what}");
        assert_security_headers(&response, &what);
        if let Some(expected) = content_type {
            let got = response.header("content-type").unwrap_or_default();
            assert!(got.starts_with(expected), "{what}: {got}");
        }
    }
    let metrics = http::request(relay.metrics_addr, "GET", "/metrics", &[]).await.unwrap();
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    assert_security_headers(&metrics, "GET /metrics on the metrics listener");
    // The upgrade response itself carries them too.
    let upgraded = relay.http("GET", "/ws", &UPGRADE).await;
    assert_eq!(upgraded.status, 101);
    assert_security_headers(&upgraded, "101");
    std::fs::remove_dir_all(web).unwrap();
}

#[tokio::test]
async fn metrics_count_frames_bytes_rooms_and_rejections() {
    let relay = TestRelay::start(roomy_config()).await;
    let [mut alice, mut bob] = relay.populated_room(&RoomKeys::seeded(3)).await;
    alice.broadcast(b"hello").await;
    bob.frame().await;
    bob.send_text("nonsense").await;
    bob.error().await;

    let metrics = relay.metrics().await.unwrap();
    let value = |sample: &str| metrics.value(sample);
    assert_eq!(value("sanctum_connections"), 2);
    assert_eq!(value("sanctum_rooms"), 1);
    assert_eq!(value("sanctum_members"), 2);
    assert_eq!(value("sanctum_rooms_created_total"), 1);
    assert_eq!(value("sanctum_frames_in_total"), 4);
    assert!(value("sanctum_bytes_in_total") > 100);
    // Two welcomes, created, joined, member_joined, the frame and the error.
    assert_eq!(value("sanctum_frames_out_total"), 7);
    assert!(value("sanctum_bytes_out_total") > value("sanctum_bytes_in_total") / 2);
    assert_eq!(value("sanctum_rejections_total{code=\"bad_frame\"}"), 1);
    assert_eq!(value("sanctum_slow_readers_total"), 0);
    assert_eq!(value("sanctum_queued_bytes"), 0);
    assert_eq!(value("sanctum_rooms_purged_total{reason=\"purged\"}"), 0);
    assert_eq!(value("sanctum_tombstones"), 0);
}
