//! Embedded API server benchmark: N objects created over HTTP (8 concurrent clients), listed, and replayed
//! by a watch; reports objects/s for each phase and the process's peak memory.
//!
//! Usage: `cargo run --release -p gitops-benches --bin bench-testkit [-- N]` (default 10,000).

#![allow(clippy::print_stdout)]

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    let r = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(r.as_bytes()).await?;
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).await?;
    let code = std::str::from_utf8(&buf[9..12])?.parse()?;
    Ok((code, buf))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let server = gitops_testkit::TestApiServer::start().await?;
    let addr = server.addr();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..8usize {
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(8) {
                let body = format!(
                    r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","labels":{{"batch":"b{}"}}}},"data":{{"key":"value-{i}","config.yaml":"a: 1\nb: 2\n"}}}}"#,
                    i % 10
                );
                let (code, _) = request(addr, "POST", "/api/v1/namespaces/default/configmaps", &body).await?;
                anyhow::ensure!(code == 201, "create returned {code}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let create = t.elapsed();
    let t = Instant::now();
    let (code, body) = request(addr, "GET", "/api/v1/namespaces/default/configmaps", "").await?;
    anyhow::ensure!(code == 200);
    let list = t.elapsed();
    let items = String::from_utf8_lossy(&body)
        .matches("\"kind\":\"ConfigMap\"")
        .count();
    let t = Instant::now();
    let (_, body) = request(
        addr,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
        "",
    )
    .await?;
    let watched = String::from_utf8_lossy(&body)
        .matches("\"type\":\"ADDED\"")
        .count();
    let watch = t.elapsed().saturating_sub(std::time::Duration::from_secs(1));
    let rate = |d: std::time::Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "created {n} objects in {:.2}s ({:.0}/s over HTTP, 8 clients)",
        create.as_secs_f64(),
        rate(create)
    );
    println!(
        "listed {items} objects in {:.3}s ({:.0}/s)",
        list.as_secs_f64(),
        rate(list)
    );
    println!(
        "watch replayed {watched} ADDED events in {:.3}s ({:.0}/s, excluding the 1 s watch timeout)",
        watch.as_secs_f64(),
        rate(watch)
    );
    println!(
        "peak memory of the process (server and clients): {} MiB",
        gitops_benches::peak_rss_mib("self")
    );
    Ok(())
}
