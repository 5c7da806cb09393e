//! The table every exchange passes: one row per (exchange, key scenario or credential case,
//! market, server fault), each with the status, rights and warnings the verdict must have and
//! the facts behind them (IP binding, expiry, the exchange's own words in the message or notes).
//!
//! Each exchange's rows sit in its own module (`exchanges/<name>.rs`, `rows()`). What several
//! exchanges answer alike is written once here: the faults of the path to the exchange
//! ([`every_exchange`]) and the rights of a key on an exchange that tells them all
//! ([`every_right_told`]); the exchange's module adds the rest (its codes, its notes).
//! All rows run in one test, concurrently (at most [`CONCURRENT_ROWS`] at a time), against one
//! simulator per server fault; a failing row names itself, and every failing row is reported,
//! not just the first.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keywarden::check::{judge, CheckContext, Policy};
use keywarden::domain::{Credentials, ExchangeKind, Facts, Markets, ProblemKind, Status, Warning};
use keywarden::exchange::{for_kind_with_rate, HttpClient};
use keywarden::secret::ExposeSecret;
use keywarden::sim::{RunningSim, Scenario, ScenarioFile};

use crate::probe_support::{
    clock_offset, creds, exchange_maintenance, target, Cast, F, PROBE_TIMEOUT, T,
};
use crate::support::{coinbase_pem, start_sim};

/// Rows probing at once: enough to overlap the rows that wait for a timeout, few enough not to
/// crowd a loaded two-core machine.
const CONCURRENT_ROWS: usize = 8;

/// How long the probe of a `hang` row may take: the probe timeout (1.5 s) with room to spare.
pub const HANG_BOUND: Duration = Duration::from_secs(5);

/// The HTTP timeout of every row that does not time a probe ([`Row::within`]): generous, so a
/// loaded machine never turns a slow answer into `exchange_unavailable`.
const PATIENT_TIMEOUT: Duration = Duration::from_secs(20);

// ----- a row --------------------------------------------------------------------------------

/// Which markets the connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    /// A spot-only connection.
    Spot,
    /// A spot and futures connection.
    Futures,
    /// A futures-only connection: no spot trade right needed, so a missing futures right is
    /// what the verdict names.
    OnlyFutures,
    /// Two rows with the same expectations: one spot-only, one spot and futures.
    Both,
}

/// What the connection presents to the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The key (with its secret and passphrase) that plays the scenario.
    Key(Scenario),
    /// The key of the exchange's second key type (Coinbase: Ed25519) that plays the scenario.
    SecondKeyType(Scenario),
    /// The `valid` key with a secret the exchange does not have for it.
    WrongSecret,
    /// The `valid` key with this secret.
    Secret(&'static str),
    /// The `valid` key's secret, its literal `\n` escapes turned into line breaks (a PEM file).
    UnescapedSecret,
    /// A key the exchange does not know, with the `valid` key's secret.
    ApiKey(&'static str),
    /// The `valid` key with another passphrase.
    WrongPassphrase,
    /// The `valid` key without its passphrase.
    NoPassphrase,
    /// The `valid` key with a passphrase the exchange has no use for.
    StrayPassphrase,
}

pub use Case::*;

impl From<Scenario> for Case {
    fn from(scenario: Scenario) -> Case {
        Key(scenario)
    }
}

/// The exchange as a whole, whatever the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    Healthy,
    /// The exchange's clock runs this many ms from ours (positive: ahead).
    Clock(i64),
    /// The public status endpoint reports maintenance.
    Maintenance,
}

/// Whether and when the key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Never,
    /// In more than four days and at most five.
    WithinFiveDays,
}

/// A piece of text the problem message must (or must not) show.
#[derive(Debug, Clone, Copy)]
enum Text {
    Contains(&'static str),
    StartsWith(&'static str),
    Is(&'static str),
}

/// One row: who asks what, and everything the answer must be.
#[derive(Debug, Clone)]
pub struct Row {
    /// Set by [`Row::of`] when the table is put together.
    exchange: Option<ExchangeKind>,
    case: Case,
    market: Market,
    server: Server,
    status: Option<Status>,
    rights: Option<[Option<bool>; 4]>,
    ip_restricted: Option<Option<bool>>,
    expiry: Option<Expiry>,
    warnings: Vec<Warning>,
    message: Vec<Text>,
    notes: Vec<Vec<&'static str>>,
    notes_empty: bool,
    not_notes: Vec<&'static str>,
    seen_ip: Option<Option<&'static str>>,
    /// Texts that must never show, beyond the credentials themselves.
    hidden: Vec<&'static str>,
    retry_after: Option<Duration>,
    within: Option<Duration>,
}

/// A row; the builder methods below say what it must come out as.
pub fn row(case: impl Into<Case>, market: Market) -> Row {
    Row {
        exchange: None,
        case: case.into(),
        market,
        server: Server::Healthy,
        status: None,
        rights: None,
        ip_restricted: None,
        expiry: None,
        warnings: Vec::new(),
        message: Vec::new(),
        notes: Vec::new(),
        notes_empty: false,
        not_notes: Vec::new(),
        seen_ip: None,
        hidden: Vec::new(),
        retry_after: None,
        within: None,
    }
}

impl Row {
    /// The row, on `exchange`.
    pub fn of(self, exchange: ExchangeKind) -> Row {
        Row {
            exchange: Some(exchange),
            ..self
        }
    }
    fn exchange(&self) -> ExchangeKind {
        self.exchange
            .expect("every row is put on its exchange (Row::of)")
    }
    /// The exchange's clock runs `ms` from ours (positive: ahead).
    pub fn clock(mut self, ms: i64) -> Row {
        self.server = Server::Clock(ms);
        self
    }
    /// The exchange as a whole is in maintenance.
    pub fn in_maintenance(mut self) -> Row {
        self.server = Server::Maintenance;
        self
    }
    /// The verdict's status. A problem status also means the probe stopped at exactly one
    /// problem, of that kind; any other status, that it met none.
    fn is(mut self, status: Status) -> Row {
        self.status = Some(status);
        self
    }
    pub fn connected(self) -> Row {
        self.is(Status::Connected)
    }
    pub fn withdraw_enabled(self) -> Row {
        self.is(Status::WithdrawEnabled)
    }
    pub fn no_trade(self) -> Row {
        self.is(Status::NoTradePermission)
    }
    pub fn no_futures(self) -> Row {
        self.is(Status::NoFuturesPermission)
    }
    pub fn unavailable(self) -> Row {
        self.is(Status::ExchangeUnavailable)
    }
    pub fn rate_limited(self) -> Row {
        self.is(Status::RateLimited)
    }
    pub fn clock_skew(self) -> Row {
        self.is(Status::ClockSkew)
    }
    pub fn invalid_key(self) -> Row {
        self.is(Status::InvalidKey)
    }
    pub fn wrong_region(self) -> Row {
        self.is(Status::WrongRegion)
    }
    pub fn ip_not_allowed(self) -> Row {
        self.is(Status::IpNotAllowed)
    }
    /// Read, trade, withdraw, futures.
    pub fn rights(mut self, rights: [Option<bool>; 4]) -> Row {
        self.rights = Some(rights);
        self
    }
    pub fn ip(mut self, restricted: Option<bool>) -> Row {
        self.ip_restricted = Some(restricted);
        self
    }
    pub fn never_expires(mut self) -> Row {
        self.expiry = Some(Expiry::Never);
        self
    }
    /// The key expires in more than four days and at most five.
    pub fn expires_within_five_days(mut self) -> Row {
        self.expiry = Some(Expiry::WithinFiveDays);
        self
    }
    /// The verdict's warnings, in order (none unless given).
    pub fn warns(mut self, warnings: &[Warning]) -> Row {
        self.warnings = warnings.to_vec();
        self
    }
    /// The problem's message contains `words`.
    pub fn says(mut self, words: &'static str) -> Row {
        self.message.push(Text::Contains(words));
        self
    }
    pub fn says_first(mut self, prefix: &'static str) -> Row {
        self.message.push(Text::StartsWith(prefix));
        self
    }
    pub fn says_exactly(mut self, message: &'static str) -> Row {
        self.message.push(Text::Is(message));
        self
    }
    /// A note contains `words`.
    pub fn note(self, words: &'static str) -> Row {
        self.note_with(&[words])
    }
    /// One note contains all of `words`.
    pub fn note_with(mut self, words: &[&'static str]) -> Row {
        self.notes.push(words.to_vec());
        self
    }
    /// The probe has nothing to note.
    pub fn without_notes(mut self) -> Row {
        self.notes_empty = true;
        self
    }
    /// No note contains `words`.
    pub fn no_note(mut self, words: &'static str) -> Row {
        self.not_notes.push(words);
        self
    }
    /// The IP the exchange says it saw (`None`: it names none).
    pub fn seen_ip(mut self, ip: Option<&'static str>) -> Row {
        self.seen_ip = Some(ip);
        self
    }
    /// `text` shows nowhere (a part of a credential, say).
    pub fn hides(mut self, text: &'static str) -> Row {
        self.hidden.push(text);
        self
    }
    pub fn retry_after(mut self, seconds: u64) -> Row {
        self.retry_after = Some(Duration::from_secs(seconds));
        self
    }
    /// The probe, with the short [`PROBE_TIMEOUT`], returns within `bound`.
    pub fn within(mut self, bound: Duration) -> Row {
        self.within = Some(bound);
        self
    }

    /// The rows this one stands for: two for [`Market::Both`].
    fn expand(self) -> Vec<Row> {
        match self.market {
            Market::Both => [Market::Spot, Market::Futures]
                .into_iter()
                .map(|market| Row {
                    market,
                    ..self.clone()
                })
                .collect(),
            _ => vec![self],
        }
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let case = match self.case {
            Key(scenario) => scenario.name().to_string(),
            SecondKeyType(scenario) => format!("{} (second key type)", scenario.name()),
            other => format!("{other:?}"),
        };
        let market = match self.market {
            Market::Spot => "spot",
            Market::Futures => "spot+futures",
            Market::OnlyFutures => "futures",
            Market::Both => "spot and spot+futures",
        };
        write!(f, "{} / {case} / {market}", self.exchange().name())?;
        match self.server {
            Server::Healthy => Ok(()),
            Server::Clock(ms) => write!(f, " / exchange clock {ms:+} ms"),
            Server::Maintenance => write!(f, " / exchange in maintenance"),
        }
    }
}

// ----- the faults every exchange reports alike -----------------------------------------------

/// The faults of the path to the exchange, which the shared HTTP layer turns into the same
/// problem on every exchange: spot-only and futures connections alike.
pub fn every_exchange() -> Vec<Row> {
    let row = |scenario| row(scenario, Market::Both).unavailable();
    vec![
        row(Scenario::Http503).says("503"),
        row(Scenario::CdnHtml).says("HTML"),
        row(Scenario::Hang).says("timed out").within(HANG_BOUND),
        row(Scenario::MalformedJson),
    ]
}

/// Whether an exchange reports when a key that is not bound to an IP expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnboundKeys {
    /// It reports a date (the scenario's key expires within five days).
    ExpireSoon,
    /// It reports none.
    ReportNoExpiry,
}

/// The rights rows of an exchange whose key introspection tells every right (read, trade,
/// withdraw, futures) and the IP binding, so that a spot-only connection sees the futures right
/// too (and warns `futures_not_needed` when the key holds it).
#[rustfmt::skip]
pub fn every_right_told(unbound: UnboundKeys) -> Vec<Row> {
    use Market::*;
    use Scenario::*;
    use Warning::*;
    let no_ip_whitelist = |market: Market, warnings: &[Warning]| {
        let row = row(NoIpWhitelist, market).connected().rights([T, T, F, T]).ip(F);
        match unbound {
            UnboundKeys::ExpireSoon => row.expires_within_five_days().warns(&[warnings, &[KeyExpiresSoon]].concat()),
            UnboundKeys::ReportNoExpiry => row.never_expires().warns(warnings),
        }
    };
    vec![
        row(Valid, Spot).connected().rights([T, T, F, T]).ip(T).never_expires().warns(&[FuturesNotNeeded]),
        row(Valid, Futures).connected().rights([T, T, F, T]).ip(T).never_expires(),
        row(WithdrawEnabled, Spot).withdraw_enabled().rights([T, T, T, T]).ip(T).warns(&[FuturesNotNeeded]),
        row(WithdrawEnabled, Futures).withdraw_enabled().rights([T, T, T, T]).ip(T),
        row(FuturesMissing, Spot).connected().rights([T, T, F, F]).ip(T),
        row(FuturesMissing, Futures).no_futures().rights([T, T, F, F]).ip(T),
        row(TradeMissing, Spot).no_trade().rights([T, F, F, T]).warns(&[FuturesNotNeeded]),
        row(TradeMissing, Futures).no_trade().rights([T, F, F, T]),
        row(ReadOnly, Both).no_trade().rights([T, F, F, F]),
        no_ip_whitelist(Spot, &[IpWhitelistMissing, FuturesNotNeeded]),
        no_ip_whitelist(Futures, &[IpWhitelistMissing]),
    ]
}

/// Says more of a row already in the rows (the exchange's note on a row of
/// [`every_right_told`], say), so that each (case, market, server) stays one row.
pub trait Amend {
    /// The healthy exchange's row for (`case`, `market`) also checks what `more` adds; panics
    /// when there is no such row.
    fn amend(self, case: impl Into<Case>, market: Market, more: impl Fn(Row) -> Row) -> Self;
}

impl Amend for Vec<Row> {
    fn amend(self, case: impl Into<Case>, market: Market, more: impl Fn(Row) -> Row) -> Vec<Row> {
        let case = case.into();
        let mut found = false;
        let rows = self
            .into_iter()
            .map(|row| {
                if row.case == case && row.market == market && row.server == Server::Healthy {
                    found = true;
                    more(row)
                } else {
                    row
                }
            })
            .collect();
        assert!(found, "no row for {case:?} / {market:?} to amend");
        rows
    }
}

// ----- running the table -------------------------------------------------------------------

/// A probe's answer to a row, with the verdict judged from it.
struct Answer {
    facts: Facts,
    status: Status,
    warnings: Vec<Warning>,
    texts: Vec<String>,
    took: Duration,
}

/// The credentials the row's connection presents.
fn credentials(cast: &Cast, case: Case) -> Credentials {
    let valid = cast.creds(Scenario::Valid);
    let valid_key = (cast.key)(Scenario::Valid);
    let valid_secret = cast.secret.of(Scenario::Valid);
    let passphrase = cast.passphrase;
    match case {
        Key(scenario) => cast.creds(scenario),
        SecondKeyType(scenario) => cast.second_creds(scenario),
        WrongSecret if cast.kind == ExchangeKind::Coinbase => {
            creds(&valid_key, &coinbase_pem("someone-else"), passphrase)
        }
        WrongSecret => creds(&valid_key, "not-the-secret-0123456789abcdef", passphrase),
        Secret(secret) => creds(&valid_key, secret, passphrase),
        UnescapedSecret => creds(&valid_key, &valid_secret.replace("\\n", "\n"), passphrase),
        ApiKey(key) => creds(key, &valid_secret, passphrase),
        WrongPassphrase => creds(&valid_key, &valid_secret, Some("battery staple")),
        NoPassphrase => Credentials {
            passphrase: None,
            ..valid
        },
        StrayPassphrase => creds(&valid_key, &valid_secret, Some("not-a-passphrase-here")),
    }
}

/// Every text that must never show: the key, the secret (and each line of a PEM one), the
/// passphrase, and a signature parameter.
fn never_shown(credentials: &Credentials) -> Vec<String> {
    let secret = credentials.api_secret.expose_secret();
    let mut never = vec![
        credentials.api_key.expose_secret().to_string(),
        secret.to_string(),
        "Signature=".to_string(),
    ];
    never.extend(
        secret
            .replace("\\n", "\n")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("-----"))
            .map(str::to_string),
    );
    never.extend(
        credentials
            .passphrase
            .as_ref()
            .map(|p| p.expose_secret().to_string()),
    );
    never
}

/// Probes as the row's connection would, and judges the facts as the daemon would.
async fn ask(row: &Row, cast: &Cast, sim: &RunningSim) -> (Answer, Vec<String>) {
    let credentials = credentials(cast, row.case);
    let mut never = never_shown(&credentials);
    never.extend(row.hidden.iter().map(|t| t.to_string()));
    let markets = Markets {
        spot: row.market != Market::OnlyFutures,
        futures: matches!(row.market, Market::Futures | Market::OnlyFutures),
    };
    let target = target(
        row.exchange(),
        credentials,
        sim.base_url(row.exchange()),
        markets,
    );
    let started = Instant::now();
    let timeout = match row.within {
        Some(_) => PROBE_TIMEOUT,
        None => PATIENT_TIMEOUT,
    };
    let kind = row.exchange();
    let exchange = for_kind_with_rate(kind, HttpClient::new(timeout), kind.spec().default_rate);
    let facts = exchange.probe(&target).await;
    let took = started.elapsed();
    // A connection's defaults: IP whitelist required, warn 14 days before expiry.
    let policy = Policy {
        markets,
        require_ip_whitelist: true,
        require_withdraw_verified: false,
        expiry_warning: chrono::Duration::days(14),
    };
    let context = CheckContext {
        connection: row.to_string(),
        exchange: row.exchange(),
        checked_at: chrono::Utc::now(),
        latency_ms: took.as_millis() as u64,
    };
    let verdict = judge(context, &facts, &policy);
    let mut texts: Vec<String> = facts.problems.iter().map(|p| p.message.clone()).collect();
    texts.extend(facts.notes.iter().cloned());
    texts.push(verdict.message.clone());
    texts.extend(verdict.remedy.clone());
    let answer = Answer {
        status: verdict.status,
        warnings: verdict.warnings.clone(),
        facts,
        texts,
        took,
    };
    (answer, never)
}

/// The kind of problem a status stands for (`None`: a status about the key's rights).
fn problem_kind_of(status: Status) -> Option<ProblemKind> {
    match status {
        Status::ExchangeUnavailable => Some(ProblemKind::Unavailable),
        Status::RateLimited => Some(ProblemKind::RateLimited),
        Status::ClockSkew => Some(ProblemKind::ClockSkew),
        Status::InvalidKey => Some(ProblemKind::InvalidKey),
        Status::IpNotAllowed => Some(ProblemKind::IpNotAllowed),
        Status::WrongRegion => Some(ProblemKind::WrongRegion),
        _ => None,
    }
}

fn differs(bad: &mut Vec<String>, what: &str, got: String, want: String) {
    if got != want {
        bad.push(format!("{what}: got {got}, want {want}"));
    }
}

/// Everything in `answer` that differs from what `row` expects, one line each.
fn mismatches(row: &Row, answer: &Answer, never: &[String]) -> Vec<String> {
    let mut bad = Vec::new();
    let facts = &answer.facts;
    let status = row.status.expect("every row names its status");
    differs(
        &mut bad,
        "status",
        format!("{:?}", answer.status),
        format!("{status:?}"),
    );
    let kinds: Vec<ProblemKind> = facts.problems.iter().map(|p| p.kind).collect();
    let want_kinds: Vec<ProblemKind> = problem_kind_of(status).into_iter().collect();
    differs(
        &mut bad,
        "problems",
        format!("{kinds:?}"),
        format!("{want_kinds:?}"),
    );
    differs(
        &mut bad,
        "warnings",
        format!("{:?}", answer.warnings),
        format!("{:?}", row.warnings),
    );
    let p = facts.permissions;
    if let Some(rights) = row.rights {
        differs(
            &mut bad,
            "rights [read, trade, withdraw, futures]",
            format!("{:?}", [p.read, p.trade, p.withdraw, p.futures]),
            format!("{rights:?}"),
        );
    }
    if let Some(ip) = row.ip_restricted {
        differs(
            &mut bad,
            "ip_restricted",
            format!("{:?}", facts.ip_restricted),
            format!("{ip:?}"),
        );
    }
    match (row.expiry, facts.expires_at) {
        (None, _) | (Some(Expiry::Never), None) => {}
        (Some(Expiry::Never), Some(at)) => bad.push(format!("expires_at: got {at}, want none")),
        (Some(Expiry::WithinFiveDays), at) => {
            let left = at.map(|at| at - chrono::Utc::now());
            let in_window = left.is_some_and(|left| {
                left > chrono::Duration::days(4) && left <= chrono::Duration::days(5)
            });
            if !in_window {
                bad.push(format!(
                    "expires_at: got {at:?} ({left:?} left), want in 4 to 5 days"
                ));
            }
        }
    }
    let message = facts.problems.first().map(|p| p.message.as_str());
    for text in &row.message {
        let ok = message.is_some_and(|m| match text {
            Text::Contains(words) => m.contains(words),
            Text::StartsWith(prefix) => m.starts_with(prefix),
            Text::Is(whole) => m == *whole,
        });
        if !ok {
            bad.push(format!(
                "problem message {message:?}: want it to match {text:?}"
            ));
        }
    }
    for words in &row.notes {
        if !facts
            .notes
            .iter()
            .any(|n| words.iter().all(|w| n.contains(w)))
        {
            bad.push(format!("notes {:?}: want one with {words:?}", facts.notes));
        }
    }
    if row.notes_empty && !facts.notes.is_empty() {
        bad.push(format!("notes {:?}: want none", facts.notes));
    }
    for words in &row.not_notes {
        if facts.notes.iter().any(|n| n.contains(words)) {
            bad.push(format!("notes {:?}: want none with {words:?}", facts.notes));
        }
    }
    if let Some(ip) = row.seen_ip {
        differs(
            &mut bad,
            "seen_ip",
            format!(
                "{:?}",
                facts.problems.first().and_then(|p| p.seen_ip.as_deref())
            ),
            format!("{ip:?}"),
        );
    }
    if let Some(wait) = row.retry_after {
        differs(
            &mut bad,
            "retry_after",
            format!("{:?}", facts.problems.first().and_then(|p| p.retry_after)),
            format!("{:?}", Some(wait)),
        );
    }
    if let Some(bound) = row.within {
        if answer.took >= bound {
            bad.push(format!("took {:?}, want under {bound:?}", answer.took));
        }
    }
    for text in &answer.texts {
        for secret in never {
            if text.contains(secret.as_str()) {
                bad.push(format!("a credential ({secret:?}) shows in {text:?}"));
            }
        }
    }
    bad
}

/// One simulator per server fault, each with every exchange's whole cast.
async fn simulators(casts: &[&'static Cast], rows: &[Row]) -> BTreeMap<Server, Arc<RunningSim>> {
    let mut sims = BTreeMap::new();
    for server in rows.iter().map(|r| r.server) {
        if sims.contains_key(&server) {
            continue;
        }
        let settings = match server {
            Server::Healthy => None,
            Server::Clock(ms) => Some(clock_offset(ms)),
            Server::Maintenance => Some(exchange_maintenance()),
        };
        let keys = casts.iter().flat_map(|cast| cast.keys()).collect();
        let file = ScenarioFile {
            exchanges: settings
                .into_iter()
                .flat_map(|s| casts.iter().map(move |c| (c.kind, s.clone())))
                .collect(),
            keys,
        };
        sims.insert(server, Arc::new(start_sim(file).await));
    }
    sims
}

/// Runs every row, at most [`CONCURRENT_ROWS`] at once, and panics naming every row that failed.
pub async fn run(casts: &[&'static Cast], rows: Vec<Row>) {
    let rows: Vec<Row> = rows.into_iter().flat_map(Row::expand).collect();
    let mut names = std::collections::BTreeSet::new();
    for row in &rows {
        assert!(
            names.insert(row.to_string()),
            "two rows are {row}: make it one"
        );
    }
    let sims = simulators(casts, &rows).await;
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_ROWS));
    let mut running = Vec::new();
    for row in &rows {
        let cast = *casts
            .iter()
            .find(|c| c.kind == row.exchange())
            .unwrap_or_else(|| panic!("{row}: no cast for {}", row.exchange().name()));
        let sim = sims[&row.server].clone();
        let permits = permits.clone();
        let task_row = row.clone();
        running.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore stays open");
            let (answer, never) = ask(&task_row, cast, &sim).await;
            mismatches(&task_row, &answer, &never)
        }));
    }
    let mut failed = Vec::new();
    for (row, task) in rows.iter().zip(running) {
        match task.await {
            Ok(bad) if bad.is_empty() => {}
            Ok(bad) => failed.push(format!("{row}:\n    {}", bad.join("\n    "))),
            Err(e) => failed.push(format!("{row}: the row's task failed: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} rows failed:\n{}",
        failed.len(),
        rows.len(),
        failed.join("\n")
    );
}
