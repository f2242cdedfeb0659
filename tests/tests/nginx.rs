//! The operating guide's nginx example, taken from `docs/operating.md` itself, run by Debian's nginx in front of a
//! real relay, with TLS on a certificate made for the test: a room is created, joined and spoken in through it.
//!
//! Only the host names, ports and file paths of the example are changed, each of them checked to be there, so that
//! the guide and this test cannot drift apart. The client side of TLS is `openssl s_client`, whose standard input and
//! output carry the HTTP and WebSocket bytes; no TLS stack is linked into the tests. nginx comes from
//! `cargo xtask install` (`apt-get install -y nginx`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sanctum_protocol::{ClientFrame, Payload, RelayFrame};
use sanctum_relay::Config;
use sanctum_testkit::free_port;
use sanctum_testkit::keys::RoomKeys;
use sanctum_testkit::relay::TestRelay;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Join};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const NGINX: &str = "/usr/sbin/nginx";
/// The longest any step may take before the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(20);

/// The one ```nginx block of the operating guide.
fn guide_example() -> String {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operating.md"))
        .expect("docs/operating.md is readable");
    let (_, rest) = guide.split_once("```nginx\n").expect("the guide has an nginx example");
    let (block, _) = rest.split_once("```").expect("the nginx example ends");
    block.to_owned()
}

/// Replaces `from` by `to` in `text`, which must hold it: the guide changing under the test fails it.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the guide's nginx example no longer has {from:?}");
    text.replace(from, to)
}

/// nginx with the guide's example, killed when dropped.
struct Nginx {
    child: Child,
    http: u16,
    https: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    /// Runs the example on `http` and `https` in front of the relay at `relay`.
    async fn start(relay: SocketAddr, http: u16, https: u16) -> Self {
        assert!(
            Path::new(NGINX).is_file(),
            "{NGINX} is missing: run `cargo xtask install` (it installs Debian's nginx)"
        );
        let dir = std::env::temp_dir().join(format!("sanctum-nginx-{}-{https}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-addext", "subjectAltName=DNS:localhost"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl made no certificate");
        let d = dir.display();
        let mut example = guide_example();
        for (from, to) in [
            ("    listen 80;\n", format!("    listen 127.0.0.1:{http};\n")),
            ("    listen [::]:80;\n", String::new()),
            ("    listen 443 ssl;\n", format!("    listen 127.0.0.1:{https} ssl;\n")),
            ("    listen [::]:443 ssl;\n", String::new()),
            ("server_name chat.example.org;", "server_name localhost;".to_owned()),
            ("/etc/ssl/chat.example.org/fullchain.pem", format!("{d}/cert.pem")),
            ("/etc/ssl/chat.example.org/privkey.pem", format!("{d}/key.pem")),
            ("/var/log/nginx/sanctum-error.log", format!("{d}/error.log")),
            ("http://127.0.0.1:8080", format!("http://{relay}")),
        ] {
            example = swap(example, from, &to);
        }
        let config = format!(
            "pid {d}/nginx.pid;\nerror_log {d}/main-error.log;\nevents {{}}\nhttp {{\n\
             client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n{example}}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("startup.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        let nginx = Self {
            child,
            http,
            https,
            dir,
        };
        let ready = async {
            while tokio::net::TcpStream::connect(("127.0.0.1", https)).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(DEADLINE, ready).await.is_err() {
            let log = std::fs::read_to_string(nginx.dir.join("startup.log")).unwrap_or_default();
            panic!("nginx did not listen: {log}");
        }
        nginx
    }

    /// A TLS connection to nginx's HTTPS port through `openssl s_client`, checking the test's certificate.
    fn tls(&self) -> Tunnel {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-servername", "localhost"])
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", self.https))
            .arg("-CAfile")
            .arg(self.dir.join("cert.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl s_client starts");
        let io = tokio::io::join(child.stdout.take().unwrap(), child.stdin.take().unwrap());
        Tunnel { child, io }
    }
}

/// Bytes to and from nginx over TLS.
struct Tunnel {
    child: Child,
    io: Join<ChildStdout, ChildStdin>,
}

/// Sends one HTTP/1.1 request on `io` and reads the response until the server closes; returns the lowercase head.
async fn http(mut io: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> String {
    io.write_all(request.as_bytes()).await.unwrap();
    io.flush().await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, io.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split("\r\n\r\n").next().unwrap_or_default().to_ascii_lowercase()
}

async fn https_get(nginx: &Nginx, path: &str) -> String {
    let tunnel = nginx.tls();
    http(
        tunnel.io,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await
}

type Ws = tokio_tungstenite::WebSocketStream<Join<ChildStdout, ChildStdin>>;

/// A WebSocket through nginx, and the `openssl s_client` that carries it.
struct Member {
    ws: Ws,
    _tunnel: Child,
}

/// Opens `/ws` through nginx from a page on `origin`: the socket past the welcome, or the upgrade's status.
async fn open(nginx: &Nginx, origin: &str) -> Result<Member, u16> {
    let Tunnel { child, io } = nginx.tls();
    let mut request = format!("wss://localhost:{}/ws", nginx.https)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(origin).unwrap());
    let connecting = tokio_tungstenite::client_async(request, io);
    match tokio::time::timeout(DEADLINE, connecting)
        .await
        .expect("the upgrade in time")
    {
        Ok((ws, _)) => {
            let mut member = Member { ws, _tunnel: child };
            assert!(matches!(member.next().await, RelayFrame::Welcome(_)));
            Ok(member)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("the upgrade failed: {other}"),
    }
}

impl Member {
    async fn next(&mut self) -> RelayFrame {
        loop {
            match tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("a frame in time")
            {
                Some(Ok(Message::Text(text))) => return RelayFrame::decode(&text).expect("a relay frame"),
                Some(Ok(_)) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    }

    async fn send(&mut self, frame: &ClientFrame) {
        self.ws.send(Message::text(frame.encode())).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_nginx_example_serves_a_room_over_tls() {
    let web = std::env::temp_dir().join(format!("sanctum-nginx-web-{}", std::process::id()));
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>Sanctum</title>").unwrap();
    let http_port = free_port().expect("a free port");
    let https_port = free_port().expect("a free port");
    let origin = format!("https://localhost:{https_port}");
    // The guide's command line: the app's directory, the origin users type, the proxy trusted for addresses.
    let relay = TestRelay::start(Config {
        web_dir: Some(web.clone()),
        public_origins: vec![origin.clone()],
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Config::default()
    })
    .await;
    let nginx = Nginx::start(relay.addr, http_port, https_port).await;

    // Plain HTTP only redirects.
    let plain = tokio::net::TcpStream::connect(("127.0.0.1", nginx.http)).await.unwrap();
    let head = http(
        plain,
        "GET /some/page HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 301"), "{head}");
    assert!(head.contains("\r\nlocation: https://localhost/some/page"), "{head}");

    // The app over TLS, with the relay's headers and the proxy's HSTS, and no nginx version.
    let head = https_get(&nginx, "/").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("\r\nstrict-transport-security: max-age="), "{head}");
    assert!(
        head.contains("\r\ncontent-security-policy: default-src 'none';"),
        "{head}"
    );
    assert!(head.contains("\r\nserver: nginx\r\n"), "the version is hidden: {head}");
    // Metrics are not reachable through the proxy.
    let head = https_get(&nginx, "/metrics").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");

    // A room through the proxy: create, join, a broadcast and a whisper.
    let room = RoomKeys::fresh();
    let mut alice = open(&nginx, &origin).await.expect("the upgrade through nginx");
    alice.send(&room.create(60)).await;
    assert!(matches!(alice.next().await, RelayFrame::Created { member: 1, .. }));
    let mut bob = open(&nginx, &origin).await.expect("the upgrade through nginx");
    bob.send(&room.join()).await;
    assert!(matches!(bob.next().await, RelayFrame::Joined { member: 2, .. }));
    assert!(matches!(alice.next().await, RelayFrame::MemberJoined { member: 2 }));
    let payload = Payload::new(b"through the proxy".to_vec()).unwrap();
    alice
        .send(&ClientFrame::Broadcast {
            payload: payload.clone(),
        })
        .await;
    match bob.next().await {
        RelayFrame::Frame {
            from: 1,
            direct: false,
            payload: got,
        } => assert_eq!(got, payload),
        other => panic!("expected the broadcast, got {other:?}"),
    }
    bob.send(&ClientFrame::Direct {
        to: 1,
        payload: payload.clone(),
    })
    .await;
    assert!(matches!(
        alice.next().await,
        RelayFrame::Frame {
            from: 2,
            direct: true,
            ..
        }
    ));
    alice.send(&ClientFrame::Purge).await;
    assert!(matches!(bob.next().await, RelayFrame::Purged { .. }));

    // The room was this relay's.
    let metrics = relay.metrics().await.unwrap();
    assert_eq!(metrics.get("sanctum_rooms_created_total"), 1.0);
    // Any origin not listed, the same host by another name included, is refused.
    assert_eq!(
        open(&nginx, &format!("https://127.0.0.1:{https_port}")).await.err(),
        Some(403)
    );
    drop(nginx);
    relay.stop().await.unwrap();
    std::fs::remove_dir_all(web).unwrap();
}
