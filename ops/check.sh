#!/usr/bin/env bash
# Ops checks (issue 5), run by .ci/run before `cargo test`:
#   1. systemd unit: `systemd-analyze verify`, and `systemd-analyze security` exposure <= 2.0
#   2. Prometheus: `promtool check config` (scrape job + rules), `promtool test rules`
#   3. Alertmanager: `amtool check-config`
#   4. Debian package: `cargo deb`, and `dpkg-deb -c` lists the binary, the unit and the config
#   5. a real Prometheus on loopback scraping `keywarden demo`: every dashboard expression and
#      every rule expression runs and returns data (ops/promql_check.py)
# Installs what it needs (Debian packages, cargo-deb) quietly; needs root only for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}

step() { printf '\n== ops: %s\n' "$*"; }
fail() { printf '\nops/check.sh: FAIL: %s\n' "$*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------------------------
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /bin/kill ] || missing+=(procps) # the unit's ExecReload; verify wants it to exist
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl ca-certificates)
if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo-deb >/dev/null; then
    step "installing cargo-deb"
    cargo install cargo-deb --locked --quiet
fi

WORK=$(mktemp -d /tmp/keywarden-ops.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The dev profile by default: `cargo test` right after reuses that very build, so CI compiles
# nothing extra. OPS_PROFILE=release checks the optimised binary `cargo deb` ships by default.
PROFILE=${OPS_PROFILE:-dev}
step "building the binary (profile $PROFILE)"
cargo build --locked --quiet --profile "$PROFILE"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [ "$PROFILE" = dev ]; then BIN=$TARGET_DIR/debug/keywarden; else BIN=$TARGET_DIR/$PROFILE/keywarden; fi
[ -x "$BIN" ] || fail "no binary at $BIN"

# --- 1. systemd ------------------------------------------------------------------------------
step "systemd unit"
# No systemd runs as PID 1 here; verify only needs the unit's commands to exist, so the copy
# points ExecStart at the binary just built (the shipped unit says /usr/bin/keywarden).
mkdir -p "$WORK/unit"
sed "s#/usr/bin/keywarden #$BIN #" systemd/keywarden.service >"$WORK/unit/keywarden.service"
grep -q "^ExecStart=$BIN run --config /etc/keywarden/keywarden.toml$" "$WORK/unit/keywarden.service" ||
    fail "ExecStart of systemd/keywarden.service is not /usr/bin/keywarden run --config ..."
systemd-analyze verify --man=no "$WORK/unit/keywarden.service" ||
    fail "systemd-analyze verify systemd/keywarden.service"
security=$(systemd-analyze security --offline=yes --no-pager "$WORK/unit/keywarden.service") ||
    fail "systemd-analyze security systemd/keywarden.service"
exposure=$(sed -n 's/.*Overall exposure level for keywarden.service: \([0-9.]*\).*/\1/p' <<<"$security")
[ -n "$exposure" ] || fail "no exposure level in systemd-analyze security output:\n$security"
echo "systemd-analyze security exposure: $exposure (must be <= $MAX_EXPOSURE)"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
    fail "systemd unit exposure $exposure > $MAX_EXPOSURE:\n$(grep '✗' <<<"$security")"

# --- 2. Prometheus rules, 3. Alertmanager -----------------------------------------------------
step "Prometheus config, rules and rule tests"
promtool check config config/prometheus/scrape.yml
promtool check rules config/prometheus/keywarden-rules.yml
(cd config/prometheus && promtool test rules keywarden-rules.test.yml)
step "Alertmanager config"
amtool check-config config/alertmanager/alertmanager.yml

# --- 4. Debian package ----------------------------------------------------------------------
step "Debian package"
deb=$(cargo deb --no-build --profile "$PROFILE" --quiet --output "$WORK/deb" | tail -n 1)
[ -f "$deb" ] || fail "cargo deb produced no package (got: $deb)"
listing=$(dpkg-deb -c "$deb")
for path in ./usr/bin/keywarden ./lib/systemd/system/keywarden.service ./etc/keywarden/keywarden.toml; do
    grep -q " $path\$" <<<"$listing" || fail "$deb lacks $path:\n$listing"
done
dpkg-deb -e "$deb" "$WORK/control"
grep -qx /etc/keywarden/keywarden.toml "$WORK/control/conffiles" || fail "keywarden.toml is not a conffile"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/keywarden >"$WORK/packaged-keywarden"
chmod +x "$WORK/packaged-keywarden"
"$WORK/packaged-keywarden" --version >/dev/null || fail "the packaged binary does not run"
cmp -s systemd/keywarden.service <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/keywarden.service) ||
    fail "the packaged unit differs from systemd/keywarden.service"
echo "$(basename "$deb"): $(wc -l <<<"$listing") entries, binary + unit + conffile present"

# --- 5. live Prometheus against `keywarden demo` --------------------------------------------
step "live Prometheus scraping keywarden demo"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for SECONDS WHAT COMMAND...
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out waiting for $what"
        sleep 0.5
    done
}

# Email goes to a loopback SMTP sink (deliveries succeed), Telegram to a closed loopback port
# (deliveries fail): both alert counters then have series for the dashboard and the rules.
# Two chat ids: a single one in KEYWARDEN__…__CHAT_IDS is read as an integer, not a list.
python3 ops/fake_smtp.py >"$WORK/smtp.port" 2>"$WORK/smtp.log" &
PIDS+=($!)
wait_for 10 "the SMTP sink" test -s "$WORK/smtp.port"
SMTP_PORT=$(head -n 1 "$WORK/smtp.port")
CLOSED_PORT=$(free_port)

env KEYWARDEN__ALERTS__EMAIL__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" \
    KEYWARDEN__ALERTS__EMAIL__FROM="KeyWarden <keywarden@example.com>" \
    KEYWARDEN__ALERTS__EMAIL__TO="ops@example.com" \
    KEYWARDEN__ALERTS__TELEGRAM__BOT_TOKEN="env:OPS_CHECK_BOT_TOKEN" OPS_CHECK_BOT_TOKEN="123456:ops-check" \
    KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS="-1001234567890,-1001234567891" \
    KEYWARDEN__ALERTS__TELEGRAM__API_URL="http://127.0.0.1:$CLOSED_PORT" \
    "$BIN" demo >"$WORK/demo.out" 2>"$WORK/demo.err" &
PIDS+=($!)
wait_for 60 "keywarden demo to print its metrics URL" grep -q 'curl http://127.0.0.1:[0-9]*/metrics' "$WORK/demo.out"
METRICS=$(grep -o '127.0.0.1:[0-9]*/metrics' "$WORK/demo.out" | head -n 1)
METRICS_ADDR=${METRICS%/metrics}
curl -fsS "http://$METRICS" >/dev/null || fail "demo /metrics not reachable at $METRICS"

PROM_PORT=$(free_port)
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/config/prometheus/keywarden-rules.yml
scrape_configs:
  - job_name: keywarden
    static_configs:
      - targets: ["$METRICS_ADDR"]
YAML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
PROM=http://127.0.0.1:$PROM_PORT
q() { curl -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1"; }
has_result() { q "$1" | grep -q '"result":\[{'; }
wait_for 30 "Prometheus to scrape the demo" has_result 'up{job="keywarden"} == 1'
# A scheduled round (every 10 s in the demo) inside the 30 s rate window, and alerts attempted.
wait_for 45 "a round of checks in the rate window" has_result 'sum(rate(keywarden_checks_total[30s])) > 0'
# A whole round done, so every demo connection has its verdict in the series (a round releases
# its connections over the schedule's 10 s; the first checks alone leave some out).
wait_for 45 "a whole round of checks" has_result 'keywarden_round_duration_seconds'
wait_for 45 "alert deliveries to be counted" has_result 'keywarden_alerts_sent_total and on() keywarden_alerts_failed_total'
sleep 3
python3 ops/promql_check.py "$PROM" grafana/keywarden-dashboard.json ||
    fail "PromQL check: the expressions above"

step "ops checks passed"
