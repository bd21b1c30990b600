//! Many slow streams open at once: each a raw HTTP/1.1 request read to the end of its chunked
//! body, all on one tokio runtime; the gateway's memory sampled while they are open.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::load::memory_kib;

/// What the run saw.
pub struct Crowd {
    pub opened: usize,
    pub completed: usize,
    /// All of them had their first event at once.
    pub all_open_at: Option<Duration>,
    pub took: Duration,
    /// The gateway's resident memory before, at its largest while they ran (sampled), and its
    /// peak as the kernel counts it (VmHWM), in KiB.
    pub idle_kib: u64,
    pub open_kib: u64,
    pub peak_kib: u64,
}

/// Opens `count` streams to `addr` (`host:port`) posting `body` to `path`, waits at most
/// `limit` for all of them to end.
pub fn crowd(
    addr: &str,
    path: &str,
    key: &str,
    body: &str,
    count: usize,
    pid: u32,
    limit: Duration,
) -> Crowd {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let request: Arc<[u8]> = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    let (idle_kib, _) = memory_kib(pid);
    let started = Instant::now();
    let deadline = started + limit;
    let first = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let (completed, all_open_at, open_kib) = runtime.block_on(async {
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (request, first, opened, addr) = (
                request.clone(),
                first.clone(),
                opened.clone(),
                addr.to_owned(),
            );
            tasks.push(tokio::spawn(async move {
                let run = async {
                    let mut socket = tokio::net::TcpStream::connect(addr).await.ok()?;
                    opened.fetch_add(1, Ordering::SeqCst);
                    socket.write_all(&request).await.ok()?;
                    let mut buf = vec![0u8; 4096];
                    let mut tail: Vec<u8> = Vec::new();
                    let mut seen_first = false;
                    loop {
                        let n = socket.read(&mut buf).await.ok()?;
                        if n == 0 {
                            return None;
                        }
                        if !seen_first {
                            if !buf[..n].starts_with(b"HTTP/1.1 200") {
                                return None;
                            }
                            seen_first = true;
                            first.fetch_add(1, Ordering::SeqCst);
                        }
                        // Only the last bytes matter: the chunked body's end.
                        tail.extend_from_slice(&buf[..n]);
                        if memmem::find(&tail, b"\r\n0\r\n\r\n").is_some() {
                            return Some(());
                        }
                        let keep = tail.len().saturating_sub(8);
                        tail.drain(..keep);
                    }
                };
                tokio::time::timeout_at(deadline.into(), run)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
            }));
        }
        // Sample the gateway's memory until the streams end.
        let sampled = Arc::new(std::sync::Mutex::new((0u64, None::<Duration>)));
        let sampler = {
            let (sampled, first) = (sampled.clone(), first.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let (rss, _) = memory_kib(pid);
                    let mut sampled = sampled.lock().expect("samples");
                    sampled.0 = sampled.0.max(rss);
                    if sampled.1.is_none() && first.load(Ordering::SeqCst) == count {
                        sampled.1 = Some(started.elapsed());
                    }
                }
            })
        };
        let mut completed = 0;
        for task in tasks {
            if task.await.unwrap_or(false) {
                completed += 1;
            }
        }
        sampler.abort();
        let (open_kib, all_open_at) = *sampled.lock().expect("samples");
        (completed, all_open_at, open_kib)
    });
    let (_, peak_kib) = memory_kib(pid);
    Crowd {
        opened: opened.load(Ordering::SeqCst),
        completed,
        all_open_at,
        took: started.elapsed(),
        idle_kib,
        open_kib,
        peak_kib,
    }
}
