//! `/metrics` at 10,000 connections (issue 9): render time and memory of [`Metrics`] against the
//! former way, the prometheus crate's `IntGaugeVec`s for the same ~170,000 per-connection series
//! (`keywarden::metrics::labelled_reference`).
//!
//! ```sh
//! cargo run --release --example metrics_render            # both, times and ratio, then RSS of each
//! cargo run --release --example metrics_render -- --new   # peak RSS of Metrics alone
//! cargo run --release --example metrics_render -- --old   # peak RSS of the IntGaugeVecs alone
//! ```
//!
//! Times are the median of 20 renders after one warm-up. Peak RSS (VmHWM) needs a process per
//! approach, so the default run starts itself again with `--new` and `--old`.

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use keywarden::domain::{ExchangeKind, Permissions, Status, Verdict};
use keywarden::metrics::labelled_reference::LabelledConnectionSeries;
use keywarden::metrics::Metrics;

const CONNECTIONS: usize = 10_000;
const RENDERS: usize = 20;

/// Connection `i` of the benchmark's mix: MEXC and KuCoin alternating, as in `bench/`; three
/// in fifty in trouble. The MEXC keys here do not reveal futures rights and expire, the KuCoin
/// keys reveal all four rights and do not expire: 17 series each, 170,000 in all.
fn verdict(i: usize) -> Verdict {
    let (exchange, futures, expires_at) = if i % 2 == 0 {
        let expiry = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        (ExchangeKind::Mexc, None, Some(expiry))
    } else {
        (ExchangeKind::Kucoin, Some(false), None)
    };
    let status = match i % 50 {
        7 => Status::RateLimited,
        21 => Status::InvalidKey,
        42 => Status::WithdrawEnabled,
        _ => Status::Connected,
    };
    Verdict {
        connection: format!("c{i:06}-{}", exchange.name()),
        exchange,
        status,
        permissions: Permissions {
            read: Some(true),
            trade: Some(true),
            withdraw: Some(status == Status::WithdrawEnabled),
            futures,
        },
        ip_restricted: Some(true),
        expires_at,
        latency_ms: 180,
        message: "ok".to_string(),
        remedy: None,
        warnings: Vec::new(),
        // Checks spread over a ten-minute schedule.
        checked_at: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
            + chrono::Duration::seconds((i % 600) as i64),
    }
}

fn verdicts() -> Vec<Verdict> {
    (0..CONNECTIONS).map(verdict).collect()
}

/// Median time of [`RENDERS`] calls of `render` after one warm-up, and the body's size.
fn median_render(render: impl Fn() -> String) -> (Duration, usize) {
    let size = render().len();
    let mut times: Vec<Duration> = (0..RENDERS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(render());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[RENDERS / 2], size)
}

/// This process's peak resident set (VmHWM) in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kb / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `--new` / `--old` run: fill one approach with the verdicts, print peak RSS before and
/// after filling and after one render (a scrape's text and, for the crate, its gathered copy
/// of every series count too).
fn report_rss(approach: &str, fill: impl FnOnce(&[Verdict]) -> Box<dyn Fn() -> String>) {
    let verdicts = verdicts();
    let verdicts_mb = peak_rss_mb();
    let render = fill(&verdicts);
    let filled_mb = peak_rss_mb();
    std::hint::black_box(render());
    let rendered_mb = peak_rss_mb();
    println!(
        "{approach}: peak RSS {verdicts_mb:.1} MB with the verdicts built, {filled_mb:.1} MB \
         filled, {rendered_mb:.1} MB after one render"
    );
}

fn main() {
    let mode = std::env::args().nth(1);
    match mode.as_deref() {
        Some("--new") => report_rss("new (Metrics)", |verdicts| {
            let metrics = Metrics::new();
            verdicts.iter().for_each(|v| metrics.observe(v));
            Box::new(move || metrics.render())
        }),
        Some("--old") => report_rss("old (IntGaugeVec)", |verdicts| {
            let labelled = LabelledConnectionSeries::new();
            verdicts.iter().for_each(|v| labelled.show(v));
            Box::new(move || labelled.render())
        }),
        None => compare(),
        Some(other) => {
            eprintln!("unknown argument {other}: expected --new, --old or nothing");
            std::process::exit(2);
        }
    }
}

/// Both approaches in this process, so the ratio compares like with like; then the RSS runs.
fn compare() {
    let verdicts = verdicts();
    let metrics = Metrics::new();
    let labelled = LabelledConnectionSeries::new();

    let start = Instant::now();
    verdicts.iter().for_each(|v| metrics.observe(v));
    let new_fill = start.elapsed();
    let start = Instant::now();
    verdicts.iter().for_each(|v| labelled.show(v));
    let old_fill = start.elapsed();

    let (new_render, new_size) = median_render(|| metrics.render());
    let (old_render, old_size) = median_render(|| labelled.render());
    println!("{CONNECTIONS} connections, median of {RENDERS} renders");
    println!(
        "new (Metrics):     render {:7.2} ms, body {:5.2} MB (all families), observe {:.2} µs per verdict",
        ms(new_render),
        new_size as f64 / 1e6,
        new_fill.as_secs_f64() * 1e6 / CONNECTIONS as f64
    );
    println!(
        "old (IntGaugeVec): render {:7.2} ms, body {:5.2} MB (per-connection families), set {:.2} µs per verdict",
        ms(old_render),
        old_size as f64 / 1e6,
        old_fill.as_secs_f64() * 1e6 / CONNECTIONS as f64
    );
    println!(
        "old / new render time: {:.1}x",
        old_render.as_secs_f64() / new_render.as_secs_f64()
    );

    let exe = std::env::current_exe().expect("path of this example");
    for flag in ["--new", "--old"] {
        let out = Command::new(&exe)
            .arg(flag)
            .output()
            .expect("run RSS child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(out.status.success(), "{flag} run failed: {out:?}");
    }
}
