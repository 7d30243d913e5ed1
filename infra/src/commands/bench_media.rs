//! `wabridge bench-media`: inbound media through the local stack against the sandbox: many small
//! images, then one large document while the process's resident memory is sampled, written as a
//! report. The large download must stream: its peak stays far below its size.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;
use wabridge::Config;
use wabridge::media::MediaStatus;
use wabridge::ports::MediaStore;
use wabridge_infra::LocalStack;
use wabridge_infra::sandbox::sha256_base64;
use wabridge_infra::simulate::{self, DEFAULT_PHONE_NUMBER_ID};

/// The process's resident set, in bytes (Linux; 0 elsewhere).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

const MB: f64 = 1_000_000.0;

/// Runs both phases and writes the report.
pub async fn run(images: usize, image_kb: usize, document_mb: usize, report: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("wabridge-bench-media-{}", ulid::Ulid::new()));
    let result = bench(&dir, images, image_kb, document_mb).await;
    let _ = std::fs::remove_dir_all(&dir);
    let md = result?;
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &md)?;
    println!("{md}\nreport written to {}", report.display());
    Ok(())
}

async fn bench(dir: &Path, images: usize, image_kb: usize, document_mb: usize) -> anyhow::Result<String> {
    let data = dir.display().to_string();
    let config = Config::from_lookup(&move |k| (k == "WABRIDGE_DATA_DIR").then(|| data.clone()))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let stack = LocalStack::open(&config, listener.local_addr()?)?;
    let sandbox = stack.sandbox.clone().context("the bench needs the sandbox")?;
    let (store, secret) = (stack.store.clone(), stack.secrets.app_secret.clone());
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(stack.serve(listener, stop_rx));
    let client = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let (client, base, secret) = (client.clone(), base.clone(), secret.clone());
        async move {
            let code = simulate::post(&client, &base, &secret, &serde_json::to_vec(&body)?).await?;
            anyhow::ensure!(code == 200, "the stack answered {code}");
            Ok(())
        }
    };
    let wait_stored = |ids: Vec<String>, within: Duration| {
        let store = store.clone();
        async move {
            let deadline = Instant::now() + within;
            for id in ids {
                loop {
                    let r = store.media(&id).await?;
                    match r.map(|r| (r.status, r.error)) {
                        Some((MediaStatus::Stored, _)) => break,
                        Some((MediaStatus::Failed, e)) => anyhow::bail!("media {id} failed: {e:?}"),
                        _ if Instant::now() > deadline => anyhow::bail!("media {id} not stored in time"),
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    let now = chrono::Utc::now().timestamp();

    // Phase 1: many small images, all webhooks posted at once.
    let size = image_kb * 1024;
    let mut ids = Vec::with_capacity(images);
    let mut bodies = Vec::with_capacity(images);
    for i in 0..images {
        let bytes: Vec<u8> = (0..size).map(|j| (j as u8).wrapping_add(i as u8)).collect();
        let sha = sha256_base64(&bytes);
        let id = sandbox.add_media(bytes, "image/jpeg");
        let content = json!({"id": id, "mime_type": "image/jpeg", "sha256": sha});
        let from = format!("2782{:07}", i);
        bodies.push(simulate::inbound(
            DEFAULT_PHONE_NUMBER_ID,
            &from,
            "Bench",
            &simulate::new_wamid(),
            now,
            "image",
            content,
        ));
        ids.push(id);
    }
    let started = Instant::now();
    for body in bodies {
        post(body).await?;
    }
    wait_stored(ids.clone(), Duration::from_secs(300)).await?;
    let small = started.elapsed().as_secs_f64();
    let once = ids.iter().all(|id| sandbox.downloads(id) == 1);

    // Phase 2: one large document, resident memory sampled while it downloads.
    let doc_bytes = document_mb * 1_000_000;
    let doc: Vec<u8> = (0..doc_bytes).map(|j| (j % 251) as u8).collect();
    let sha = sha256_base64(&doc);
    let id = sandbox.add_media(doc, "application/pdf");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle = rss_bytes();
    let (peak, sampling) = (Arc::new(AtomicU64::new(idle)), Arc::new(AtomicBool::new(true)));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::SeqCst) {
                peak.fetch_max(rss_bytes(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let content = json!({"id": id, "mime_type": "application/pdf", "sha256": sha, "filename": "big.pdf"});
    let started = Instant::now();
    post(simulate::inbound(
        DEFAULT_PHONE_NUMBER_ID,
        "27829999999",
        "Bench",
        &simulate::new_wamid(),
        now,
        "document",
        content,
    ))
    .await?;
    wait_stored(vec![id.clone()], Duration::from_secs(600)).await?;
    let large = started.elapsed().as_secs_f64();
    sampling.store(false, Ordering::SeqCst);
    sampler.await?;
    let above = peak.load(Ordering::SeqCst).saturating_sub(idle);
    stop_tx.send(true)?;
    server.await??;

    let small_mb = (images * size) as f64 / MB;
    Ok(format!(
        "# wabridge media downloads through the local stack (sandbox as Meta)\n\n\
         | run | files | bytes | seconds | files/s | MB/s |\n|---|---:|---:|---:|---:|---:|\n\
         | {images} images of {image_kb} KiB, webhooks posted at once | {images} | {} | {small:.2} | {:.1} | {:.1} |\n\
         | one document | 1 | {doc_bytes} | {large:.2} | {:.2} | {:.1} |\n\n\
         Each image downloaded exactly once: {once}.\n\n\
         Resident memory during the large download: idle {:.1} MB (the sandbox holds the file), \
         peak {:.1} MB, **{:.1} MB above idle** for a {:.0} MB file (target: under 64 MB).\n\n\
         machine: {} cores; build: {}\n",
        images * size,
        images as f64 / small,
        small_mb / small,
        1.0 / large,
        doc_bytes as f64 / MB / large,
        idle as f64 / MB,
        peak.load(Ordering::SeqCst) as f64 / MB,
        above as f64 / MB,
        doc_bytes as f64 / MB,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    ))
}
