//! The web app's files: the precompressed variant that Accept-Encoding takes, and the security headers on every one.

mod common;

use std::path::PathBuf;

use sanctum_relay::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::Relay;

/// A web directory with one script and a gzip and a brotli variant whose bodies say which one was served.
struct WebDir(PathBuf);

impl WebDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sanctum-static-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg")).expect("temp dir");
        for (name, body) in [
            ("app.js", "console.log('identity');"),
            ("app.js.gz", "gzip variant"),
            ("app.js.br", "brotli variant"),
            ("pkg/module_bg.wasm", "\0asm identity"),
            ("pkg/module_bg.wasm.gz", "wasm gzip variant"),
            ("config.json", "{}"),
        ] {
            std::fs::write(dir.join(name), body).expect("write fixture");
        }
        Self(dir)
    }
}

impl Drop for WebDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A response's status line, lowercase header names with their values, and body.
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

async fn get(relay: &Relay, path: &str, accept_encoding: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(relay.addr).await.expect("connect");
    let encoding = accept_encoding.map_or(String::new(), |value| format!("Accept-Encoding: {value}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{encoding}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write request");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read response");
    let text = String::from_utf8(bytes).expect("the fixtures are text");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn accept_encoding_picks_the_precompressed_variant_and_every_response_keeps_the_security_headers() {
    let web = WebDir::new();
    let relay = Relay::start(Config {
        web_dir: Some(web.0.clone()),
        ..Config::default()
    })
    .await;

    let cases = [
        ("/app.js", Some("gzip, deflate, br"), Some("br"), "brotli variant"),
        ("/app.js", Some("gzip"), Some("gzip"), "gzip variant"),
        ("/app.js", Some("br;q=0, gzip"), Some("gzip"), "gzip variant"),
        ("/app.js", None, None, "console.log('identity');"),
        ("/app.js", Some("identity"), None, "console.log('identity');"),
        // A file with only a gzip variant falls back to it for a brotli client, and to the file itself otherwise.
        (
            "/pkg/module_bg.wasm",
            Some("br, gzip"),
            Some("gzip"),
            "wasm gzip variant",
        ),
        ("/pkg/module_bg.wasm", Some("br"), None, "\0asm identity"),
        ("/config.json", Some("br, gzip"), None, "{}"),
    ];
    for (path, accept, encoding, body) in cases {
        let response = get(&relay, path, accept).await;
        let what = format!("{path} with {accept:?}");
        assert!(response.status.contains(" 200 "), "{what}: {}", response.status);
        assert_eq!(response.header("content-encoding"), encoding, "{what}");
        assert_eq!(response.body, body, "{what}");
        assert_eq!(response.header("vary"), Some("accept-encoding"), "{what}");
        // The type is the file's, whichever variant carries it.
        let expected_type = match path {
            "/app.js" => "text/javascript",
            "/config.json" => "application/json",
            _ => "application/wasm",
        };
        assert!(
            response
                .header("content-type")
                .is_some_and(|t| t.starts_with(expected_type)),
            "{what}: {:?}",
            response.header("content-type")
        );
        assert!(
            response
                .header("content-security-policy")
                .is_some_and(|csp| csp.starts_with("default-src 'none';")),
            "{what}"
        );
        assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(
            response.header("cross-origin-opener-policy"),
            Some("same-origin"),
            "{what}"
        );
    }
}
