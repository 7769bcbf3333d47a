//! Crash under load: `didgate serve` (a real process) is killed with
//! SIGKILL while clients keep sending requests, then started again on the
//! same files. Every request the app received (its answer carries the
//! decision id the gateway forwarded) has its decision in the log, the log
//! verifies, and it extends the head anchored on chain before the crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credentials::{KeyType, SigningKey};
use support::*;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(cfg: &str) -> Serve {
    Serve(
        Command::new(env!("CARGO_BIN_EXE_didgate"))
            .args(["serve", "-c", cfg])
            .env("DIDGATE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

async fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = try_send(url, "/.didgate/health", None).await {
            if r.status.is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_forwarded_decision() {
    let keys = tempdir("crash-key");
    let key_file = keys.join("anchor.jwk");
    didgate::request::assertion::write_key_file(
        &key_file,
        &SigningKey::generate(KeyType::Secp256k1),
        None,
    )
    .unwrap();
    let extra = format!(
        "[chains.dev]\nembedded = true\npoll_interval_ms = 50\n[audit.anchor]\nchain = \"dev\"\nkey_file = \"{}\"\ninterval_secs = 1\n",
        key_file.display()
    );
    let mut h = Harness::start(None, &extra).await;
    // The in-process gateway only wrote the files; a process serves them.
    let port = test_support::free_port();
    h.gw.take().unwrap().shutdown().await;
    let cfg_path = h.dir.join("didgate.toml");
    let text = std::fs::read_to_string(&cfg_path).unwrap().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = cfg_path.to_str().unwrap().to_owned();
    let url = format!("http://127.0.0.1:{port}");
    let mut gw = serve(&cfg);
    wait_healthy(&url).await;

    // Load: four clients, each a fresh presentation per request.
    let h = Arc::new(h);
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (h, received, stop, url) = (h.clone(), received.clone(), stop.clone(), url.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let vp = h.fresh_vp(&h.alice);
                    if let Ok(r) = try_send(&url, "/eng/load", Some(&vp)).await {
                        if r.status.is_success() {
                            let id = r.decision_id().expect("the app saw a decision id");
                            received.lock().unwrap().push(id);
                        }
                    }
                }
            })
        })
        .collect();
    // Long enough for checkpoints and an anchor, then SIGKILL mid-load.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    gw.0.kill().unwrap();
    gw.0.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let received = received.lock().unwrap().clone();
    assert!(received.len() > 20, "load ran: {}", received.len());

    // Started again on the same files: the log opens (a torn tail is cut),
    // the index catches up, and every forwarded decision is there.
    let again = serve(&cfg);
    wait_healthy(&url).await;
    let store = didgate::store::Store::connect(&format!(
        "sqlite://{}",
        h.dir.join("decisions.db").display()
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = store.decisions().recent(1_000_000).await.unwrap();
        let have: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let missing: Vec<&String> = received
            .iter()
            .filter(|id| !have.contains(id.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} forwarded decisions are not in the log after a crash: {:?}",
            missing.len(),
            received.len(),
            &missing[..missing.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    store.close().await;
    // The log verifies, and extends what was anchored before the crash.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let v = didgate_cli(&["audit", "verify", "-c", &cfg]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(v.status.success(), "{text}");
    assert!(
        text.contains("consistent") && !text.contains("nothing yet"),
        "{text}"
    );
    println!("CRASH forwarded={} {text}", received.len());
    drop(again);
    Arc::try_unwrap(h)
        .ok()
        .expect("the clients are done")
        .stop()
        .await;
}
