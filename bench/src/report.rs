//! What the harness writes: the systems' configuration files, the machine
//! description, and the results section of bench/RESULTS.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::options::Opts;
use crate::systems::{Run, System};

pub const HEALTH: &str = "/.didgate/health";
const BEGIN: &str =
    "<!-- load-harness:begin (written by didgate-bench run; do not edit by hand) -->";
const END: &str = "<!-- load-harness:end -->";

pub struct Row {
    pub system: System,
    pub summary: Run,
    pub runs: Vec<Run>,
}

pub struct HalfLoad {
    pub target_rps: f64,
    pub direct_connections: u32,
    pub didgate_connections: u32,
    pub direct: Run,
    pub didgate: Run,
    /// The floor at the same utilisation: the bare proxy at half of its own
    /// peak, with the upstream alone at that rate beside it.
    pub floor: Option<FloorHalf>,
}

/// The bare proxy paced at half of its own peak.
pub struct FloorHalf {
    pub target_rps: f64,
    pub direct: Run,
    pub bare: Run,
}

pub struct Soak {
    pub target_rps: f64,
    pub connections: u32,
    pub secs: u64,
    pub run: Run,
    pub samples: Vec<RssSample>,
}

/// didgate's resident memory at one moment of the soak, from
/// `/proc/PID/status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RssSample {
    /// Seconds since the soak started.
    pub secs: u64,
    /// `VmRSS`, KiB: all of it.
    pub rss_kib: u64,
    /// `RssAnon`, KiB: the heap and stacks, what a leak would grow.
    pub anon_kib: u64,
    /// `RssFile`, KiB: file pages mapped in (the binary, SQLite's memory
    /// map of the index), page cache the kernel can take back.
    pub file_kib: u64,
}

impl RssSample {
    /// Parse the RSS lines of a `/proc/PID/status` text.
    pub fn parse(secs: u64, status: &str) -> Option<Self> {
        let field = |name: &str| {
            status.lines().find_map(|l| {
                l.strip_prefix(name)?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        Some(Self {
            secs,
            rss_kib: field("VmRSS:")?,
            anon_kib: field("RssAnon:").unwrap_or(0),
            file_kib: field("RssFile:").unwrap_or(0),
        })
    }
}

pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub nginx: String,
    pub wrk: String,
    pub didgate: String,
}

/// The peak rows measured again with the servers and wrk sharing `cpus`.
pub struct SharedCpus {
    pub cpus: String,
    pub rows: Vec<Row>,
}

pub struct Report {
    pub opts: Opts,
    pub rows: Vec<Row>,
    pub half: HalfLoad,
    pub soak: Option<Soak>,
    pub two_core: Option<SharedCpus>,
    pub machine: Machine,
    /// One Ed25519 check's CPU time, µs (the bearer row's bound).
    pub signature_check_us: Option<f64>,
}

/// nginx: one worker per server-side core, keep-alive to the upstream and
/// to the auth endpoint, buffered access log — the setup an operator who
/// tunes nginx would use.
pub fn nginx_conf(
    dir: &Path,
    workers: usize,
    upstream: u16,
    authz: u16,
    proxy: u16,
    auth: u16,
) -> String {
    let d = dir.display();
    format!(
        r#"worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {d}/access.log combined buffer=64k flush=1s;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  upstream authz {{ server 127.0.0.1:{authz}; keepalive 64; }}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  server {{
    listen 127.0.0.1:{proxy};
    location / {{ proxy_pass http://app; }}
  }}
  server {{
    listen 127.0.0.1:{auth};
    location = /_auth {{
      internal;
      proxy_pass http://authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }}
    location / {{
      auth_request /_auth;
      proxy_pass http://app;
    }}
  }}
}}
"#
    )
}

/// didgate's config and policies for the bench: one route to the upstream,
/// the issuer trusted for employee credentials, the decision log in SQLite
/// with a short queue, the risk engine on (its defaults). Returns the config file.
pub fn didgate_files(dir: &Path, port: u16, upstream: u16, issuer: &str) -> Result<PathBuf> {
    std::fs::write(
        dir.join("didgate.cedarschema"),
        include_str!("../../deploy/policies/didgate.cedarschema"),
    )?;
    std::fs::write(dir.join("bench.cedar"), POLICIES)?;
    let config = dir.join("didgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
instance = "bench"

[credentials]
# The signed row's signatures are made before a run starts and must last it.
signature_max_validity_secs = 3600

[identity]
key_file = "gateway-key.jwk"

# All of the load comes from one address (wrk on 127.0.0.1), as it would
# from a load balancer: the soak opens a few hundred connections, more than
# the default 256 per client address.
[server.limits]
max_connections_per_ip = 10000

[[credentials.trusted_issuers]]
credential_type = "{ty}"
issuers = ["{issuer}"]

[policy]
schema = "didgate.cedarschema"
policies = ["bench.cedar"]

[database]
url = "sqlite://didgate.db"

[[route]]
name = "app"
path_prefix = "/"
upstream = "http://127.0.0.1:{upstream}"
"#,
            ty = crate::tokens::CREDENTIAL_TYPE,
        ),
    )?;
    Ok(config)
}

/// The demo's permits for one app. The risk policies are left out: the load
/// is one machine sending thousands of requests a second, which the risk
/// engine rightly finds unusual; it still scores every request.
const POLICIES: &str = r#"@id("employees-read-common")
permit (principal, action in Didgate::Action::"read", resource in Didgate::App::"app")
when {
  context.credential_types.contains("EmployeeCredential") &&
  (resource.path == "/" || resource.path == "/whoami" || resource.path like "/public/*")
};

@id("engineers-read-eng")
permit (principal, action in Didgate::Action::"read", resource in Didgate::App::"app")
when {
  context.credential_types.contains("EmployeeCredential") &&
  resource.path like "/eng/*" &&
  principal.claims has EmployeeCredential.department && principal.claims.EmployeeCredential.department == "eng"
};

@id("admins-write")
permit (principal, action in Didgate::Action::"write", resource)
when {
  context.credential_types.contains("EmployeeCredential") &&
  principal.claims has EmployeeCredential.role && principal.claims.EmployeeCredential.role == "admin"
};

@id("services-read-api")
permit (principal, action in Didgate::Action::"read", resource)
when {
  context.credential_types.contains("ServiceCredential") && resource.path like "/api/*"
};
"#;

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| {
            let text = [o.stdout, o.stderr].concat();
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|_| "unknown".into())
}

pub fn machine(wrk: &Path) -> Result<Machine> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").context("cannot read /proc/cpuinfo")?;
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let rev = first_line("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    Ok(Machine {
        cpu,
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        memory,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        nginx: first_line("nginx", &["-v"]),
        wrk: first_line(&wrk.to_string_lossy(), &["-v"]),
        didgate: format!(
            "{rev}{}",
            if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            }
        ),
    })
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "—".into()
    }
}

pub fn markdown(r: &Report) -> String {
    let o = &r.opts;
    let m = &r.machine;
    let server_cpus = crate::options::cpu_count(&o.server_cpu).unwrap_or(1);
    let client_cpus = crate::options::cpu_count(&o.client_cpu).unwrap_or(1);
    let mut s = String::new();
    let date = time::OffsetDateTime::now_utc();
    let _ = writeln!(s, "{BEGIN}");
    let _ = writeln!(
        s,
        "Run of {:04}-{:02}-{:02} {:02}:{:02} UTC, didgate {}.\n",
        date.year(),
        date.month() as u8,
        date.day(),
        date.hour(),
        date.minute(),
        m.didgate
    );
    let _ = writeln!(
        s,
        "Machine: {} × {}, {}, Linux {}; {}; {}.\n",
        m.cores, m.cpu, m.memory, m.kernel, m.nginx, m.wrk
    );
    let cmd = o
        .command_line
        .clone()
        .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    let _ = writeln!(s, "```sh\n{cmd}\n```\n");
    let _ = writeln!(
        s,
        "Server side (upstream, proxy, auth endpoint) pinned to CPU {} (nginx with {} worker{}), \
         wrk ({} thread{}) to CPU {}. \
         Peak: {} connections, {} s warm-up, {} × {} s per system, repetitions interleaved \
         across systems; medians. Request: `GET /eng/docs`, {}-byte upstream answer.\n",
        o.server_cpu,
        server_cpus,
        if server_cpus == 1 { "" } else { "s" },
        client_cpus,
        if client_cpus == 1 { "" } else { "s" },
        o.client_cpu,
        o.connections,
        o.warmup,
        o.reps,
        o.duration,
        crate::servers::UPSTREAM_BODY.len()
    );
    let (nginx, direct) = (
        rps_of(&r.rows, System::NginxProxy),
        rps_of(&r.rows, System::Direct),
    );
    let _ = writeln!(
        s,
        "| system | req/s | p50 µs | p99 µs | p99.9 µs | vs nginx proxy | vs direct | CPU µs/req | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        let x = &row.summary;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {:.1} | {} |",
            row.system.label(),
            x.rps,
            x.p50,
            x.p99,
            x.p999,
            ratio(x.rps, nginx),
            ratio(x.rps, direct),
            x.cpu_us,
            x.errors
        );
    }
    let _ = writeln!(s);
    let cpu_of = |sys: System| {
        r.rows
            .iter()
            .find(|x| x.system == sys)
            .map(|x| x.summary.cpu_us)
    };
    if let (Some(bare), Some(session)) = (cpu_of(System::BareProxy), cpu_of(System::DidgateSession))
    {
        let _ = writeln!(
            s,
            "**Above the floor**: the bare hyper proxy spends {bare:.1} µs of CPU per request; \
             didgate's session row {:.1} µs more ({session:.1}), against issue 16's target of \
             at most 10 µs above it.\n",
            session - bare
        );
    }
    let _ = writeln!(
        s,
        "CPU µs/req: CPU time of the measured system's own processes per request, from \
         `/proc/PID/task/*/schedstat` around each run (the upstream's share is not counted \
         for the proxies; nginx + auth_request counts nginx and the auth endpoint).\n"
    );
    let _ = writeln!(s, "Each repetition (req/s):\n");
    for row in &r.rows {
        let each: Vec<String> = row.runs.iter().map(|x| format!("{:.0}", x.rps)).collect();
        let _ = writeln!(s, "- {}: {}", row.system.label(), each.join(", "));
    }
    if let Some(t) = &r.two_core {
        shared_cpus(&mut s, r, t);
    }
    let h = &r.half;
    let paced = o.paced.system().label();
    let _ = writeln!(
        s,
        "\n**Added latency at half load** (target {:.0} req/s: half of the peak of {paced}; \
         exponential think time of {} ms mean per connection, {} connections direct and {} through didgate, sized \
         by short calibration runs to reach the target; medians of {} runs):\n",
        h.target_rps,
        crate::options::PACE_MS,
        h.direct_connections,
        h.didgate_connections,
        o.reps
    );
    let _ = writeln!(s, "| | req/s | p50 µs | p99 µs | p99.9 µs | errors |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    paced_rows(
        &mut s,
        &format!("through {paced}"),
        &h.direct,
        &h.didgate,
        "didgate",
    );
    if let Some(f) = &h.floor {
        let _ = writeln!(
            s,
            "| *the floor at the same utilisation: half of the bare proxy's own peak, {:.0} req/s* | | | | | |",
            f.target_rps
        );
        paced_rows(
            &mut s,
            "through the bare proxy",
            &f.direct,
            &f.bare,
            "the bare proxy",
        );
    }
    let _ = writeln!(s);
    match &r.soak {
        Some(k) => {
            let first = k.samples.first().map(|x| x.rss_kib).unwrap_or(0);
            let last = k.samples.last().map(|x| x.rss_kib).unwrap_or(0);
            let max = k.samples.iter().map(|x| x.rss_kib).max().unwrap_or(0);
            let segments = if o.paced == crate::options::Paced::Bearer {
                "; in segments of up to 60 s, each with presentations made just before it, \
                 the first few seconds of every minute"
            } else {
                ""
            };
            let mib = |kib: u64| kib as f64 / 1024.0;
            let _ = writeln!(
                s,
                "**Memory soak**: {} s of {paced} at 80 % of its peak (target {:.0} req/s with {} \
                 connections, achieved {:.0}; {} requests, {} errors; p99 {:.0} µs{segments}). \
                 didgate's RSS: start {:.1} MiB, end {:.1} MiB, max {:.1} MiB. \
                 Every minute, RSS = anonymous + file-backed (MiB): {}.\n",
                k.secs,
                k.target_rps,
                k.connections,
                k.run.rps,
                k.run.requests,
                k.run.errors,
                k.run.p99,
                mib(first),
                mib(last),
                mib(max),
                k.samples
                    .iter()
                    .filter(|x| x.secs % 60 == 0)
                    .map(|x| format!(
                        "{}m {:.1} = {:.1} + {:.1}",
                        x.secs / 60,
                        mib(x.rss_kib),
                        mib(x.anon_kib),
                        mib(x.file_kib)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        None => {
            let _ = writeln!(s, "Memory soak: skipped (`--soak-secs 0`).\n");
        }
    }
    targets(&mut s, r);
    let _ = writeln!(s, "{END}");
    s
}

/// The open targets (issue 16's hot path, issue 17's signed requests),
/// checked against this run.
fn targets(s: &mut String, r: &Report) {
    let get = |sys: System| r.rows.iter().find(|x| x.system == sys).map(|x| &x.summary);
    let (Some(session), Some(nginx), Some(auth)) = (
        get(System::DidgateSession),
        get(System::NginxProxy),
        get(System::NginxAuthRequest),
    ) else {
        return;
    };
    let mark = |ok: bool| if ok { "met" } else { "**missed**" };
    let _ = writeln!(s, "**Targets** (issues 16 and 17), from this run:\n");
    let _ = writeln!(s, "| target | this run | |");
    let _ = writeln!(s, "|---|---:|---|");
    if let Some(bare) = get(System::BareProxy) {
        let above = session.cpu_us - bare.cpu_us;
        let _ = writeln!(
            s,
            "| session CPU/request ≤ bare proxy's + 10 µs | {:.1} µs = {:.1} + {above:.1} | {} |",
            session.cpu_us,
            bare.cpu_us,
            mark(above <= 10.0)
        );
    }
    let vs_nginx = session.rps / nginx.rps.max(1.0);
    let vs_auth = session.rps / auth.rps.max(1.0);
    let _ = writeln!(
        s,
        "| sessions ≥ 0.65× nginx plain proxy (req/s) | {vs_nginx:.2}× | {} |",
        mark(vs_nginx >= 0.65)
    );
    let _ = writeln!(
        s,
        "| sessions ≥ 4× nginx + auth_request (req/s) | {vs_auth:.2}× | {} |",
        mark(vs_auth >= 4.0)
    );
    if r.opts.paced == crate::options::Paced::Session {
        let h = &r.half;
        let (p50, p99) = (h.didgate.p50 - h.direct.p50, h.didgate.p99 - h.direct.p99);
        let floor = |f: fn(&Run) -> f64| {
            h.floor.as_ref().map_or(String::new(), |x| {
                format!(
                    " (the bare proxy at half its own peak: {:.0} µs)",
                    f(&x.bare) - f(&x.direct)
                )
            })
        };
        let _ = writeln!(
            s,
            "| added p50 at half load < 150 µs | {p50:.0} µs{} | {} |",
            floor(|r| r.p50),
            mark(p50 < 150.0)
        );
        let _ = writeln!(
            s,
            "| added p99 at half load < 1 ms | {p99:.0} µs{} | {} |",
            floor(|r| r.p99),
            mark(p99 < 1000.0)
        );
    }
    if let (Some(hit), Some(sig)) = (get(System::DidgateBearerHit), r.signature_check_us) {
        let bound = sig + session.cpu_us;
        let _ = writeln!(
            s,
            "| bearer cache hit CPU/request ≤ one Ed25519 check + the session row's | {:.1} µs vs {sig:.1} + {:.1} = {bound:.1} µs | {} |",
            hit.cpu_us,
            session.cpu_us,
            mark(hit.cpu_us <= bound)
        );
    }
    if let Some(signed) = get(System::DidgateSigned) {
        let vs_session = signed.rps / session.rps.max(1.0);
        let _ = writeln!(
            s,
            "| signed requests ≥ 0.7× sessions (req/s; issue 17) | {vs_session:.2}× | {} |",
            mark(vs_session >= 0.7)
        );
    }
    if let Some(k) = &r.soak {
        let first = k.samples.first().map(|x| x.rss_kib).unwrap_or(0) as f64 / 1024.0;
        let last = k.samples.last().map(|x| x.rss_kib).unwrap_or(0) as f64 / 1024.0;
        // Flat: the last sample within 10 % of the one at the first minute
        // (the first minute fills caches and pools).
        let minute = k
            .samples
            .iter()
            .find(|x| x.secs >= 60)
            .map(|x| x.rss_kib as f64 / 1024.0)
            .unwrap_or(first);
        let flat = last <= minute * 1.1 && k.run.errors == 0;
        let _ = writeln!(
            s,
            "| soak at 80 % of peak: RSS flat, no errors | {first:.1} → {last:.1} MiB (minute 1: {minute:.1}), {} errors | {} |",
            k.run.errors,
            mark(flat)
        );
    }
    if let Some(sig) = r.signature_check_us {
        let _ = writeln!(
            s,
            "\nOne Ed25519 signature check: {sig:.1} µs on this machine in this run (the fastest \
             of five rounds of {SIGNATURE_CHECKS} verifications, in the harness's process)."
        );
    }
    let _ = writeln!(s);
}

/// Verifications per round of [`signature_check_us`].
pub const SIGNATURE_CHECKS: u32 = 2000;

/// The CPU time of one Ed25519 signature check (`verify_strict` over a
/// 300-byte message, as the gateway verifies a presentation), in µs: the
/// fastest of five rounds, so that a busy moment does not inflate it.
pub fn signature_check_us() -> Result<f64> {
    let key = credentials::SigningKey::generate(credentials::KeyType::Ed25519);
    let public = key.public_key();
    let message = [0x5a_u8; 300];
    let signature = key.sign(&message);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        for _ in 0..SIGNATURE_CHECKS {
            public
                .verify_jose("EdDSA", std::hint::black_box(&message), &signature)
                .map_err(|e| anyhow::anyhow!("the benchmark's own signature: {e}"))?;
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(SIGNATURE_CHECKS));
    }
    Ok(best)
}

/// One paced comparison's rows: the upstream alone, the same load through
/// a proxy, and what the proxy adds to each percentile.
fn paced_rows(s: &mut String, through: &str, direct: &Run, proxied: &Run, added_by: &str) {
    for (name, x) in [("upstream direct", direct), (through, proxied)] {
        let _ = writeln!(
            s,
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            x.rps, x.p50, x.p99, x.p999, x.errors
        );
    }
    let _ = writeln!(
        s,
        "| **added by {added_by}** | | **{:.0}** | **{:.0}** | {:.0} | |",
        proxied.p50 - direct.p50,
        proxied.p99 - direct.p99,
        proxied.p999 - direct.p999
    );
}

/// Replace the harness's section of `path` (between its markers), or append it.
pub fn write_section(path: &Path, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!(
                "{}{}{}",
                &old[..b],
                section.trim_end(),
                &old[e + END.len()..]
            )
        }
        _ => format!("{}\n{section}", old.trim_end()),
    };
    std::fs::write(path, new).with_context(|| format!("cannot write {}", path.display()))
}

/// `sys`'s median req/s among `rows`; 0 when it was not measured.
pub fn rps_of(rows: &[Row], sys: System) -> f64 {
    rows.iter()
        .find(|x| x.system == sys)
        .map(|x| x.summary.rps)
        .unwrap_or(0.0)
}

/// The table of the run with every core shared: each row against nginx on
/// the same cores and against its own one-core figure.
fn shared_cpus(s: &mut String, r: &Report, t: &SharedCpus) {
    let n = crate::options::cpu_count(&t.cpus).unwrap_or(1);
    let _ = writeln!(
        s,
        "\n**Sharing CPU {} ({n} cores)**: the upstream, the proxy and wrk ({n} threads) all on \
         the same cores, nginx with {n} workers and didgate with one runtime worker per core, \
         as a deployment on this machine would run; {} × {} s per system, medians.\n",
        t.cpus, r.opts.reps, r.opts.duration
    );
    let nginx = rps_of(&t.rows, System::NginxProxy);
    let _ = writeln!(
        s,
        "| system | req/s | p50 µs | p99 µs | vs nginx proxy | vs its one-core row | CPU µs/req | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in t.rows.iter().filter(|x| !x.runs.is_empty()) {
        let x = &row.summary;
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.1} | {} |",
            row.system.label(),
            x.rps,
            x.p50,
            x.p99,
            ratio(x.rps, nginx),
            ratio(x.rps, rps_of(&r.rows, row.system)),
            x.cpu_us,
            x.errors
        );
    }
    let _ = writeln!(s);
}

#[cfg(test)]
mod tests {
    use super::RssSample;

    #[test]
    fn an_rss_sample_splits_anonymous_and_file_backed_memory() {
        let status = "Name:\tdidgate\nVmRSS:\t  230000 kB\nRssAnon:\t  180000 kB\n\
                      RssFile:\t   49000 kB\nRssShmem:\t    1000 kB\n";
        assert_eq!(
            RssSample::parse(60, status),
            Some(RssSample {
                secs: 60,
                rss_kib: 230_000,
                anon_kib: 180_000,
                file_kib: 49_000,
            })
        );
        assert_eq!(RssSample::parse(0, "Name:\tgone\n"), None);
    }
}
