//! The harness: start every system on this machine, drive each with wrk the
//! same way, repeat, and write the medians to bench/RESULTS.md.
//!
//! Pinning: everything on the server side (the upstream, the proxy under
//! test, nginx's auth endpoint) runs on `--server-cpu`; wrk runs on
//! `--client-cpu`. Every system gets the same split, so "direct" is the
//! upstream alone on the server core and each proxy shares that core with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::options::{Opts, PACE_MS};
use crate::report::{self, HalfLoad, Report, Row, Soak};
use crate::systems::{Run, System};
use crate::tokens::{self, Cache, Population};

/// The path every system is asked for (allowed by the bench policy).
const PATH: &str = "/eng/docs";
/// How many holders present credentials in the bearer rows.
const HOLDERS: usize = 64;
/// The soak runs in segments this long, each with fresh presentations.
const SOAK_SEGMENT_SECS: u64 = 60;
/// Short paced runs that size the connection count before a paced run.
const CALIBRATION_ROUNDS: usize = 3;

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn spawn(
        name: &'static str,
        cpu: &str,
        program: &Path,
        args: &[&str],
        logs: &Path,
    ) -> Result<Self> {
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = Command::new("taskset")
            .arg("-c")
            .arg(cpu)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        Ok(Self { name, child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited early ({status}); see its log in the work directory",
                self.name
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `N` distinct free ports: every listener is held until all are chosen.
/// Ports taken one at a time can repeat (each is free again once its
/// listener closes), and two servers given one port would answer each
/// other's checks: a run once probed nginx's auth_request port as didgate's
/// and failed with its 401, before didgate had even started.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ports = [0u16; N];
    for (port, l) in ports.iter_mut().zip(&listeners) {
        *port = l.local_addr()?.port();
    }
    Ok(ports)
}

/// What a server answered: its status code and the text of the answer (the
/// head and the start of the body), kept to say why a check failed.
struct Answer {
    status: u16,
    text: String,
}

/// One HTTP/1.1 request over a fresh connection.
fn http_status(port: u16, path: &str, header: Option<(&str, &str)>) -> Result<Answer> {
    http_status_with(port, path, header.as_slice())
}

/// [`http_status`] with any number of headers.
fn http_status_with(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<Answer> {
    let mut s = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP answer from port {port}: {:.80}", text))?;
    Ok(Answer { status, text })
}

fn wait_ready(proc: &mut Proc, port: u16, path: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        proc.check_alive()?;
        if http_status(port, path, None).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} did not answer on port {port} within 60 s", proc.name);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn which(program: &str) -> Result<PathBuf> {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{program} is not installed: run bench/run.sh, which installs it from Debian's packages")
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Everything started: ports and processes.
struct Stack {
    upstream: u16,
    bare_proxy: u16,
    nginx_proxy: u16,
    nginx_auth: u16,
    didgate: u16,
    session: String,
    /// didgate session cookies, one per line.
    session_cookies: PathBuf,
    didgate_proc: Proc,
    upstream_pid: u32,
    bare_pid: u32,
    nginx_pid: u32,
    authz_pid: u32,
    _others: Vec<Proc>,
    population: Population,
}

impl Stack {
    fn port(&self, s: System) -> u16 {
        match s {
            System::Direct => self.upstream,
            System::BareProxy => self.bare_proxy,
            System::NginxProxy => self.nginx_proxy,
            System::NginxAuthRequest => self.nginx_auth,
            System::DidgateSession
            | System::DidgateBearerHit
            | System::DidgateBearerMiss
            | System::DidgateSigned => self.didgate,
        }
    }

    /// The processes that do `s`'s work: nginx's master and its workers;
    /// the auth endpoint as well for auth_request.
    fn pids(&self, s: System) -> Vec<u32> {
        let nginx = || {
            let mut v = vec![self.nginx_pid];
            v.extend(children(self.nginx_pid));
            v
        };
        match s {
            System::Direct => vec![self.upstream_pid],
            System::BareProxy => vec![self.bare_pid],
            System::NginxProxy => nginx(),
            System::NginxAuthRequest => {
                let mut v = nginx();
                v.push(self.authz_pid);
                v
            }
            System::DidgateSession
            | System::DidgateBearerHit
            | System::DidgateBearerMiss
            | System::DidgateSigned => vec![self.didgate_proc.pid()],
        }
    }

    fn audience(&self) -> String {
        format!("http://127.0.0.1:{}", self.didgate)
    }
}

fn start(opts: &Opts, work: &Path, me: &Path, didgate: &Path, nginx: &Path) -> Result<Stack> {
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let cpu = opts.server_cpu.as_str();
    let [upstream, authz, nginx_proxy, nginx_auth, didgate_port, bare_port] = free_ports()?;

    let mut up = Proc::spawn(
        "upstream",
        cpu,
        me,
        &["upstream", "--listen", &format!("127.0.0.1:{upstream}")],
        &logs,
    )?;
    wait_ready(&mut up, upstream, PATH)?;

    let mut bare = Proc::spawn(
        "bare-proxy",
        cpu,
        me,
        &[
            "bare-proxy",
            "--listen",
            &format!("127.0.0.1:{bare_port}"),
            "--upstream",
            &format!("127.0.0.1:{upstream}"),
        ],
        &logs,
    )?;
    wait_ready(&mut bare, bare_port, PATH)?;

    // The auth_request endpoint knows 1,000 sessions; the load presents one.
    let sessions: Vec<String> = (0..1000)
        .map(|i| format!("s{i:04}-{}", unix_now()))
        .collect();
    let sessions_file = work.join("sessions.txt");
    std::fs::write(&sessions_file, sessions.join("\n"))?;
    let session = sessions[500].clone();
    let mut az = Proc::spawn(
        "authz",
        cpu,
        me,
        &[
            "authz",
            "--listen",
            &format!("127.0.0.1:{authz}"),
            "--sessions",
            &sessions_file.to_string_lossy(),
        ],
        &logs,
    )?;
    wait_ready(&mut az, authz, "/")?;

    let ngx_dir = work.join("nginx");
    std::fs::create_dir_all(ngx_dir.join("tmp"))?;
    let conf = ngx_dir.join("nginx.conf");
    std::fs::write(
        &conf,
        report::nginx_conf(
            &ngx_dir,
            crate::options::cpu_count(cpu)?,
            upstream,
            authz,
            nginx_proxy,
            nginx_auth,
        ),
    )?;
    let mut ngx = Proc::spawn(
        "nginx",
        cpu,
        nginx,
        &[
            "-p",
            &ngx_dir.to_string_lossy(),
            "-c",
            &conf.to_string_lossy(),
            "-g",
            "daemon off;",
        ],
        &logs,
    )?;
    wait_ready(&mut ngx, nginx_proxy, PATH)?;

    let population = Population::new(HOLDERS, unix_now())?;
    let dg_dir = work.join("didgate");
    if dg_dir.exists() {
        std::fs::remove_dir_all(&dg_dir)?;
    }
    std::fs::create_dir_all(&dg_dir)?;
    let config = report::didgate_files(&dg_dir, didgate_port, upstream, &population.issuer.did)?;
    let mut dg = Proc::spawn(
        "didgate",
        cpu,
        didgate,
        &["serve", "-c", &config.to_string_lossy()],
        &logs,
    )?;
    wait_ready(&mut dg, didgate_port, crate::report::HEALTH)?;

    // Each system answers the request it will be measured with.
    let expect = |name: &str, got: Answer, want: u16| -> Result<()> {
        if got.status != want {
            bail!(
                "{name} answered {} instead of {want}; see the logs in {}. The answer:\n{:.1200}",
                got.status,
                logs.display(),
                got.text
            );
        }
        Ok(())
    };
    expect("upstream", http_status(upstream, PATH, None)?, 200)?;
    expect("bare proxy", http_status(bare_port, PATH, None)?, 200)?;
    expect("nginx proxy", http_status(nginx_proxy, PATH, None)?, 200)?;
    let cookie = format!("session={session}");
    expect(
        "nginx auth_request",
        http_status(nginx_auth, PATH, Some(("Cookie", &cookie)))?,
        200,
    )?;
    expect(
        "nginx auth_request without a session",
        http_status(nginx_auth, PATH, None)?,
        401,
    )?;
    let health = http_status(didgate_port, crate::report::HEALTH, None)?;
    if !health.text.contains("\"policy_set\"") {
        bail!(
            "port {didgate_port} did not answer as didgate's health endpoint: {:.400}",
            health.text
        );
    }
    expect("didgate's health endpoint", health, 200)?;
    let probe = work.join("probe.txt");
    tokens::write(
        &population,
        Cache::Hit,
        &format!("http://127.0.0.1:{didgate_port}"),
        1,
        unix_now(),
        tokens::VP_LIFETIME_SECS,
        &probe,
    )?;
    let vp = std::fs::read_to_string(&probe)?;
    let bearer = format!("Bearer {}", vp.lines().next().unwrap_or_default());
    expect(
        "didgate",
        http_status(didgate_port, PATH, Some(("Authorization", &bearer)))?,
        200,
    )?;
    expect(
        "didgate without a credential",
        http_status(didgate_port, PATH, None)?,
        401,
    )?;
    // Every holder logs in once, as a browser and its wallet do.
    let session_cookies = work.join("sessions.cookies");
    let t = Instant::now();
    let n = crate::login::write(didgate_port, &population, unix_now(), &session_cookies)?;
    println!("  {n} browser logins in {:.1} s", t.elapsed().as_secs_f64());
    let first = std::fs::read_to_string(&session_cookies)?;
    expect(
        "didgate with a session",
        http_status(
            didgate_port,
            PATH,
            Some(("Cookie", first.lines().next().unwrap_or_default())),
        )?,
        200,
    )?;

    // Every holder, as a service, presents its credential once with a
    // signed request; the signed row's requests then carry signatures only.
    let t = Instant::now();
    for (i, (holder, vc)) in population.holders.iter().enumerate() {
        let (input, signature, vp) = crate::signed::presenting(
            holder,
            vc,
            &format!("http://127.0.0.1:{didgate_port}"),
            &format!("http://127.0.0.1:{didgate_port}{PATH}"),
            unix_now(),
        )?;
        expect(
            &format!("didgate, signed request with credentials (service {i})"),
            http_status_with(
                didgate_port,
                PATH,
                &[
                    ("Signature-Input", &input),
                    ("Signature", &signature),
                    ("X-Didgate-Presentation", &vp),
                ],
            )?,
            200,
        )?;
    }
    println!(
        "  {} services presented credentials in {:.1} s",
        population.holders.len(),
        t.elapsed().as_secs_f64()
    );

    Ok(Stack {
        upstream,
        bare_proxy: bare_port,
        nginx_proxy,
        nginx_auth,
        didgate: didgate_port,
        session,
        session_cookies,
        didgate_proc: dg,
        upstream_pid: up.pid(),
        bare_pid: bare.pid(),
        nginx_pid: ngx.pid(),
        authz_pid: az.pid(),
        _others: vec![ngx, az, bare, up],
        population,
    })
}

struct Driver<'a> {
    opts: &'a Opts,
    work: PathBuf,
    wrk: PathBuf,
    load_lua: PathBuf,
    stack: &'a Stack,
    log: std::fs::File,
    /// The next bearer run uses the presentations already written.
    tokens_ready: bool,
}

impl Driver<'_> {
    /// Enough fresh presentations for a run of `secs` at `rps`, with a margin.
    fn prepare(&mut self, cache: Cache, rps: f64, secs: u64) -> Result<()> {
        let count = (rps * secs as f64 * 1.4) as usize + 2_000;
        let file = self.work.join("tokens.txt");
        let t = Instant::now();
        tokens::write(
            &self.stack.population,
            cache,
            &self.stack.audience(),
            count,
            unix_now(),
            tokens::lifetime_for(secs),
            &file,
        )?;
        writeln!(
            self.log,
            "  generated {count} presentations in {:.1} s",
            t.elapsed().as_secs_f64()
        )?;
        Ok(())
    }

    /// Enough freshly signed requests for a run of `secs` at `rps`, with a
    /// margin (each nonce is accepted once).
    fn prepare_signed(&mut self, file: &Path, rps: f64, secs: u64) -> Result<()> {
        let count = (rps * secs as f64 * 1.4) as usize + 2_000;
        let t = Instant::now();
        crate::signed::write(
            &self.stack.population,
            &format!("http://127.0.0.1:{}{PATH}", self.stack.didgate),
            count,
            unix_now(),
            crate::signed::validity_for(secs),
            file,
        )?;
        writeln!(
            self.log,
            "  signed {count} requests in {:.1} s",
            t.elapsed().as_secs_f64()
        )?;
        Ok(())
    }

    /// The connection count at which paced runs of `sys` reach `target`
    /// req/s. wrk's think time is a closed loop: each connection sends
    /// 1000 / (mean think + latency) requests a second, and the latency is what is
    /// being measured. So start from the think time alone and rescale by
    /// what short runs achieve until one lands within 5 % of the target.
    fn calibrate(&mut self, sys: System, target: f64) -> Result<u32> {
        let secs = self.opts.duration.clamp(1, 3);
        let mut conns = ((target * PACE_MS as f64 / 1000.0).round() as u32).max(1);
        for _ in 0..CALIBRATION_ROUNDS {
            let r = self.run(sys, secs, conns, true, target)?;
            if r.errors > 0 {
                bail!(
                    "{} requests failed while calibrating {} (see {}/wrk.log)",
                    r.errors,
                    sys.label(),
                    self.work.display()
                );
            }
            let ratio = target / r.rps.max(1.0);
            if (0.95..=1.05).contains(&ratio) {
                break;
            }
            conns = ((f64::from(conns) * ratio).round() as u32).clamp(1, 4096);
        }
        Ok(conns)
    }

    /// One wrk run against `sys` (`pace`: with the think time, `PACE_MS`).
    fn run(
        &mut self,
        sys: System,
        secs: u64,
        conns: u32,
        pace: bool,
        expected_rps: f64,
    ) -> Result<Run> {
        let mut args: Vec<String> = vec![
            "-c".into(),
            self.opts.client_cpu.clone(),
            self.wrk.to_string_lossy().into_owned(),
            format!("-t{}", crate::options::cpu_count(&self.opts.client_cpu)?),
            format!("-c{conns}"),
            format!("-d{secs}s"),
            "--timeout".into(),
            "5s".into(),
            "-s".into(),
            self.load_lua.to_string_lossy().into_owned(),
            format!("http://127.0.0.1:{}{PATH}", self.stack.port(sys)),
            "--".into(),
        ];
        match (sys, sys.bearer()) {
            (_, Some(cache)) => {
                let file = self.work.join("tokens.txt");
                if !std::mem::take(&mut self.tokens_ready) {
                    self.prepare(cache, expected_rps, secs)?;
                }
                args.push("bearer".into());
                args.push(file.to_string_lossy().into_owned());
            }
            (System::DidgateSigned, None) => {
                let file = self.work.join("signatures.txt");
                self.prepare_signed(&file, expected_rps, secs)?;
                args.push("signed".into());
                args.push(file.to_string_lossy().into_owned());
            }
            (System::NginxAuthRequest, None) => {
                args.push("cookie".into());
                args.push(self.stack.session.clone());
            }
            (System::DidgateSession, None) => {
                args.push("sessions".into());
                args.push(self.stack.session_cookies.to_string_lossy().into_owned());
            }
            _ => {
                args.push("plain".into());
                args.push("-".into());
            }
        }
        if pace {
            args.push(PACE_MS.to_string());
        }
        // Let the previous run's work (decision-log writes, sockets) settle.
        std::thread::sleep(Duration::from_secs(2));
        let pids = self.stack.pids(sys);
        let cpu_before = cpu_ns(&pids);
        let out = Command::new("taskset")
            .args(&args)
            .output()
            .context("cannot run wrk")?;
        let cpu = cpu_ns(&pids).saturating_sub(cpu_before);
        let stdout = String::from_utf8_lossy(&out.stdout);
        writeln!(
            self.log,
            "$ taskset {}\n{stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )?;
        let json = stdout
            .lines()
            .find_map(|l| l.strip_prefix("JSON "))
            .with_context(|| format!("wrk printed no result: {stdout}"))?;
        let v: Value = serde_json::from_str(json)?;
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let secs = n("duration_us") / 1e6;
        let run = Run {
            rps: if secs > 0.0 {
                n("requests") / secs
            } else {
                0.0
            },
            requests: n("requests") as u64,
            errors: ["connect", "read", "write", "status", "timeout"]
                .iter()
                .map(|k| n(k) as u64)
                .sum(),
            p50: n("p50"),
            p99: n("p99"),
            p999: n("p999"),
            cpu_us: 0.0,
        };
        let run = Run {
            cpu_us: if run.requests > 0 {
                cpu as f64 / 1e3 / run.requests as f64
            } else {
                0.0
            },
            ..run
        };
        println!(
            "  {:<48} {:>9.0} req/s  p50 {:>7.0} µs  p99 {:>7.0} µs  p99.9 {:>7.0} µs  \
             CPU {:>6.1} µs/req  errors {}",
            sys.label(),
            run.rps,
            run.p50,
            run.p99,
            run.p999,
            run.cpu_us,
            run.errors
        );
        Ok(run)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn summarize(runs: &[Run]) -> Run {
    Run {
        rps: median(runs.iter().map(|r| r.rps).collect()),
        requests: runs.iter().map(|r| r.requests).sum(),
        errors: runs.iter().map(|r| r.errors).sum(),
        p50: median(runs.iter().map(|r| r.p50).collect()),
        p99: median(runs.iter().map(|r| r.p99).collect()),
        p999: median(runs.iter().map(|r| r.p999).collect()),
        cpu_us: median(runs.iter().map(|r| r.cpu_us).collect()),
    }
}

/// Child processes of `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Nanoseconds on a CPU so far, summed over every thread of `pids`
/// (`/proc/PID/task/TID/schedstat`, first field).
fn cpu_ns(pids: &[u32]) -> u64 {
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            total += std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

fn rss_sample(pid: u32, secs: u64) -> Option<report::RssSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    report::RssSample::parse(secs, &status)
}

/// The rows measured again with the servers and wrk sharing every core.
const SHARED_CPU_ROWS: [System; 3] = [
    System::BareProxy,
    System::NginxProxy,
    System::DidgateSession,
];

/// Peak throughput of the systems `measured` picks: a warm-up each, then the
/// repetitions interleaved across systems so that drift on a noisy machine
/// touches every system alike. Every system has a row; those not measured
/// have no runs.
fn peaks(d: &mut Driver<'_>, measured: impl Fn(&System) -> bool) -> Result<Vec<Row>> {
    let opts = d.opts;
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); System::ALL.len()];
    let mut expected = [20_000.0f64; System::ALL.len()];
    println!(
        "==> warm-up ({} s each, {} connections)",
        opts.warmup, opts.connections
    );
    for (i, sys) in System::ALL
        .into_iter()
        .enumerate()
        .filter(|(_, s)| measured(s))
    {
        let w = d.run(sys, opts.warmup, opts.connections, false, expected[i])?;
        expected[i] = w.rps.max(1_000.0);
    }
    for rep in 1..=opts.reps {
        println!(
            "==> repetition {rep}/{} ({} s each)",
            opts.reps, opts.duration
        );
        for (i, sys) in System::ALL
            .into_iter()
            .enumerate()
            .filter(|(_, s)| measured(s))
        {
            let r = d.run(sys, opts.duration, opts.connections, false, expected[i])?;
            expected[i] = expected[i].max(r.rps);
            runs[i].push(r);
        }
    }
    Ok(System::ALL
        .into_iter()
        .zip(&runs)
        .map(|(system, r)| Row {
            system,
            summary: summarize(r),
            runs: r.clone(),
        })
        .collect())
}

/// The upstream alone and `sys`, each paced at `target` req/s (connection
/// counts calibrated to reach it), `reps` runs each, interleaved: the
/// connection counts (direct, through `sys`) and the two summaries.
fn paced_beside_direct(
    d: &mut Driver<'_>,
    sys: System,
    target: f64,
) -> Result<(u32, u32, Run, Run)> {
    let (reps, secs) = (d.opts.reps, d.opts.duration);
    let direct_conns = d.calibrate(System::Direct, target)?;
    let sys_conns = d.calibrate(sys, target)?;
    println!(
        "  connections: direct {direct_conns}, {} {sys_conns}",
        sys.label()
    );
    let mut direct = Vec::new();
    let mut through = Vec::new();
    for _ in 0..reps {
        direct.push(d.run(System::Direct, secs, direct_conns, true, target)?);
        through.push(d.run(sys, secs, sys_conns, true, target)?);
    }
    Ok((
        direct_conns,
        sys_conns,
        summarize(&direct),
        summarize(&through),
    ))
}

pub fn run(opts: Opts) -> Result<()> {
    let didgate = std::fs::canonicalize(&opts.didgate).with_context(|| {
        format!(
            "{} not found: build it with `cargo build --release`",
            opts.didgate.display()
        )
    })?;
    crate::options::cpu_count(&opts.server_cpu).context("--server-cpu")?;
    crate::options::cpu_count(&opts.client_cpu).context("--client-cpu")?;
    let shared_cpus = match &opts.shared_cpus {
        Some(list) if list.is_empty() => None,
        Some(list) => {
            crate::options::cpu_count(list).context("--shared-cpus")?;
            Some(list.clone())
        }
        None => std::thread::available_parallelism()
            .ok()
            .map(|n| n.get())
            .filter(|n| *n >= 2)
            .map(|n| format!("0-{}", n - 1)),
    };
    let nginx = which("nginx")?;
    let wrk = which("wrk")?;
    which("taskset")?;
    let me = std::env::current_exe()?;
    std::fs::create_dir_all(&opts.work)?;
    let work = std::fs::canonicalize(&opts.work)?;
    let load_lua = work.join("load.lua");
    std::fs::write(&load_lua, include_str!("../wrk/load.lua"))?;

    println!(
        "==> starting the upstream, nginx, the auth endpoint and didgate on CPU {}",
        opts.server_cpu
    );
    let mut stack = start(&opts, &work, &me, &didgate, &nginx)?;
    let log = std::fs::File::create(work.join("wrk.log"))?;
    let mut d = Driver {
        opts: &opts,
        work: work.clone(),
        wrk,
        load_lua,
        stack: &stack,
        log,
        tokens_ready: false,
    };

    println!("  didgate's pid: {}", stack.didgate_proc.pid());
    let measured = |sys: &System| opts.only.is_empty() || opts.only.contains(sys);
    let rows = peaks(&mut d, measured)?;
    if !opts.only.is_empty() {
        println!("==> --only: no half load, no soak, no report");
        return Ok(());
    }
    let paced = opts.paced.system();
    let peak = report::rps_of(&rows, paced);

    // Added latency at half of didgate's peak: the same paced load on the
    // upstream alone and through didgate.
    let target = peak / 2.0;
    println!(
        "==> half load: {target:.0} req/s target ({PACE_MS} ms mean think time per connection)"
    );
    let (direct_conns, didgate_conns, direct, through) =
        paced_beside_direct(&mut d, paced, target)?;
    // The floor at the same utilisation: the bare proxy at half of its own
    // peak (sharing its core with the upstream as didgate does), so that the
    // latency a busy core adds is told apart from what didgate's work adds.
    let bare_peak = report::rps_of(&rows, System::BareProxy);
    let floor = if bare_peak > 0.0 {
        let target = bare_peak / 2.0;
        println!("==> the floor at half load: the bare proxy at {target:.0} req/s");
        let (_, _, direct, bare) = paced_beside_direct(&mut d, System::BareProxy, target)?;
        Some(report::FloorHalf {
            target_rps: target,
            direct,
            bare,
        })
    } else {
        None
    };
    let half = HalfLoad {
        target_rps: target,
        direct_connections: direct_conns,
        didgate_connections: didgate_conns,
        direct,
        didgate: through,
        floor,
    };

    // Memory: RSS over a long run at 80 % of the peak.
    let soak = if opts.soak_secs > 0 {
        let target = peak * 0.8;
        println!(
            "==> soak: {} s at {target:.0} req/s target; RSS every 10 s",
            opts.soak_secs
        );
        let conns = d.calibrate(paced, target)?;
        println!("  connections: {conns}");
        let pid = stack.didgate_proc.pid();
        let samples = std::sync::Mutex::new(Vec::new());
        let done = std::sync::atomic::AtomicBool::new(false);
        let soak_secs = opts.soak_secs;
        let run = std::thread::scope(|s| {
            s.spawn(|| {
                let start = Instant::now();
                let mut next = Duration::ZERO;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(sample) = rss_sample(pid, start.elapsed().as_secs()) {
                        if start.elapsed() >= next {
                            if let Ok(mut v) = samples.lock() {
                                v.push(sample);
                            }
                            next += Duration::from_secs(10);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            // In segments, each with presentations made just before it: one
            // file for the whole run would need presentations that outlive
            // it, and the gateway keeps every presentation's id until it
            // expires, so the replay cache would grow for the whole run (and
            // overflow: 600 s at 4,800 req/s is 2.9 million ids against a
            // default capacity of 1 million, refused as replay_cache_full).
            let mut segments = Vec::new();
            let mut left = soak_secs;
            let r = loop {
                if left == 0 {
                    break Ok(summarize(&segments));
                }
                let secs = left.min(SOAK_SEGMENT_SECS);
                left -= secs;
                if let Some(cache) = paced.bearer() {
                    if let Err(e) = d.prepare(cache, target, secs) {
                        break Err(e);
                    }
                    d.tokens_ready = true;
                }
                match d.run(paced, secs, conns, true, target) {
                    Ok(run) => segments.push(run),
                    Err(e) => break Err(e),
                }
            };
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            r.map(|run| Run {
                // Over all segments, not the median segment.
                rps: run.requests as f64
                    / segments
                        .iter()
                        .map(|x| x.requests as f64 / x.rps.max(1.0))
                        .sum::<f64>(),
                ..run
            })
        })?;
        let samples = samples.into_inner().unwrap_or_default();
        Some(Soak {
            target_rps: target,
            connections: conns,
            secs: opts.soak_secs,
            run,
            samples,
        })
    } else {
        None
    };
    let machine = report::machine(&d.wrk)?;
    let (wrk, load_lua) = (d.wrk.clone(), d.load_lua.clone());
    stack.didgate_proc.check_alive()?;

    // The same peak with every core shared by the servers and wrk, as a
    // deployment on this machine would run (nginx with one worker per core).
    let two_core = match shared_cpus.as_deref() {
        None => None,
        Some(cpus) => {
            drop(stack);
            let wide = Opts {
                server_cpu: cpus.to_owned(),
                client_cpu: cpus.to_owned(),
                ..opts.clone()
            };
            println!("==> the servers and wrk sharing CPU {cpus}");
            let mut stack = start(&wide, &work, &me, &didgate, &nginx)?;
            let mut d = Driver {
                opts: &wide,
                work: work.clone(),
                wrk,
                load_lua,
                stack: &stack,
                log: std::fs::File::options()
                    .append(true)
                    .open(work.join("wrk.log"))?,
                tokens_ready: false,
            };
            let rows = peaks(&mut d, |s| SHARED_CPU_ROWS.contains(s))?;
            stack.didgate_proc.check_alive()?;
            Some(report::SharedCpus {
                cpus: cpus.to_owned(),
                rows,
            })
        }
    };

    let rep = Report {
        opts: opts.clone(),
        rows,
        half,
        soak,
        two_core,
        machine,
        signature_check_us: Some(report::signature_check_us()?),
    };
    let text = report::markdown(&rep);
    report::write_section(&opts.out, &text)?;
    println!("==> results written to {}", opts.out.display());
    let errors: u64 = rep.rows.iter().map(|r| r.summary.errors).sum::<u64>()
        + rep
            .two_core
            .iter()
            .flat_map(|t| &t.rows)
            .map(|r| r.summary.errors)
            .sum::<u64>()
        + rep.half.direct.errors
        + rep.half.didgate.errors
        + rep
            .half
            .floor
            .as_ref()
            .map_or(0, |f| f.direct.errors + f.bare.errors)
        + rep.soak.as_ref().map(|s| s.run.errors).unwrap_or(0);
    if errors > 0 {
        bail!("{errors} requests failed (see {}/wrk.log)", work.display());
    }
    Ok(())
}
