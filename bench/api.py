#!/usr/bin/env python3
"""The daemon at N connections registered over the API vs the same N in the config file
(issue 14). See bench/README.md, "API-registered connections".

    bench/api.py --keywarden target/release/keywarden [--n 10000] [--rounds 4]

Both daemons watch the same N simulated healthy spot keys (bench/gen.py, MEXC and KuCoin
alternating) against one simulator on loopback, on the same schedule:
  - file: `gen.py config` writes the N connections into the config file;
  - api:  the config file has none and an `[api]` section; N `PUT /api/v1/connections/NAME`
          (8 client threads) register them, each stored encrypted, flushed, checked once and
          scheduled before it is answered.
Measured per daemon, from /proc: CPU seconds per 1,000 checks in steady rounds (from the end of
the first full round to the end of the last; the registration's own checks are not in it),
VmHWM (peak RSS) and VmRSS at the end; for api also the registration: wall time, the daemon's
CPU for it, PUTs per second. Ratios are api / file from the same run. Stdlib only.
"""

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (free_port, wait_port, proc_cpu_s, proc_hwm_mb, stop)
import gen  # noqa: E402  (key, name)


# `round done ... checked=N`, whichever module of the daemon logs it.
ROUND = re.compile(rb"round done [^\n]*?checked=(\d+)")


def proc_rss_mb(pid):
    return bench.proc_status_mb(pid, "VmRSS")


def write_config(work, tag, n, sim_port, schedule, api=None):
    path = os.path.join(work, f"keywarden-{tag}.toml")
    state = os.path.join(work, f"state-{tag}")
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen.py"), "config", "--n", str(n),
         "--sim-port", str(sim_port), "--state-dir", state,
         "--metrics-port", str(bench.free_port()), "--schedule", schedule, "--out", path],
        check=True,
    )
    if api:
        with open(path) as f:
            text = f.read()
        section = (
            "[api]\n"
            f'listen = "127.0.0.1:{api["port"]}"\n'
            f'tokens = ["{api["token"]}"]\n'
            f'store_key = "{api["store_key"]}"\n\n'
        )
        # before the first [connections.*] table, if any: a TOML table ends at the next header
        with open(path, "w") as f:
            f.write(text.replace("[daemon.request_budget]", section + "[daemon.request_budget]", 1))
    return path


class Rounds:
    """Follows the daemon's `round done` lines; the CPU at the end of each round."""

    def __init__(self, pid, log_path):
        self.pid, self.log_path, self.offset = pid, log_path, 0
        self.ends = []  # (checked in that round, cpu s at its end)

    def poll(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        cut = chunk.rfind(b"\n") + 1
        self.offset += cut
        for m in ROUND.finditer(chunk[:cut]):
            self.ends.append((int(m.group(1)), bench.proc_cpu_s(self.pid)))

    def wait_full(self, n, count, timeout):
        """Waits for `count` rounds that each checked all n, after the rounds seen so far."""
        start = len(self.ends)
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            full = [e for e in self.ends[start:] if e[0] >= n]
            if len(full) >= count:
                return full[:count]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(full)} of {count} full rounds after {timeout} s; see {self.log_path}")
            time.sleep(0.25)


def start_daemon(keywarden, config, log_path):
    log = open(log_path, "wb")
    env = dict(os.environ, KEYWARDEN_LOG="info")
    return subprocess.Popen([keywarden, "run", "--config", config], stdout=log, stderr=log, env=env)


def steady(full):
    """CPU s per 1,000 checks from the end of the first full round to the end of the last."""
    (_, c0), rest = full[0], full[1:]
    checks = sum(n for n, _ in rest)
    return (rest[-1][1] - c0) / (checks / 1000.0), checks


def register(n, port, token, sim_port, workers):
    def put(i):
        exchange, api_key, secret, passphrase = gen.key(i)
        body = {
            "exchange": exchange,
            "api_key": api_key,
            "api_secret": secret,
            "base_url": f"http://127.0.0.1:{sim_port}/{exchange}",
        }
        if passphrase:
            body["passphrase"] = passphrase
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/connections/{gen.name(i)}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
        return answer["connection"]["verdict"]["status"]

    with ThreadPoolExecutor(workers) as pool:
        statuses = list(pool.map(put, range(n)))
    return sum(1 for s in statuses if s == "connected")


def run_file(a, work, sim_port):
    config = write_config(work, "file", a.n, sim_port, a.schedule)
    log_path = os.path.join(work, "file.log")
    p = start_daemon(a.keywarden, config, log_path)
    try:
        rounds = Rounds(p.pid, log_path)
        full = rounds.wait_full(a.n, a.rounds, a.timeout)
        per_k, checks = steady(full)
        return {"cpu_s_per_1k": per_k, "checks": checks, "hwm_mb": bench.proc_hwm_mb(p.pid),
                "rss_mb": proc_rss_mb(p.pid)}
    finally:
        bench.stop(p)


def run_api(a, work, sim_port):
    api = {"port": bench.free_port(), "token": secrets.token_hex(16), "store_key": secrets.token_hex(32)}
    config = write_config(work, "api", 0, sim_port, a.schedule, api)
    log_path = os.path.join(work, "api.log")
    p = start_daemon(a.keywarden, config, log_path)
    try:
        bench.wait_port(api["port"])
        cpu0, t0 = bench.proc_cpu_s(p.pid), time.monotonic()
        connected = register(a.n, api["port"], api["token"], sim_port, a.workers)
        wall, cpu = time.monotonic() - t0, bench.proc_cpu_s(p.pid) - cpu0
        after_registration = {"wall_s": wall, "daemon_cpu_s": cpu, "puts_per_s": a.n / wall,
                              "connected": connected, "rss_mb": proc_rss_mb(p.pid)}
        rounds = Rounds(p.pid, log_path)
        rounds.poll()
        full = rounds.wait_full(a.n, a.rounds, a.timeout)
        per_k, checks = steady(full)
        return {"cpu_s_per_1k": per_k, "checks": checks, "hwm_mb": bench.proc_hwm_mb(p.pid),
                "rss_mb": proc_rss_mb(p.pid), "registration": after_registration}
    finally:
        bench.stop(p)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--keywarden", required=True)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=4, help="full rounds watched (steady CPU over all but the first)")
    p.add_argument("--schedule", default="*/10 * * * * *")
    p.add_argument("--workers", type=int, default=8, help="client threads doing the PUTs")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="api-", dir=a.out)
    scenarios = os.path.join(work, "scenarios.toml")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "scenarios", "--n", str(a.n),
                    "--out", scenarios], check=True)
    sim_port = bench.free_port()
    sim = subprocess.Popen([a.keywarden, "sim", "--listen", f"127.0.0.1:{sim_port}", "--scenarios", scenarios],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "sim.log"), "wb"))
    try:
        bench.wait_port(sim_port)
        results = {"n": a.n, "schedule": a.schedule, "rounds": a.rounds}
        results["file"] = run_file(a, work, sim_port)
        results["api"] = run_api(a, work, sim_port)
    finally:
        bench.stop(sim)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    f_, a_ = results["file"], results["api"]
    reg = a_["registration"]
    print(f"N = {a.n}, schedule {a.schedule!r}, steady rounds {a.rounds - 1} (results in {work})")
    print(f"{'':8} {'CPU s/1k checks':>16} {'peak RSS MB':>12} {'RSS MB':>8}")
    for tag, r in (("file", f_), ("api", a_)):
        print(f"{tag:8} {r['cpu_s_per_1k']:>16.3f} {r['hwm_mb']:>12.1f} {r['rss_mb']:>8.1f}")
    print(f"{'api/file':8} {a_['cpu_s_per_1k'] / f_['cpu_s_per_1k']:>15.2f}x "
          f"{a_['hwm_mb'] / f_['hwm_mb']:>11.2f}x {a_['rss_mb'] / f_['rss_mb']:>7.2f}x")
    print(f"registration: {a.n} PUTs in {reg['wall_s']:.1f} s ({reg['puts_per_s']:.0f}/s, "
          f"{a.workers} clients), daemon CPU {reg['daemon_cpu_s']:.1f} s, "
          f"{reg['connected']} answered connected")


if __name__ == "__main__":
    main(sys.argv[1:])
