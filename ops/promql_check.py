#!/usr/bin/env python3
"""Evaluates every PromQL expression of the Grafana dashboard and every alerting rule against a
live Prometheus (ops/check.sh starts it, scraping `keywarden demo`), through /api/v1/query.

Usage: promql_check.py PROMETHEUS_URL DASHBOARD_JSON

- Dashboard: each panel target's `expr`, with the dashboard variables substituted ($instance,
  $exchange, $connection -> ".*", $__rate_interval -> 30s), must parse and return at least one
  sample that is not NaN. A `label_values(SELECTOR, LABEL)` variable query must find series of
  SELECTOR that carry LABEL.
- Rules (as Prometheus loaded them, /api/v1/rules): each expression must parse. An alert whose
  condition is false on the demo data returns nothing, which looks the same as a misspelt metric;
  so each rule is also evaluated with `bool` added to its comparisons (`x > 900` becomes
  `x > bool 900`, which keeps every series of x), and that must return data. The alerts the demo
  is built to trigger (EXPECTED_FIRING) must return data as written.
Exits 1 naming every expression that failed.
"""
import json
import math
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

SUBSTITUTIONS = {
    "$__rate_interval": "30s",
    "$__interval": "5s",
    "$__range": "1m",
    "${instance}": ".*",
    "${exchange}": ".*",
    "${connection}": ".*",
    "$instance": ".*",
    "$exchange": ".*",
    "$connection": ".*",
}

# The demo's connections (on all ten exchanges) include a withdraw key (carol), broken keys
# (dave, erin, frank, ivan, nick, and pat, whose withdraw right Gate does not reveal), an exchange
# in maintenance (heidi), an unbound key close to expiry (grace) and a key whose rights MEXC does
# not reveal (olga: the dashboard's "Rights KeyWarden cannot verify"); check.sh points its Telegram channel at a closed port, so deliveries fail.
EXPECTED_FIRING = {
    "KeyWardenWithdrawEnabled",
    "KeyWardenConnectionDown",
    "KeyWardenExchangeUnavailable",
    "KeyWardenKeyExpiringSoon",
    "KeyWardenAlertDeliveryFailing",
}

COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)")


def query(base, expr):
    """(ok, result or error text) of an instant query."""
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        return False, f"{body.get('errorType')}: {body.get('error')}"
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return True, [{"value": data["result"]}]
    return True, data["result"]


def has_number(result):
    for sample in result:
        value = sample.get("value", [None, "NaN"])[1]
        try:
            if not math.isnan(float(value)):
                return True
        except ValueError:
            return True
    return False


def substitute(expr):
    for var, value in SUBSTITUTIONS.items():
        expr = expr.replace(var, value)
    if "$" in expr:
        raise ValueError(f"unsubstituted variable in {expr!r}")
    return expr


def with_bool(expr):
    """Adds `bool` to every comparison outside label matchers, strings and ranges."""
    out, depth, quote, i = [], 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            out.append(c)
            if c == "\\":
                out.append(expr[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
            out.append(c)
        elif c in "{[":
            depth += 1
            out.append(c)
        elif c in "}]":
            depth -= 1
            out.append(c)
        elif depth == 0 and (m := COMPARISON.match(expr, i)):
            op = m.group(1)
            rest = expr[m.end():].lstrip()
            out.append(op if rest.startswith("bool") else op + " bool")
            i = m.end()
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def dashboard_queries(node):
    """Every target expr and every variable query in the dashboard JSON."""
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield "panel", node["expr"]
        if node.get("type") == "query" and "definition" in node:
            yield "variable", node["definition"]
        for value in node.values():
            yield from dashboard_queries(value)
    elif isinstance(node, list):
        for value in node:
            yield from dashboard_queries(value)


def series(base, selector):
    url = base + "/api/v1/series?" + urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def main():
    base, dashboard_path = sys.argv[1], sys.argv[2]
    failures, checked = [], 0
    with open(dashboard_path) as f:
        dashboard = json.load(f)
    for kind, raw in dashboard_queries(dashboard):
        checked += 1
        expr = substitute(raw)
        if kind == "variable":
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr.strip())
            if not m:
                failures.append(f"dashboard variable query not understood: {raw}")
                continue
            found = [s for s in series(base, m.group(1)) if m.group(2) in s]
            print(f"  {len(found):3} series  variable {raw}")
            if not found:
                failures.append(f"dashboard variable finds nothing: {raw}")
            continue
        ok, result = query(base, expr)
        if not ok:
            failures.append(f"dashboard expression does not run: {raw}\n      {result}")
        elif not has_number(result):
            failures.append(f"dashboard expression returns no data: {raw}")
        else:
            print(f"  {len(result):3} series  {raw}")

    with urllib.request.urlopen(base + "/api/v1/rules", timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    if not rules:
        failures.append("Prometheus loaded no rules")
    fired = set()
    for rule in rules:
        checked += 1
        name, expr = rule["name"], rule["query"]
        ok, result = query(base, expr)
        if not ok:
            failures.append(f"rule {name} does not run: {expr}\n      {result}")
            continue
        if result:
            fired.add(name)
        ok, operands = query(base, with_bool(expr))
        if not ok or not operands:
            failures.append(f"rule {name}: its series do not exist: {with_bool(expr)}")
            continue
        print(f"  {len(result):3} firing, {len(operands):3} series  rule {name}: {expr}")
    for name in sorted(EXPECTED_FIRING - fired):
        failures.append(f"rule {name} should fire on the demo's data but returns nothing")

    if failures:
        print(f"\n{len(failures)} of {checked} expressions failed:", file=sys.stderr)
        for failure in failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"  all {checked} expressions ran and returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
