#!/usr/bin/env bash
# The daemon's CPU and peak RSS at the end of each round, for A/B comparisons of one change
# (bench/README.md, "What the profiles showed"). Needs a simulator already serving CONFIG's
# base_url (e.g. the one bench/run.sh leaves in bench/out/run-*/: start it with
# `keywarden sim --listen ... --scenarios scenarios.toml`).
#   bench/rounds.sh KEYWARDEN CONFIG SECONDS
# The config's state_dir is emptied first, so round 1 always starts from an empty store.
set -euo pipefail
keywarden=$1 config=$2 seconds=$3
state=$(sed -n 's/^state_dir *= *"\(.*\)"/\1/p' "$config" | head -n 1)
[ -n "$state" ] && rm -rf "$state"
log=$(mktemp)
"$keywarden" run --config "$config" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
hz=$(getconf CLK_TCK)
cpu() { awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat"; }
seen=0
end=$((SECONDS + seconds))
while [ $SECONDS -lt $end ]; do
    n=$(grep -c "round done" "$log" || true)
    if [ "$n" != "$seen" ]; then
        seen=$n
        echo "round $n  cpu $(cpu) s  peak RSS $(awk '/VmHWM/ {print $2}' "/proc/$pid/status") kB"
    fi
    sleep 0.1
done
echo "end      cpu $(cpu) s"
