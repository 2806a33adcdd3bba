//! A Git repository served over smart HTTP on a loopback port (`git http-backend` as CGI), with a working
//! copy to commit from: the upstream of GitRepository tests and the demo. Needs the `git` program.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
};

use axum::{
    Router,
    body::{Body, Bytes},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use tokio::{net::TcpListener, sync::oneshot};

/// Errors from the Git fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// `git` could not be run or failed.
    #[error("git {args}: {message}")]
    Git {
        /// The arguments.
        args: String,
        /// Its standard error, or why it could not start.
        message: String,
    },
    /// A file or socket operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A bare repository served at `http://127.0.0.1:<port>/<name>.git`, with a working copy whose commits
/// are pushed to it. Stops serving and deletes everything when dropped.
pub struct GitServer {
    url: String,
    work: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for GitServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Runs `git` in `dir` with a fixed identity and no user or system configuration.
fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=gitops-rs",
            "-c",
            "user.email=gitops-rs@example.invalid",
        ])
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GitError::Git {
            args: args.join(" "),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(GitError::Git {
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl GitServer {
    /// Creates an empty repository `<name>.git` (branch `main`) and serves it.
    ///
    /// # Errors
    /// `git` is missing or fails, or no port can be bound.
    pub async fn start(name: &str) -> Result<Self, GitError> {
        let dir = tempfile::tempdir()?;
        let repos = dir.path().join("repos");
        std::fs::create_dir_all(&repos)?;
        let bare = repos.join(format!("{name}.git"));
        let bare_s = bare.to_string_lossy().into_owned();
        git(dir.path(), &["init", "-q", "--bare", &bare_s])?;
        git(&bare, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
        let work = dir.path().join("work");
        let work_s = work.to_string_lossy().into_owned();
        git(dir.path(), &["init", "-q", "-b", "main", &work_s])?;
        git(&work, &["remote", "add", "origin", &bare_s])?;
        let exec_path = PathBuf::from(git(dir.path(), &["--exec-path"])?);
        let backend = Arc::new(exec_path.join("git-http-backend"));
        let root = Arc::new(repos);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (root, backend) = (root.clone(), backend.clone());
            async move { cgi(&backend, &root, &method, &uri, &headers, body).await }
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}/{name}.git"),
            work,
            _dir: dir,
            stop: Some(stop),
        })
    }

    /// The repository's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The working copy.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Writes `content` to `rel` in the working copy.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, rel: &str, content: &str) -> Result<&Self, GitError> {
        let p = self.work.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, content)?;
        Ok(self)
    }

    /// Removes `rel` from the working copy.
    ///
    /// # Errors
    /// The file cannot be removed.
    pub fn remove(&self, rel: &str) -> Result<&Self, GitError> {
        std::fs::remove_file(self.work.join(rel))?;
        Ok(self)
    }

    /// Commits everything in the working copy and pushes it; returns the commit SHA.
    ///
    /// # Errors
    /// `git` fails.
    pub fn commit(&self, message: &str) -> Result<String, GitError> {
        git(&self.work, &["add", "-A"])?;
        git(&self.work, &["commit", "-q", "--allow-empty", "-m", message])?;
        let sha = git(&self.work, &["rev-parse", "HEAD"])?;
        git(&self.work, &["push", "-q", "origin", "main"])?;
        Ok(sha)
    }
}

/// One request through `git http-backend`.
async fn cgi(
    backend: &Path,
    root: &Path,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let fail = |msg: String| {
        Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from(msg))
            .unwrap_or_default()
    };
    let mut cmd = tokio::process::Command::new(backend);
    cmd.env_clear()
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            cmd.env(var, v);
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("git http-backend: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = tokio::io::AsyncWriteExt::write_all(&mut stdin, &body).await;
    }
    let raw = match child.wait_with_output().await {
        Ok(o) => o.stdout,
        Err(e) => return fail(format!("git http-backend: {e}")),
    };
    let Some((end, sep)) = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
    else {
        return fail("git http-backend sent no CGI headers".into());
    };
    let mut resp = Response::builder();
    let mut status = StatusCode::OK;
    for line in String::from_utf8_lossy(&raw[..end]).lines() {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("status") {
                status = v
                    .trim()
                    .get(..3)
                    .and_then(|c| c.parse().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            } else {
                resp = resp.header(k.trim(), v.trim());
            }
        }
    }
    resp.status(status)
        .body(Body::from(raw[end + sep..].to_vec()))
        .unwrap_or_default()
}
