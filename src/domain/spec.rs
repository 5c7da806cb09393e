//! Every exchange's static facts in one table: its config word, the name its users write, its
//! documented hosts, the clock window its signed requests must land in, the request rate we
//! pace its hosts at when the config sets none, whether its keys carry a passphrase, the path
//! prefix the simulator serves it under, the requests one check makes (for `load`'s sums), and
//! its sites (regions), each with its own hosts.
//!
//! Plain data, so every layer may read it (the notifiers for the display name, the config for
//! the default rate, `load` for the hosts, the exchange modules for their windows) without
//! importing the HTTP layer. What differs in *behaviour* (signing, endpoints, codes, the probe's
//! steps) stays in each exchange's own file.

use super::{ExchangeKind, Problem};

/// One exchange's static facts (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExchangeSpec {
    pub kind: ExchangeKind,
    /// The word the config's `exchange` key takes, and the name in metrics, logs and the store.
    pub name: &'static str,
    /// The exchange's name as its users write it (alerts, emails).
    pub display_name: &'static str,
    /// Where the server's clock may be against ours for a request signed by our clock to be
    /// accepted (on the spot host; an exchange whose futures host has another rule keeps it in
    /// its own file).
    pub clock_window: ClockWindow,
    /// Requests a second per host when `daemon.request_budget.<name>` is not set. Derived from
    /// the documented per-IP limits with headroom; the reasoning is beside each row below.
    pub default_rate: f64,
    /// Whether the exchange's keys carry a passphrase chosen by the user.
    pub passphrase: bool,
    /// The path prefix the simulator serves this exchange under (`http://sim/<prefix>/…`).
    pub sim_prefix: &'static str,
    /// Requests one check makes, counted from the probe (`src/exchange/NAME.rs`), for `load`'s
    /// sums. Calls a probe shares across keys (OKX's public time and status, HTX's cached UID
    /// after the first check) are left out: they are a few a minute, whatever the number of keys.
    pub requests_per_check: RequestsPerCheck,
    /// The exchange's sites, each with its own hosts and its own keys (a key made on OKX EEA
    /// exists only there): `global` first, with the documented spot (or only) REST host and
    /// futures host (the spot host where one serves both), then the regional sites the exchange
    /// documents. A connection's `region` picks one (`global` by default).
    pub regions: &'static [Region],
}

/// Requests one check makes on the spot host, and more on the futures host when the connection
/// trades futures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestsPerCheck {
    pub spot: u32,
    pub futures: u32,
}

/// One site of an exchange: a regional entity with its own REST hosts and its own key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// The word the config's `region` key takes.
    pub name: &'static str,
    /// The site as its users know it ("OKX EEA"), for messages.
    pub display_name: &'static str,
    pub spot_host: &'static str,
    pub futures_host: &'static str,
}

/// The name of every exchange's main site, and the default `region`.
pub const GLOBAL: &str = "global";

impl Region {
    /// The main site of an exchange whose spot and futures hosts are these.
    const fn global(display_name: &'static str, spot: &'static str, futures: &'static str) -> Self {
        Region {
            name: GLOBAL,
            display_name,
            spot_host: spot,
            futures_host: futures,
        }
    }

    /// A regional site serving spot and futures from one host.
    const fn site(name: &'static str, display_name: &'static str, host: &'static str) -> Self {
        Region {
            name,
            display_name,
            spot_host: host,
            futures_host: host,
        }
    }

    pub fn is_global(&self) -> bool {
        self.name == GLOBAL
    }

    /// The spot base URL a connection of this site uses: its `base_url` override, else the
    /// site's host. One rule for the probe (`ProbeTarget`) and the load estimate (`load`).
    pub fn spot_base<'a>(&'a self, base_url: Option<&'a str>) -> &'a str {
        base_url.unwrap_or(self.spot_host)
    }

    /// The futures base URL: its own override, the spot override, else the site's futures host.
    pub fn futures_base<'a>(
        &'a self,
        futures_base_url: Option<&'a str>,
        base_url: Option<&'a str>,
    ) -> &'a str {
        futures_base_url.or(base_url).unwrap_or(self.futures_host)
    }
}

/// Where the server's clock may be against ours, as `offset = server − ours` in milliseconds:
/// a positive offset means our timestamps arrive behind the server's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockWindow {
    /// How far the server's clock may run ahead of ours.
    pub server_ahead: Limit,
    /// How far the server's clock may run behind ours (our timestamp ahead of it).
    pub server_behind: Limit,
}

/// One side of a [`ClockWindow`]; the exchanges' docs differ on whether the bound itself is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Up to and including this many milliseconds.
    UpTo(i64),
    /// Strictly less than this many milliseconds.
    Below(i64),
}

impl Limit {
    /// The bound in milliseconds, whichever side of it is accepted.
    pub const fn ms(self) -> i64 {
        match self {
            Limit::UpTo(ms) | Limit::Below(ms) => ms,
        }
    }

    /// Whether a distance of `ms` (never negative) is within the limit.
    pub const fn admits(self, ms: i64) -> bool {
        match self {
            Limit::UpTo(limit) => ms <= limit,
            Limit::Below(limit) => ms < limit,
        }
    }
}

impl ClockWindow {
    /// The same bound both ways, the bound itself accepted.
    pub const fn symmetric(ms: i64) -> ClockWindow {
        ClockWindow {
            server_ahead: Limit::UpTo(ms),
            server_behind: Limit::UpTo(ms),
        }
    }

    /// Whether a request signed by our clock lands inside the window at `offset_ms`
    /// (server − ours).
    pub const fn contains(self, offset_ms: i64) -> bool {
        if offset_ms >= 0 {
            self.server_ahead.admits(offset_ms)
        } else {
            self.server_behind.admits(offset_ms.saturating_neg())
        }
    }
}

impl ExchangeSpec {
    /// The site the config word `name` picks, when the exchange has one by that name.
    pub fn region(&self, name: &str) -> Option<&'static Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// The main site (`global`).
    pub fn global(&self) -> &'static Region {
        &self.regions[0]
    }

    /// The sites other than `current`, as a message names them for a key that may belong to
    /// one of them: `region = "eea" (OKX EEA) or region = "us" (OKX US)`.
    pub fn other_sites(&self, current: &Region) -> String {
        self.regions
            .iter()
            .filter(|r| r.name != current.name)
            .map(|r| format!("region = \"{}\" ({})", r.name, r.display_name))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// The config words of every site, for an error message: `global, eea, us`.
    pub fn region_names(&self) -> String {
        self.regions
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The clock rule in the exchange's terms, for a clock-skew message: "OKX refuses
    /// timestamps more than 30 s away from its clock".
    pub fn window_rule(&self) -> String {
        let name = self.display_name;
        let window = self.clock_window;
        match (window.server_ahead, window.server_behind) {
            (Limit::UpTo(ahead), Limit::UpTo(behind)) if ahead == behind => format!(
                "{name} refuses timestamps more than {} s away from its clock",
                ahead / 1000
            ),
            (Limit::Below(ahead), Limit::Below(behind)) if ahead == behind => format!(
                "{name} refuses timestamps {} s or more away from its clock",
                ahead / 1000
            ),
            (ahead, behind) => {
                let bound = |limit: Limit| match limit {
                    Limit::UpTo(ms) => format!("at most {ms} ms"),
                    Limit::Below(ms) => format!("less than {ms} ms"),
                };
                format!(
                    "{name} accepts requests {} behind and {} ahead of its clock",
                    bound(ahead),
                    bound(behind)
                )
            }
        }
    }

    /// `None` when a request signed by our clock lands inside the window at `offset_ms`
    /// (server − ours, measured by `what`), else the clock-skew problem naming the rule.
    pub fn skew_problem(&self, what: &str, offset_ms: i64) -> Option<Problem> {
        let whose_clock = format!("{}'s server clock", self.display_name);
        self.skew_problem_of_clock(what, &whose_clock, offset_ms)
    }

    /// [`skew_problem`](ExchangeSpec::skew_problem) with the server's clock called
    /// `whose_clock`: Binance, Bybit and MEXC spot call it just "server clock" (the window rule
    /// after it names the exchange).
    pub fn skew_problem_of_clock(
        &self,
        what: &str,
        whose_clock: &str,
        offset_ms: i64,
    ) -> Option<Problem> {
        let inside = self.clock_window.contains(offset_ms);
        Problem::skew_outside_window(inside, what, whose_clock, offset_ms, || self.window_rule())
    }
}

/// The rule of MEXC spot, Binance and Bybit: a timestamp at most `recvWindow` (5 s, the value
/// the probes send) behind the server's clock and less than 1 s ahead of it.
const RECV_WINDOW_5S_AHEAD_BELOW_1S: ClockWindow = ClockWindow {
    server_ahead: Limit::UpTo(5_000),
    server_behind: Limit::Below(1_000),
};

// MEXC: public endpoints 500 weight / 10 s per IP, futures 20 req / 2 s; ccxt throttles at
// 20 req/s (shared/docs/exchanges/mexc.md §7). 10/s keeps futures calls inside 20 / 2 s.
// The window is spot's (futures refuses a Request-Time more than 10 s away: mexc.rs).
pub const MEXC: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Mexc,
    name: "mexc",
    display_name: "MEXC",
    clock_window: RECV_WINDOW_5S_AHEAD_BELOW_1S,
    default_rate: 10.0,
    passphrase: false,
    sim_prefix: "/mexc",
    // time, account, apiKeyInfo; futures: ping, assets.
    requests_per_check: RequestsPerCheck {
        spot: 3,
        futures: 2,
    },
    regions: &[Region::global(
        "MEXC",
        "https://api.mexc.com",
        "https://contract.mexc.com",
    )],
};

// KuCoin: the public pool is 2000 / 30 s per IP (kucoin.md §7); private pools are per account,
// so sibling keys do not share them. 50/s is three quarters of the public pool. A timestamp
// 5 s or more from its clock is refused.
pub const KUCOIN: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Kucoin,
    name: "kucoin",
    display_name: "KuCoin",
    clock_window: ClockWindow {
        server_ahead: Limit::Below(5_000),
        server_behind: Limit::Below(5_000),
    },
    default_rate: 50.0,
    passphrase: true,
    sim_prefix: "/kucoin",
    // timestamp, status, api-key, accounts; futures: account overview.
    requests_per_check: RequestsPerCheck {
        spot: 4,
        futures: 1,
    },
    regions: &[Region::global(
        "KuCoin",
        "https://api.kucoin.com",
        "https://api-futures.kucoin.com",
    )],
};

// Binance: limits are per IP: spot `/api` 6000 weight/min, each SAPI endpoint its own
// 12000/min, USDⓈ-M futures 2400/min (binance.md §7). A spot check is 4 requests on
// api.binance.com costing 21 weight on `/api` (time 1, account 20) and 2 on SAPI; a futures
// check adds 2 requests on fapi (time 1, balance 5). 10/s keeps `/api` near half its budget
// (~3150/min) and fapi at three quarters (~1800/min).
pub const BINANCE: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Binance,
    name: "binance",
    display_name: "Binance",
    clock_window: RECV_WINDOW_5S_AHEAD_BELOW_1S,
    default_rate: 10.0,
    passphrase: false,
    sim_prefix: "/binance",
    // time, system status, apiRestrictions, account; futures: time, balance.
    requests_per_check: RequestsPerCheck {
        spot: 4,
        futures: 2,
    },
    regions: &[Region::global(
        "Binance",
        "https://api.binance.com",
        "https://fapi.binance.com",
    )],
};

// OKX: public endpoints are limited per IP (`public/time` 10 / 2 s, `system/status` 1 / 5 s),
// private ones per User ID (`account/config` 5 / 2 s, `account/balance` 10 / 2 s) (okx.md §7).
// The probe reads the public pair at most once per 10 s per host and shares it across keys, so
// the per-IP limits hold at any rate; 20/s paces the per-user calls of many keys. Timestamps
// more than 30 s away are refused.
pub const OKX: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Okx,
    name: "okx",
    display_name: "OKX",
    clock_window: ClockWindow::symmetric(30_000),
    default_rate: 20.0,
    passphrase: true,
    sim_prefix: "/okx",
    // account config, balance; futures: positions.
    requests_per_check: RequestsPerCheck {
        spot: 2,
        futures: 1,
    },
    // The EEA and US entities have their own hosts and key stores (okx.md §1: a global key on
    // the EEA host, or the reverse, fails with 50119); hosts as ccxt's `myokx` and `okxus`
    // (eea.okx.com, us.okx.com) use them.
    regions: &[
        Region::global("OKX", "https://www.okx.com", "https://www.okx.com"),
        Region::site("eea", "OKX EEA", "https://eea.okx.com"),
        Region::site("us", "OKX US", "https://us.okx.com"),
    ],
};

// Bybit: 600 requests / 5 s per IP across all of api.bybit.com, breach = HTTP 403 and a ban of
// at least 10 minutes (bybit.md §7, docs v5/rate-limit); per-UID limits are per account. 50/s is
// under half of the 120/s the IP limit allows.
pub const BYBIT: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Bybit,
    name: "bybit",
    display_name: "Bybit",
    clock_window: RECV_WINDOW_5S_AHEAD_BELOW_1S,
    default_rate: 50.0,
    passphrase: false,
    sim_prefix: "/bybit",
    // time, status, query-api, wallet; futures: wallet.
    requests_per_check: RequestsPerCheck {
        spot: 4,
        futures: 1,
    },
    // The regional mainnets of Bybit's integration guide (docs v5/guide: "Netherlands users:
    // use https://api.bybit.nl", Turkey, Kazakhstan, Georgia, UAE, EEA, Indonesia); a key works
    // only on its own site (bybit.md §1).
    regions: &[
        Region::global("Bybit", "https://api.bybit.com", "https://api.bybit.com"),
        Region::site("nl", "Bybit NL", "https://api.bybit.nl"),
        Region::site("tr", "Bybit TR", "https://api.bybit-tr.com"),
        Region::site("kz", "Bybit KZ", "https://api.bybit.kz"),
        Region::site("ge", "Bybit Georgia", "https://api.bybitgeorgia.ge"),
        Region::site("ae", "Bybit UAE", "https://api.bybit.ae"),
        Region::site("eu", "Bybit EU", "https://api.bybit.eu"),
        Region::site("id", "Bybit Indonesia", "https://api.bybit.id"),
    ],
};

// Bitget: public endpoints 20 req/s per IP (server time; bitget.md §4), private ones per UID
// (account info 1/s, balances 10/s); the overall 6000/min per IP is unverified. 10/s is half the
// public per-IP limit. Timestamps more than about 30 s away are refused.
pub const BITGET: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Bitget,
    name: "bitget",
    display_name: "Bitget",
    clock_window: ClockWindow::symmetric(30_000),
    default_rate: 10.0,
    passphrase: true,
    sim_prefix: "/bitget",
    // time, account info, assets; futures: accounts.
    requests_per_check: RequestsPerCheck {
        spot: 3,
        futures: 1,
    },
    regions: &[Region::global(
        "Bitget",
        "https://api.bitget.com",
        "https://api.bitget.com",
    )],
};

// Gate: public endpoints 200 req / 10 s per endpoint per IP; private ones 150-200 / 10 s per
// endpoint per UID, counted per account (gate.md §7, docs "Frequency limit rule"). A check is one
// public call (`spot/time`) and three or four private ones on one host, so 40/s keeps
// `spot/time` near 10/s, half its per-IP limit. A Timestamp more than 60 s away is refused.
pub const GATE: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Gate,
    name: "gate",
    display_name: "Gate",
    clock_window: ClockWindow::symmetric(60_000),
    default_rate: 40.0,
    passphrase: false,
    sim_prefix: "/gate",
    // time, account detail, main keys, spot accounts; futures: accounts.
    requests_per_check: RequestsPerCheck {
        spot: 4,
        futures: 1,
    },
    regions: &[Region::global(
        "Gate",
        "https://api.gateio.ws",
        "https://api.gateio.ws",
    )],
};

// HTX: public endpoints (server time, market status) about 10 req/s per IP; private ones per UID
// (`/v2/user/*` 20 / 2 s, accounts and balances 100 / 2 s) (htx.md §7). A check is 2 public and
// at most 4 signed requests on the spot host, so 10/s keeps the public calls near a third of the
// per-IP limit. The window is the documented one (htx.md §2, the official spot docs'
// "Authentication": a Timestamp more than 5 minutes from the server's is refused). A stricter
// threshold would call a clock HTX accepts skewed: a healthy key reported broken (issue 18).
pub const HTX: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Htx,
    name: "htx",
    display_name: "HTX",
    clock_window: ClockWindow::symmetric(300_000),
    default_rate: 10.0,
    passphrase: false,
    sim_prefix: "/htx",
    // timestamp, market status, accounts, balance, api-key; futures: time, account.
    requests_per_check: RequestsPerCheck {
        spot: 5,
        futures: 2,
    },
    regions: &[Region::global(
        "HTX",
        "https://api.huobi.pro",
        "https://api.hbdm.com",
    )],
};

// BingX: IP limits by group (official spot docs, "Rate limit"; bingx.md §7): market group
// 500 / 10 s, account groups 2000 / 10 s in all and 300 / 10 s per endpoint per IP; per-UID
// limits are per account (apiPermissions 2/s). A check is 3 requests on one host (5 with
// futures), so 20/s keeps each endpoint under ~7/s, a quarter of its 30/s per-IP share. A
// timestamp at most `recvWindow` (5 s, the value the probe sends) from its clock is accepted.
pub const BINGX: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Bingx,
    name: "bingx",
    display_name: "BingX",
    clock_window: ClockWindow::symmetric(5_000),
    default_rate: 20.0,
    passphrase: false,
    sim_prefix: "/bingx",
    // time, apiPermissions, balance; futures: time, balance.
    requests_per_check: RequestsPerCheck {
        spot: 3,
        futures: 2,
    },
    regions: &[Region::global(
        "BingX",
        "https://open-api.bingx.com",
        "https://open-api.bingx.com",
    )],
};

// Coinbase: public endpoints 10 req/s per IP, private Advanced Trade endpoints 30 req/s per user,
// limits may tighten in volatile periods (coinbase.md §7, docs advanced-trade
// rest-api-rate-limits). A check is one public call (time) and two or three private ones, so
// 10/s keeps the public share near 3/s, under a third of the per-IP limit. The window is the
// request token's: valid for 120 s from its `nbf` (our clock), so the server may run at most
// 110 s ahead (ten seconds left for the trip and the whole-second `nbf`), and at most the
// assumed 5 s of leeway behind (coinbase.rs).
pub const COINBASE: ExchangeSpec = ExchangeSpec {
    kind: ExchangeKind::Coinbase,
    name: "coinbase",
    display_name: "Coinbase",
    clock_window: ClockWindow {
        server_ahead: Limit::Below(110_000),
        server_behind: Limit::Below(5_000),
    },
    default_rate: 10.0,
    passphrase: false,
    sim_prefix: "/coinbase",
    // time, key permissions, accounts; futures: balance summary.
    requests_per_check: RequestsPerCheck {
        spot: 3,
        futures: 1,
    },
    regions: &[Region::global(
        "Coinbase",
        "https://api.coinbase.com",
        "https://api.coinbase.com",
    )],
};

/// `kind`'s row of the table.
pub const fn spec(kind: ExchangeKind) -> &'static ExchangeSpec {
    match kind {
        ExchangeKind::Mexc => &MEXC,
        ExchangeKind::Kucoin => &KUCOIN,
        ExchangeKind::Binance => &BINANCE,
        ExchangeKind::Okx => &OKX,
        ExchangeKind::Bybit => &BYBIT,
        ExchangeKind::Bitget => &BITGET,
        ExchangeKind::Gate => &GATE,
        ExchangeKind::Htx => &HTX,
        ExchangeKind::Bingx => &BINGX,
        ExchangeKind::Coinbase => &COINBASE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_is_its_own_kind_with_distinct_names() {
        let mut names = std::collections::BTreeSet::new();
        let mut prefixes = std::collections::BTreeSet::new();
        for kind in ExchangeKind::ALL {
            let row = spec(kind);
            assert_eq!(row.kind, kind);
            assert_eq!(row.sim_prefix, format!("/{}", row.name));
            assert!(row.default_rate > 0.0, "{}", row.name);
            assert!(names.insert(row.name) && prefixes.insert(row.sim_prefix));
            // The main site first; every site's name its own, its hosts https.
            assert_eq!(row.global().name, GLOBAL, "{}", row.name);
            let mut sites = std::collections::BTreeSet::new();
            for region in row.regions {
                assert!(region.spot_host.starts_with("https://"), "{}", row.name);
                assert!(region.futures_host.starts_with("https://"), "{}", row.name);
                assert!(sites.insert(region.name), "{}: {}", row.name, region.name);
                assert_eq!(row.region(region.name), Some(region));
            }
        }
        assert_eq!(OKX.region_names(), "global, eea, us");
        assert_eq!(OKX.region("eea").unwrap().spot_host, "https://eea.okx.com");
        assert_eq!(BINANCE.region_names(), "global");
        assert_eq!(
            BYBIT.region("eu").unwrap().spot_host,
            "https://api.bybit.eu"
        );
        assert_eq!(OKX.region("eu"), None);
        assert_eq!(
            OKX.other_sites(OKX.global()),
            "region = \"eea\" (OKX EEA) or region = \"us\" (OKX US)"
        );
        assert_eq!(
            OKX.other_sites(OKX.region("us").unwrap()),
            "region = \"global\" (OKX) or region = \"eea\" (OKX EEA)"
        );
    }

    #[test]
    fn a_window_admits_its_bounds_as_its_docs_say() {
        let binance = BINANCE.clock_window;
        assert!(binance.contains(5_000) && !binance.contains(5_001));
        assert!(binance.contains(-999) && !binance.contains(-1_000));
        let kucoin = KUCOIN.clock_window;
        assert!(kucoin.contains(4_999) && !kucoin.contains(5_000));
        assert!(kucoin.contains(-4_999) && !kucoin.contains(-5_000));
        let gate = GATE.clock_window;
        assert!(gate.contains(60_000) && gate.contains(-60_000) && !gate.contains(-60_001));
        assert!(!gate.contains(i64::MIN) && !gate.contains(i64::MAX));
    }

    #[test]
    fn the_window_rule_reads_as_the_exchange_states_it() {
        assert_eq!(
            OKX.window_rule(),
            "OKX refuses timestamps more than 30 s away from its clock"
        );
        assert_eq!(
            KUCOIN.window_rule(),
            "KuCoin refuses timestamps 5 s or more away from its clock"
        );
        assert_eq!(
            BINANCE.window_rule(),
            "Binance accepts requests at most 5000 ms behind and less than 1000 ms ahead of \
             its clock"
        );
    }

    #[test]
    fn skew_is_a_problem_only_outside_the_window() {
        assert_eq!(GATE.skew_problem("GET /t", 60_000), None);
        let p = GATE.skew_problem("GET /t", -61_000).unwrap();
        assert_eq!(
            p.message,
            "GET /t: Gate's server clock is 61000 ms behind ours; Gate refuses timestamps more \
             than 60 s away from its clock"
        );
    }
}
