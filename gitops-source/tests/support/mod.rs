//! Real Git servers on 127.0.0.1 for the integration tests: git daemon, git http-backend behind a CGI
//! shim, sshd. Each is killed when its guard drops.

#![allow(dead_code, unreachable_pub)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

/// Runs `git` with a fixed identity in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A bare repository at `<tmp>/repos/app.git` with a working clone to commit from.
pub struct Repo {
    pub tmp: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
}

impl Repo {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let repos = tmp.path().join("repos");
        std::fs::create_dir_all(&repos).unwrap();
        let bare = repos.join("app.git");
        git(tmp.path(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
        git(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        let work = tmp.path().join("work");
        git(tmp.path(), &["init", "-q", "-b", "main", work.to_str().unwrap()]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self { tmp, bare, work }
    }

    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.work.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    /// Commits everything and pushes all branches and tags; returns the commit SHA.
    pub fn commit(&self, msg: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "--allow-empty", "-m", msg]);
        let sha = git(&self.work, &["rev-parse", "HEAD"]);
        git(&self.work, &["push", "-q", "--all", "origin"]);
        git(&self.work, &["push", "-q", "--tags", "origin"]);
        sha
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// Kills the child process on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `git daemon` serving `<repo.tmp>/repos` at `git://127.0.0.1:<port>/app.git`.
pub fn git_daemon(repo: &Repo) -> (ChildGuard, String) {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
        ])
        .arg(format!("--base-path={}", repo.bare.parent().unwrap().display()))
        .arg(repo.bare.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon starts");
    wait_for_port(port);
    (ChildGuard(child), format!("git://127.0.0.1:{port}/app.git"))
}

/// What the HTTP shim demands from clients.
#[derive(Clone, Debug)]
pub enum HttpAuth {
    None,
    Basic(String),
    Bearer(String),
}

/// The path of `git http-backend`.
pub fn http_backend() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("git-http-backend")
}

/// `git http-backend` as CGI behind an axum server that forwards `Git-Protocol`; returns the runtime
/// guard and `http://127.0.0.1:<port>/app.git`.
pub fn http_server(repo: &Repo, auth: HttpAuth) -> (tokio::runtime::Runtime, String) {
    use axum::{
        body::Bytes,
        http::{HeaderMap, Method, StatusCode, Uri},
        response::{IntoResponse, Response},
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = Arc::new(repo.bare.parent().unwrap().to_owned());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let root = root.clone();
        let auth = auth.clone();
        async move {
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let ok = match &auth {
                HttpAuth::None => true,
                HttpAuth::Basic(b64) => given == format!("Basic {b64}"),
                HttpAuth::Bearer(t) => given == format!("Bearer {t}"),
            };
            if !ok {
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("WWW-Authenticate", "Basic realm=\"git\"")
                    .body(axum::body::Body::empty())
                    .unwrap();
            }
            let mut cmd = tokio::process::Command::new(http_backend());
            cmd.env_clear()
                .env("GIT_PROJECT_ROOT", &*root)
                .env("GIT_HTTP_EXPORT_ALL", "1")
                .env("REQUEST_METHOD", method.as_str())
                .env("PATH_INFO", uri.path())
                .env("QUERY_STRING", uri.query().unwrap_or(""))
                .env("CONTENT_LENGTH", body.len().to_string())
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            if let Some(ct) = headers.get("content-type").and_then(|v| v.to_str().ok()) {
                cmd.env("CONTENT_TYPE", ct);
            }
            if let Some(enc) = headers.get("content-encoding").and_then(|v| v.to_str().ok()) {
                cmd.env("HTTP_CONTENT_ENCODING", enc);
            }
            if let Some(proto) = headers.get("git-protocol").and_then(|v| v.to_str().ok()) {
                cmd.env("GIT_PROTOCOL", proto);
            }
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut stdin, &body)
                .await
                .unwrap();
            drop(stdin);
            let out = child.wait_with_output().await.unwrap();
            let raw = out.stdout;
            let split = raw
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|i| (i, 4))
                .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
                .expect("CGI headers");
            let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
            let mut resp = Response::builder();
            let mut status = StatusCode::OK;
            for line in head.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("status") {
                        status = StatusCode::from_u16(v.trim()[..3].parse().unwrap()).unwrap();
                    } else {
                        resp = resp.header(k.trim(), v.trim());
                    }
                }
            }
            resp.status(status)
                .body(axum::body::Body::from(raw[split.0 + split.1..].to_vec()))
                .unwrap()
                .into_response()
        }
    };
    let app = axum::Router::new().fallback(handler);
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rt, format!("http://127.0.0.1:{port}/app.git"))
}

/// An sshd on 127.0.0.1 accepting `client_key`; returns the guard, the known_hosts line, the client private key
/// and the URL. `None` when sshd is not installed.
pub struct Sshd {
    pub guard: ChildGuard,
    pub known_hosts: String,
    pub wrong_known_hosts: String,
    pub identity: String,
    pub url: String,
    _dir: tempfile::TempDir,
}

pub fn sshd(repo: &Repo) -> Option<Sshd> {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keygen = |name: &str| {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join(name))
            .status()
            .unwrap();
        assert!(st.success());
    };
    keygen("host");
    keygen("other_host");
    keygen("client");
    std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
    let port = free_port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {h}\nAuthorizedKeysFile {ak}\nPidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n",
        h = d.join("host").display(),
        ak = d.join("authorized_keys").display(),
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(d.join("sshd_config"))
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    wait_for_port(port);
    let pubkey = |name: &str| std::fs::read_to_string(d.join(format!("{name}.pub"))).unwrap();
    let host_line = |key: &str| {
        let mut parts = key.split_whitespace();
        format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    };
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    Some(Sshd {
        guard: ChildGuard(child),
        known_hosts: host_line(&pubkey("host")),
        wrong_known_hosts: host_line(&pubkey("other_host")),
        identity: std::fs::read_to_string(d.join("client")).unwrap(),
        url: format!("ssh://{user}@127.0.0.1:{port}{}", repo.bare.display()),
        _dir: dir,
    })
}
