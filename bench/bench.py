#!/usr/bin/env python3
"""Runs the whole benchmark (see bench/README.md); `bench/run.sh` builds and calls this.

Every figure is taken in this one run, against one simulator process on loopback:
  - one-pass checks of N connections by `keywarden check --json`, the ccxt baseline and the
    floor client, for each N;
  - the daemon (`keywarden run`) at the largest N over a fixed number of scheduled rounds:
    CPU, peak RSS, store bytes after round 1 and after the last round, /metrics scrape time,
    start-to-READY time.
CPU time and peak RSS of a one-pass tool come from wait4(2) on the child (ru_utime + ru_stime,
ru_maxrss, i.e. VmHWM at exit); the daemon's come from /proc/PID/stat and VmHWM in
/proc/PID/status, read after its last round and before anything else (the scrapes) runs.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def measure(cmd, out_path, env=None):
    """Runs cmd to completion; wall seconds, CPU seconds and peak RSS of the child from wait4."""
    with open(out_path, "wb") as out, open(out_path + ".err", "wb") as err:
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": p.returncode,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024.0,
    }


def gen_config(work, n, sim_port, metrics_port, schedule, concurrency, tag):
    path = os.path.join(work, f"keywarden-{tag}.toml")
    state = os.path.join(work, f"state-{tag}")
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen.py"), "config", "--n", str(n),
         "--sim-port", str(sim_port), "--state-dir", state, "--metrics-port", str(metrics_port),
         "--schedule", schedule, "--concurrency", str(concurrency), "--out", path],
        check=True,
    )
    return path, state


def run_check(a, work, n, sim_port):
    config, _ = gen_config(work, n, sim_port, free_port(), "0 */5 * * * *", a.concurrency, f"check-{n}")
    out = os.path.join(work, f"check-{n}.jsonl")
    r = measure([a.keywarden, "check", "--config", config, "--json"], out)
    with open(out) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    r["checks"] = len(lines)
    r["ok"] = sum(1 for v in lines if v.get("status") == "connected")
    if r["ok"] != n:
        bad = next((v for v in lines if v.get("status") != "connected"), None)
        r["first_error"] = bad
    return r


def run_json_tool(cmd, work, name):
    out = os.path.join(work, f"{name}.json")
    r = measure(cmd, out)
    with open(out) as f:
        text = f.read().strip()
    try:
        summary = json.loads(text.splitlines()[-1])
    except (ValueError, IndexError):
        with open(out + ".err") as f:
            raise RuntimeError(f"{name} printed no summary; stderr: {f.read()[-2000:]}")
    r["checks"] = summary["checks"]
    r["ok"] = summary["ok"]
    if summary.get("first_error"):
        r["first_error"] = summary["first_error"]
    return r


class NotifyListener:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET; notes when READY=1 came."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.ready_at = None
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if self.ready_at is None and b"READY=1" in data.split(b"\n"):
                self.ready_at = time.monotonic()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15
    return (int(fields[11]) + int(fields[12])) / TICKS


def stop(p, timeout=60):
    """SIGTERM, as systemd stops the service; SIGKILL if it has not exited within `timeout` s."""
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def proc_status_mb(pid, field):
    """A memory figure of /proc/PID/status (`VmHWM`: peak resident, `VmRSS`: resident now), MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def proc_hwm_mb(pid):
    return proc_status_mb(pid, "VmHWM")


def du_bytes(path):
    out = subprocess.run(["du", "-sb", path], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def scrape_ms(port):
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{http_code} %{size_download}",
         f"http://127.0.0.1:{port}/metrics"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    if out[1] != "200":
        raise RuntimeError(f"/metrics answered {out[1]}")
    return float(out[0]) * 1000.0, int(out[2])


# The daemon sums up each firing of a schedule in one line when its last check is done:
#   INFO keywarden::daemon: round done schedule=... checked=10000 not_connected=0 changed=0 took_ms=9012
ROUND = re.compile(rb"keywarden::daemon(?:::round)?: round done [^\n]*?checked=(\d+) not_connected=(\d+)")


def run_daemon(a, work, n, sim_port):
    metrics_port = free_port()
    config, state = gen_config(work, n, sim_port, metrics_port, a.schedule, a.concurrency, f"run-{n}")
    log_path = os.path.join(work, f"run-{n}.log")
    notify_path = os.path.join(work, "notify.sock")
    listener = NotifyListener(notify_path)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, KEYWARDEN_LOG="info")
    target = a.rounds * n
    r = {"rounds": a.rounds, "schedule": a.schedule}
    with open(log_path, "wb") as log:
        start = time.monotonic()
        p = subprocess.Popen([a.keywarden, "run", "--config", config], stdout=log, stderr=log, env=env)
        try:
            checked, offset, round1 = 0, 0, None
            cpu_at_rounds, store_at_rounds = [], []
            deadline = start + a.daemon_timeout
            while checked < target:
                if p.poll() is not None:
                    raise RuntimeError(f"the daemon exited early ({p.returncode}); see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {checked} of {target} checks after {a.daemon_timeout} s")
                time.sleep(0.25)
                with open(log_path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                # count whole lines only
                cut = chunk.rfind(b"\n") + 1
                finished = [int(m.group(1)) for m in ROUND.finditer(chunk[:cut])]
                if finished:
                    # CPU at the end of each round, so the first round (an empty store: every
                    # connection's first span is written) and the steady ones are told apart
                    cpu_at_rounds.append((checked + sum(finished), proc_cpu_s(p.pid)))
                    store_at_rounds.append(du_bytes(state))
                checked += sum(finished)
                offset += cut
                if round1 is None and checked >= n:
                    round1 = du_bytes(state)
                    r["round1_s"] = time.monotonic() - start
            r["wall_s"] = time.monotonic() - start
            r["checks"] = checked
            r["cpu_s"] = proc_cpu_s(p.pid)
            r["cpu_at_rounds"] = cpu_at_rounds
            if len(cpu_at_rounds) >= 2:
                (c1, s1), (cl, sl) = cpu_at_rounds[0], cpu_at_rounds[-1]
                r["first_round_cpu_s"], r["first_round_checks"] = s1, c1
                r["steady_cpu_s"], r["steady_checks"] = sl - s1, cl - c1
            r["rss_mb"] = proc_hwm_mb(p.pid)
            r["store_round1_bytes"] = round1
            # sled writes in the background (every 500 ms): the first round's last writes reach
            # the disk after that round ends, so growth is judged from the end of round 2 on
            r["store_by_round"] = store_at_rounds
            r["store_last_bytes"] = du_bytes(state)
            r["ready_s"] = None if listener.ready_at is None else listener.ready_at - start
            times, size = [], 0
            for _ in range(a.scrapes):
                ms, size = scrape_ms(metrics_port)
                times.append(ms)
            r["metrics_ms"] = statistics.median(times)
            r["metrics_all_ms"] = times
            r["metrics_bytes"] = size
        finally:
            stop(p, timeout=30)
            listener.close()
    r["exit"] = p.returncode
    with open(log_path, "rb") as f:
        text = f.read()
    # rounds that ended after the CPU reading are logged too: count what was not connected
    # in the rounds that were counted
    rounds = ROUND.findall(text)
    counted, not_connected = 0, 0
    for checked, bad in rounds:
        if counted >= r["checks"]:
            break
        counted += int(checked)
        not_connected += int(bad)
    r["ok"] = r["checks"] - not_connected
    r["skipped_or_failed_note"] = (
        "" if not_connected == 0 else f"{not_connected} checks not connected; see {log_path}"
    )
    return r


def per_k(r):
    return r["cpu_s"] / (r["checks"] / 1000.0) if r.get("checks") else float("nan")


def first_round(d):
    """The daemon's first round alone: the store is empty, so every check writes a new span."""
    if "first_round_checks" not in d:
        return None
    return {"checks": d["first_round_checks"], "cpu_s": d["first_round_cpu_s"], "rss_mb": d["rss_mb"]}


def steady(d):
    """The daemon's later rounds: nothing changes, as on a host whose keys are healthy."""
    if not d.get("steady_checks"):
        return None
    return {"checks": d["steady_checks"], "cpu_s": d["steady_cpu_s"], "rss_mb": d["rss_mb"]}


def table(results, daemon):
    rows = [("tool", "N", "checks", "ok", "wall s", "CPU s/1k checks", "peak RSS MB")]
    for n in sorted(results):
        for tool in ("keywarden check", "ccxt", "floor"):
            r = results[n].get(tool)
            if r:
                rows.append((tool, str(n), str(r["checks"]), str(r["ok"]), f"{r['wall_s']:.2f}",
                             f"{per_k(r):.3f}", f"{r['rss_mb']:.1f}"))
    if daemon:
        rows.append((f"keywarden run ({daemon['rounds']} rounds)", str(daemon["n"]),
                     str(daemon["checks"]), str(daemon["ok"]), f"{daemon['wall_s']:.2f}",
                     f"{per_k(daemon):.3f}", f"{daemon['rss_mb']:.1f}"))
        for label, part in (("  of which round 1", first_round(daemon)), ("  of which rounds 2+", steady(daemon))):
            if part:
                rows.append((label, "", str(part["checks"]), "", "", f"{per_k(part):.3f}", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("ratios (same run)       N    CPU/check KW/ccxt  KW/floor   peak RSS KW/ccxt  KW/floor")
    for n in sorted(results):
        kw, cc, fl = (results[n].get(t) for t in ("keywarden check", "ccxt", "floor"))
        if not kw:
            continue
        def ratio(f, other):
            return f"{f(kw) / f(other):8.2f}x" if other else "       -"
        rss = lambda r: r["rss_mb"]
        lines.append(f"keywarden check  {n:>8}   {ratio(per_k, cc)}  {ratio(per_k, fl)}   {ratio(rss, cc)}  {ratio(rss, fl)}")
    if daemon and daemon["n"] in results:
        fl = results[daemon["n"]].get("floor")
        cc = results[daemon["n"]].get("ccxt")
        d = daemon
        def dratio(f, other):
            return f"{f(d) / f(other):8.2f}x" if other else "       -"
        rss = lambda r: r["rss_mb"]
        lines.append(f"keywarden run    {d['n']:>8}   {dratio(per_k, cc)}  {dratio(per_k, fl)}   {dratio(rss, cc)}  {dratio(rss, fl)}")
        s = steady(d)
        if s:
            def sratio(other):
                return f"{per_k(s) / per_k(other):8.2f}x" if other else "       -"
            lines.append(f"  rounds 2+      {d['n']:>8}   {sratio(cc)}  {sratio(fl)}")
    return "\n".join(lines)


def goals(results, daemon):
    out = []
    def line(ok, text):
        out.append(f"[{'met' if ok else 'MISSED'}] {text}")
    big = max(results)
    kw, fl = results[big].get("keywarden check"), results[big].get("floor")
    if kw and fl:
        q = per_k(kw) / per_k(fl)
        line(q <= 1.25, f"CPU per check within 1.25x of the floor (check, N={big}): {q:.2f}x")
    if daemon and fl:
        q = per_k(daemon) / per_k(fl)
        line(q <= 1.25, f"CPU per check within 1.25x of the floor (daemon, N={daemon['n']}): {q:.2f}x")
        s = steady(daemon)
        if s:
            q = per_k(s) / per_k(fl)
            line(q <= 1.25, f"CPU per check within 1.25x of the floor (daemon, rounds 2+): {q:.2f}x")
    if kw:
        line(kw["rss_mb"] <= 48, f"peak RSS at N={big} <= 48 MB (check): {kw['rss_mb']:.1f} MB")
    if daemon:
        d = daemon
        line(d["rss_mb"] <= 48, f"peak RSS at N={d['n']} <= 48 MB (daemon): {d['rss_mb']:.1f} MB")
        by_round = d.get("store_by_round") or [d["store_round1_bytes"]]
        base_round = 2 if len(by_round) >= 2 else 1
        base = by_round[base_round - 1]
        g = d["store_last_bytes"] / base
        line(g <= 1.05, f"store independent of check count: {by_round[0]} B after round 1, {base} B after "
             f"round {base_round}, {d['store_last_bytes']} B after {d['checks']} checks ({g:.2f}x)")
        line(d["metrics_ms"] <= 50, f"/metrics at N={d['n']} <= 50 ms: median {d['metrics_ms']:.1f} ms "
             f"of {len(d['metrics_all_ms'])} ({d['metrics_bytes']} bytes)")
        ready = d["ready_s"]
        line(ready is not None and ready <= 1.0,
             f"READY within 1 s: {'never' if ready is None else f'{ready * 1000:.0f} ms'}")
    return "\n".join(out)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--keywarden", required=True)
    p.add_argument("--floor", required=True)
    p.add_argument("--python", required=True, help="the venv's python, with ccxt")
    p.add_argument("--n", default="1000,10000")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--schedule", default="*/10 * * * * *")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--scrapes", type=int, default=7)
    p.add_argument("--daemon-timeout", type=float, default=600)
    p.add_argument("--tools", default="keywarden,ccxt,floor,daemon")
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    a = p.parse_args(argv)
    ns = [int(x) for x in a.n.split(",")]
    tools = set(a.tools.split(","))
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="run-", dir=a.out)
    scenarios = os.path.join(work, "scenarios.toml")
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "scenarios", "--n", str(max(ns)),
                    "--out", scenarios], check=True)
    sim_port = free_port()
    sim_log = open(os.path.join(work, "sim.log"), "wb")
    sim = subprocess.Popen([a.keywarden, "sim", "--listen", f"127.0.0.1:{sim_port}", "--scenarios", scenarios],
                           stdout=sim_log, stderr=sim_log)
    results, daemon = {}, None
    try:
        wait_port(sim_port)
        base = f"http://127.0.0.1:{sim_port}"
        for n in ns:
            results[n] = {}
            if "keywarden" in tools:
                print(f"keywarden check, N={n} ...", flush=True)
                results[n]["keywarden check"] = run_check(a, work, n, sim_port)
            if "floor" in tools:
                print(f"floor, N={n} ...", flush=True)
                results[n]["floor"] = run_json_tool(
                    [a.floor, scenarios, base, str(n), str(a.concurrency)], work, f"floor-{n}")
            if "ccxt" in tools:
                print(f"ccxt, N={n} ...", flush=True)
                results[n]["ccxt"] = run_json_tool(
                    [a.python, os.path.join(HERE, "ccxt_check.py"), "--scenarios", scenarios,
                     "--sim", base, "--n", str(n), "--threads", str(a.concurrency)], work, f"ccxt-{n}")
        if "daemon" in tools:
            n = max(ns)
            print(f"keywarden run, N={n}, {a.rounds} rounds on '{a.schedule}' ...", flush=True)
            daemon = run_daemon(a, work, n, sim_port)
            daemon["n"] = n
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=10)
        sim_log.close()
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({"results": results, "daemon": daemon}, f, indent=2, default=str)
    print()
    print(table(results, daemon))
    print()
    print(goals(results, daemon))
    for n in results:
        for tool, r in results[n].items():
            if r.get("first_error"):
                print(f"note: {tool} N={n}: {r['ok']} of {r['checks']} ok; first failure: {r['first_error']}")
    if daemon and daemon.get("skipped_or_failed_note"):
        print(f"note: daemon: {daemon['skipped_or_failed_note']}")
    print(f"\nraw figures and logs: {work}")


if __name__ == "__main__":
    main(sys.argv[1:])
