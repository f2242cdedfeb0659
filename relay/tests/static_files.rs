//! The web app's files: the precompressed variant that Accept-Encoding takes, and the security headers on every one.

use std::path::PathBuf;

use sanctum_relay::Config;

use sanctum_testkit::relay::TestRelay;

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
#[tokio::test]
async fn accept_encoding_picks_the_precompressed_variant_and_every_response_keeps_the_security_headers() {
    let web = WebDir::new();
    let relay = TestRelay::start(Config {
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
        let headers: Vec<(&str, &str)> = accept.map(|value| ("accept-encoding", value)).into_iter().collect();
        let response = relay.http("GET", path, &headers).await;
        let what = format!("{path} with {accept:?}");
        assert_eq!(response.status, 200, "{what}");
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
