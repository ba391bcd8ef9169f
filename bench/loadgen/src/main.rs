//! `kaudit-loadgen`: benchmark load for kaudit's webhook, loopback only, always bounded.
//!
//!   kaudit-loadgen post --url http://127.0.0.1:PORT/PATH (--corpus FILE | --generate N [--seed S])
//!                       [--batch 400] [--connections 4] [--requests 2000] [--duration 20] [--pid PID]
//!     Posts EventList batches over keep-alive connections; prints a summary on stderr and one JSON
//!     object on stdout (events/s, MB/s, p50/p99 batch latency, the server's peak RSS and CPU time).
//!
//!   kaudit-loadgen bare --listen 127.0.0.1:PORT [--threads 1] [--lifetime 300]
//!     A hyper server that only reads bodies: the transport limit to compare the webhook against.
//!     Prints `listening ADDR` on stdout once bound (port 0 picks a free port).

#![forbid(unsafe_code)]

mod batches;
mod client;
mod procstat;
mod server;
mod stats;
mod target;

use batches::Batches;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage:
  kaudit-loadgen post --url http://127.0.0.1:PORT/PATH (--corpus FILE | --generate N [--seed S])
                      [--batch 400] [--connections 4] [--requests 2000] [--duration 20] [--pid PID]
  kaudit-loadgen bare --listen 127.0.0.1:PORT [--threads 1] [--lifetime 300]";

/// `--key value` pairs after the mode.
struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(k) = it.next() {
            let key = k
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {k:?}"))?;
            let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
            map.insert(key.to_string(), v.clone());
        }
        Ok(Opts(map))
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v:?}")),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("post") => Opts::parse(&args[1..]).and_then(post),
        Some("bare") => Opts::parse(&args[1..]).and_then(bare),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kaudit-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}

fn post(o: Opts) -> Result<ExitCode, String> {
    let target = target::parse(o.str("url").ok_or("--url is required")?)?;
    let batch: usize = o.num("batch", 400)?;
    let corpus = match (o.str("corpus"), o.str("generate")) {
        (Some(path), None) => std::fs::read(path).map_err(|e| format!("{path}: {e}"))?,
        (None, Some(n)) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("--generate: not a number: {n:?}"))?;
            kaudit_corpus::generate(o.num("seed", 1)?, n).data
        }
        _ => return Err("exactly one of --corpus FILE or --generate N is required".into()),
    };
    let batches = Batches::from_json_lines(&corpus, batch);
    if batches.is_empty() {
        return Err("the corpus has no events".into());
    }
    let cfg = client::LoadConfig {
        target: target.clone(),
        connections: o.num("connections", 4)?,
        max_requests: o.num("requests", 2000)?,
        duration: Duration::from_secs_f64(o.num("duration", 20.0)?),
        request_timeout: Duration::from_secs_f64(o.num("timeout", 10.0)?),
        busy_backoff: Duration::from_secs_f64(o.num("busy-backoff-ms", 2.0)? / 1e3),
        max_busy_retries: o.num("max-busy-retries", 5000)?,
    };
    let connections = cfg.connections;
    let pid: Option<u32> = o
        .str("pid")
        .map(|p| p.parse().map_err(|_| format!("--pid: {p:?}")))
        .transpose()?;
    let cpu_before = pid.and_then(procstat::cpu_seconds);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio: {e}"))?;
    let run_start = std::time::Instant::now();
    let mut report = rt.block_on(client::run(cfg, Arc::new(batches)));
    // A webhook may answer before it evaluates: wait until the server's CPU goes idle, so the
    // end-to-end rate counts the events still queued when the last response came back.
    let drained = pid
        .and_then(|p| procstat::wait_idle(p, Duration::from_millis(100), Duration::from_secs(20)));
    let e2e_secs = drained.map(|t| t.duration_since(run_start).as_secs_f64());

    let cpu = match (cpu_before, pid.and_then(procstat::cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let rss = pid.and_then(procstat::peak_rss_kib);
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = ms(stats::percentile(&mut report.latencies, 50.0));
    let p99 = ms(stats::percentile(&mut report.latencies, 99.0));
    let max = ms(stats::percentile(&mut report.latencies, 100.0));
    let eps = report.events as f64 / secs;
    let mbps = report.bytes as f64 / secs / 1e6;
    let per_cpu = cpu.filter(|c| *c > 0.0).map(|c| report.events as f64 / c);
    let eps_e2e = e2e_secs
        .filter(|s| *s > 0.0)
        .map(|s| report.events as f64 / s);
    eprintln!(
        "{} ok / {} failed requests of {batch} events over {connections} connections in {secs:.2} s: \
         {eps:.0} events/s, {mbps:.1} MB/s, batch latency p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms; \
         {} busy (503) answers re-sent",
        report.ok, report.failed, report.busy
    );
    if let (Some(s), Some(e)) = (e2e_secs, eps_e2e) {
        eprintln!("server idle {s:.2} s after the start: {e:.0} events/s end to end");
    }
    if let Some(kib) = rss {
        eprintln!("server peak RSS (VmHWM) {:.1} MiB", kib as f64 / 1024.0);
    }
    if let (Some(c), Some(p)) = (cpu, per_cpu) {
        eprintln!("server CPU {c:.2} s: {p:.0} events per server CPU-second");
    }
    if let Some(e) = &report.first_error {
        eprintln!("first error: {e}");
    }
    let opt = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.3}"));
    println!(
        "{{\"url\":\"http://{}{}\",\"batch\":{batch},\"connections\":{connections},\"requests_ok\":{},\
         \"requests_failed\":{},\"busy_503\":{},\"events\":{},\"bytes\":{},\"seconds\":{secs:.3},\"events_per_sec\":{eps:.1},\"seconds_e2e\":{},\"events_per_sec_e2e\":{},\
         \"mb_per_sec\":{mbps:.3},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"max_ms\":{max:.3},\
         \"server_peak_rss_kib\":{},\"server_cpu_seconds\":{},\"events_per_server_cpu_sec\":{}}}",
        target.authority,
        target.path,
        report.ok,
        report.failed,
        report.busy,
        report.events,
        report.bytes,
        opt(e2e_secs),
        opt(eps_e2e),
        rss.map_or("null".to_string(), |k| k.to_string()),
        opt(cpu),
        opt(per_cpu),
    );
    Ok(if report.failed == 0 && report.ok > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bare(o: Opts) -> Result<ExitCode, String> {
    let listen = o.str("listen").unwrap_or("127.0.0.1:0");
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| format!("--listen: {listen:?}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("--listen {listen}: loopback addresses only"));
    }
    let threads: usize = o.num("threads", 1)?;
    let lifetime = Duration::from_secs_f64(o.num("lifetime", 300.0)?);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .map_err(|e| format!("tokio: {e}"))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("bind {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening {local}");
        server::serve(listener, lifetime).await;
        Ok::<_, String>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
