//! `/metrics` and `/healthz` over real HTTP; the exposition is checked by Prometheus's own
//! `promtool check metrics` (Debian package `prometheus`, installed by `.ci/run`).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use keywarden::domain::{ExchangeKind, Permissions, Status, Verdict, Warning};
use keywarden::metrics::{router, Metrics};

fn verdict(
    connection: &str,
    exchange: ExchangeKind,
    status: Status,
    permissions: Permissions,
) -> Verdict {
    Verdict {
        connection: connection.to_string(),
        exchange,
        status,
        permissions,
        ip_restricted: Some(true),
        expires_at: None,
        latency_ms: 250,
        message: "test".to_string(),
        remedy: None,
        warnings: Vec::new(),
        checked_at: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap(),
    }
}

/// Serves `router` on an ephemeral loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    format!("http://{addr}")
}

/// Runs `promtool check metrics` on `body`; panics (does not skip) when promtool is missing.
fn promtool_check(body: &str) -> String {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "`promtool` is not on PATH: install the Debian package `prometheus` \
             (apt-get install --no-install-recommends prometheus); .ci/run does this"
        ),
        Err(err) => panic!("could not run promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{text}\n--- body ---\n{body}",
        out.status
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_passes_promtool() {
    let metrics = Arc::new(Metrics::new());
    let full = Permissions {
        read: Some(true),
        trade: Some(true),
        withdraw: Some(false),
        futures: Some(false),
    };
    let mut alice = verdict(
        "alice-mexc-main",
        ExchangeKind::Mexc,
        Status::Connected,
        full,
    );
    alice.expires_at = Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap());
    alice.warnings.push(Warning::KeyExpiresSoon);
    metrics.observe(&alice);
    let bob = verdict(
        "bob.kucoin_1",
        ExchangeKind::Kucoin,
        Status::WithdrawEnabled,
        Permissions {
            withdraw: Some(true),
            futures: None,
            ..full
        },
    );
    metrics.observe(&bob);
    let mut gone = verdict("gone", ExchangeKind::Mexc, Status::InvalidKey, full);
    gone.ip_restricted = None;
    metrics.observe(&gone);
    metrics.forget("gone", ExchangeKind::Mexc);
    metrics.alert_sent("telegram");
    metrics.alert_failed("email", "timeout");
    metrics.set_outbox_depth(3);
    metrics.set_store_size(1 << 20);

    let base = serve(router(Arc::clone(&metrics), Arc::new(|| true))).await;
    let resp = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4")
    );
    let body = resp.text().await.unwrap();

    assert!(body.contains(
        "keywarden_connection_status{connection=\"bob.kucoin_1\",exchange=\"kucoin\",status=\"withdraw_enabled\"} 1"
    ));
    assert!(body.contains(
        "keywarden_key_permission{connection=\"bob.kucoin_1\",exchange=\"kucoin\",permission=\"withdraw\"} 1"
    ));
    assert!(!body.contains(
        "keywarden_key_permission{connection=\"bob.kucoin_1\",exchange=\"kucoin\",permission=\"futures\""
    ));
    assert!(!body.contains("connection=\"gone\""), "{body}");
    assert!(body.contains("keywarden_checks_total{exchange=\"mexc\",status=\"invalid_key\"} 1"));

    let report = promtool_check(&body);
    println!("promtool check metrics: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_health_closure() {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&healthy);
    let base = serve(router(
        Arc::new(Metrics::new()),
        Arc::new(move || flag.load(Ordering::SeqCst)),
    ))
    .await;

    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");

    healthy.store(false, Ordering::SeqCst);
    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(resp.status(), 503);

    healthy.store(true, Ordering::SeqCst);
    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(resp.status(), 200);
}
