//! The load harness end to end, in a short run: it starts the upstream, nginx
//! (plain and with auth_request), the auth endpoint and a real didgate, checks
//! each answers 200 to the measured request (and 401 without credentials),
//! drives each with wrk, and writes a results section whose every row has
//! numbers and no failed request. Keeps `bash bench/run.sh` from rotting;
//! the figures of a short debug run mean nothing and are not kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// One-second runs of every system into `dir/RESULTS.md`, with a soak of
/// `soak_secs` (0 skips it).
fn short_run(
    me: &Path,
    root: &Path,
    didgate: &Path,
    dir: &Path,
    soak_secs: u32,
    extra: &[&str],
) -> std::process::Output {
    Command::new(me)
        .current_dir(root)
        .args(["run", "--duration", "1", "--warmup", "1", "--reps", "1"])
        .arg("--soak-secs")
        .arg(soak_secs.to_string())
        .arg("--didgate")
        .arg(didgate)
        .arg("--out")
        .arg(dir.join("RESULTS.md"))
        .arg("--work")
        .arg(dir.join("work"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_short_run_measures_every_system_without_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let status = Command::new("bash")
        .arg(root.join("scripts/install-bench-tools.sh"))
        .status()
        .unwrap();
    assert!(status.success(), "installing nginx and wrk failed");
    let me = Path::new(env!("CARGO_BIN_EXE_didgate-bench"));
    // The didgate binary of the same build (cargo test --workspace builds it).
    let didgate = me.with_file_name("didgate");
    assert!(
        didgate.is_file(),
        "{} is missing: build the workspace (cargo test --workspace builds it)",
        didgate.display()
    );
    let dir = std::env::temp_dir().join(format!("didgate-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("RESULTS.md");
    std::fs::write(&out, "# results\n\nkept above the section\n").unwrap();
    let run = short_run(me, root, &didgate, &dir, 3, &[]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "harness failed:\n{stdout}\n{stderr}");

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# results\n\nkept above the section\n"),
        "{text}"
    );
    for system in [
        "upstream direct",
        "bare hyper proxy (pooled client, nothing else)",
        "nginx, plain reverse proxy",
        "nginx + auth_request (session check)",
        "didgate, browser session cookie",
        "didgate, VP-JWT bearer, credential cache hit",
        "didgate, VP-JWT bearer, credential cache miss",
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {system} |")))
            .unwrap_or_else(|| panic!("no row for {system}:\n{text}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let rps: f64 = cells[2].parse().unwrap();
        assert!(rps > 0.0, "{row}");
        let cpu: f64 = cells[8].parse().unwrap();
        assert!(cpu > 0.0, "no CPU time measured for {row}");
        assert_eq!(cells[9], "0", "errors in {row}");
    }
    assert!(text.contains("**added by didgate**"), "{text}");
    assert!(text.contains("**added by the bare proxy**"), "{text}");
    assert!(text.contains("**Above the floor**"), "{text}");
    assert!(text.contains("**Memory soak**"), "{text}");
    assert!(text.contains("**Targets**"), "{text}");
    for target in [
        "| session CPU/request ≤ bare proxy's + 10 µs |",
        "| sessions ≥ 0.65× nginx plain proxy (req/s) |",
        "| sessions ≥ 4× nginx + auth_request (req/s) |",
        "| added p50 at half load < 150 µs |",
        "| bearer cache hit CPU/request ≤ one Ed25519 check + the session row's |",
        "| signed requests ≥ 0.7× sessions (req/s; issue 17) |",
        "| soak at 80 % of peak: RSS flat, no errors |",
    ] {
        assert!(text.contains(target), "no target row {target}:\n{text}");
    }
    assert!(text.contains("One Ed25519 signature check: "), "{text}");
    // With two cores or more, the same rows again with every core shared.
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        let shared = text
            .split("**Sharing CPU")
            .nth(1)
            .unwrap_or_else(|| panic!("no shared-CPU table:\n{text}"));
        let row = shared
            .lines()
            .find(|l| l.starts_with("| didgate, browser session cookie |"))
            .unwrap_or_else(|| panic!("no session row sharing CPUs:\n{text}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells[2].parse::<f64>().unwrap() > 0.0, "{row}");
        assert_eq!(cells[8], "0", "errors in {row}");
    }

    // A second run replaces the section instead of adding another.
    let again = short_run(me, root, &didgate, &dir, 0, &["--shared-cpus", ""]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.matches("load-harness:begin").count(), 1, "{text}");
    assert!(text.contains("Memory soak: skipped"), "{text}");
    assert!(
        !text.contains("**Sharing CPU"),
        "--shared-cpus \"\" skips it: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_didgate_binary_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_didgate-bench"))
        .args(["run", "--didgate", "/nonexistent/didgate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build --release"), "{err}");
}
