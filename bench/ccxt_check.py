#!/usr/bin/env python3
"""Baseline 1: the same key checks KeyWarden makes, done with ccxt and a thread pool.

    ccxt_check.py --scenarios bench-scenarios.toml --sim http://127.0.0.1:PORT --n 1000

MEXC: GET /api/v3/time, GET /api/v3/account, GET /api/v3/apiKeyInfo?accessKey=...
KuCoin: GET /api/v1/timestamp, GET /api/v1/status, GET /api/v1/user/api-key, GET /api/v1/accounts
through ccxt's own implicit API methods, so ccxt builds and signs every request itself; only
`urls['api']` is pointed at the simulator. A check passes when every call succeeds and the key
reports no withdraw right. Prints one JSON line: checks, ok, failed, first error.
"""

import argparse
import json
import sys
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor

import ccxt
import requests

_local = threading.local()


def session():
    # One pooled session per worker thread (requests.Session is not thread-safe), shared by
    # every exchange object that thread makes: keep-alive like KeyWarden's pooled client.
    s = getattr(_local, "session", None)
    if s is None:
        s = requests.Session()
        _local.session = s
    return s


def check_mexc(sim, key):
    ex = ccxt.mexc(
        {"apiKey": key["api_key"], "secret": key["api_secret"],
            "session": session(),
            # budgets are raised for KeyWarden too: throttling would only add sleeps
            "enableRateLimit": False,
        }
    )
    base = f"{sim}/mexc"
    ex.urls["api"]["spot"] = {"public": base, "private": base}
    ex.spotPublicGetTime()
    account = ex.spotPrivateGetAccount()
    if not isinstance(account.get("balances"), list):
        raise RuntimeError(f"account without balances: {account}")
    info = ex.spotPrivateGetApiKeyInfo({"accessKey": key["api_key"]})
    permissions = str(info.get("permissions", "")).split(",")
    if "SPOT_WITHDRAW_WRITE" in permissions:
        raise RuntimeError("withdraw enabled")
    if not info.get("ipWhiteList"):
        raise RuntimeError("no IP whitelist")


def check_kucoin(sim, key):
    ex = ccxt.kucoin(
        {
            "apiKey": key["api_key"],
            "secret": key["api_secret"],
            "password": key["passphrase"],
            "session": session(),
            "enableRateLimit": False,
        }
    )
    base = f"{sim}/kucoin"
    ex.urls["api"]["public"] = base
    ex.urls["api"]["private"] = base
    ex.publicGetTimestamp()
    status = ex.publicGetStatus()
    if status["data"]["status"] != "open":
        raise RuntimeError(f"exchange status {status['data']['status']}")
    info = ex.privateGetUserApiKey()
    permissions = str(info["data"].get("permission", "")).split(",")
    if "Transfer" in permissions:
        raise RuntimeError("withdraw enabled")
    if not info["data"].get("ipWhitelist"):
        raise RuntimeError("no IP whitelist")
    accounts = ex.privateGetAccounts()
    if not isinstance(accounts.get("data"), list):
        raise RuntimeError(f"accounts without a list: {accounts}")


def check(sim, key):
    try:
        if key["exchange"] == "mexc":
            check_mexc(sim, key)
        else:
            check_kucoin(sim, key)
        return None
    except Exception as e:  # a failed check is counted, not fatal
        return f"{key['exchange']} {key['api_key']}: {type(e).__name__}: {e}"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenarios", required=True)
    p.add_argument("--sim", required=True, help="simulator base URL, e.g. http://127.0.0.1:18080")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--threads", type=int, default=64)
    a = p.parse_args(argv)
    with open(a.scenarios, "rb") as f:
        keys = tomllib.load(f)["keys"][: a.n]
    with ThreadPoolExecutor(max_workers=a.threads) as pool:
        errors = [e for e in pool.map(lambda k: check(a.sim, k), keys) if e]
    print(
        json.dumps(
            {
                "tool": "ccxt",
                "ccxt": ccxt.__version__,
                "checks": len(keys),
                "ok": len(keys) - len(errors),
                "failed": len(errors),
                "first_error": errors[0] if errors else None,
            }
        )
    )
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
