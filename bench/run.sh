#!/usr/bin/env bash
# The performance benchmark (issues 3 and 9): KeyWarden vs ccxt vs the floor client, against the
# built-in simulator on loopback. Run by hand from anywhere; see bench/README.md.
#   bench/run.sh                  # N = 1,000 and 10,000; daemon: 5 rounds every 10 s at 10,000
#   bench/run.sh --n 200 --rounds 2 --schedule '*/5 * * * * *'     # a quick smoke run
# Extra arguments go to bench/bench.py (--help lists them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-$root/target}"

# Release builds for every measurement.
(cd "$root" && cargo build --release --locked --bin keywarden --example floor)

# The ccxt baseline lives in its own venv, pinned by requirements.txt.
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

command -v curl >/dev/null || { echo "bench: curl is needed for the /metrics timing" >&2; exit 2; }

exec python3 "$here/bench.py" \
    --keywarden "$target/release/keywarden" \
    --floor "$target/release/examples/floor" \
    --python "$venv/bin/python" \
    "$@"
