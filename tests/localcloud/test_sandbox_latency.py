"""Sandboxes answer in the time the vendors take when given a latency profile (``localcloud.latency``), and
NetSuite counts that time against its account-wide concurrency limit, refusing what is over it as NetSuite
does: 429 with ``o:errorCode`` ``CONCURRENCY_LIMIT_EXCEEDED``."""

from __future__ import annotations

import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from localcloud import latency
from localcloud.sandboxes import HubSpotSandbox
from localcloud.sandboxes.netsuite import NetSuiteSandbox
from tests.connectors.test_netsuite_connector import new_sandbox

TOKEN = "pat-latency"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, float]:
    started = time.monotonic()
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body or b"null"), time.monotonic() - started


def test_every_api_request_takes_a_time_in_the_range_and_control_calls_none() -> None:
    with HubSpotSandbox(webhook_url="http://127.0.0.1:9/", client_secret="s", access_token=TOKEN) as sandbox:
        assert sandbox.latency == (0.0, 0.0)
        sandbox.set_latency(0.2, 0.3)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        times = [get(f"{sandbox.url}/crm/v3/objects/deals/1", auth)[2] for _ in range(3)]
        assert all(0.2 <= t < 0.6 for t in times), times
        status, body, took = get(f"{sandbox.url}/_sandbox/latency")
        assert (status, body) == (200, {"min_s": 0.2, "max_s": 0.3}) and took < 0.2


def test_latency_is_set_over_the_control_api_and_refused_when_inverted() -> None:
    with HubSpotSandbox(webhook_url="http://127.0.0.1:9/", client_secret="s", access_token=TOKEN) as sandbox:
        request = urllib.request.Request(
            f"{sandbox.url}/_sandbox/latency", data=b'{"min_s": 0.1, "max_s": 0.4}', method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"min_s": 0.1, "max_s": 0.4}
        assert sandbox.latency == (0.1, 0.4)
        with pytest.raises(ValueError):
            sandbox.set_latency(0.5, 0.1)


def test_netsuite_counts_its_latency_against_the_concurrency_limit() -> None:
    # Given an account with a limit of 1 whose requests take 0.5 s
    netsuite: NetSuiteSandbox
    with new_sandbox(concurrency_limit=1) as netsuite:  # type: ignore[assignment]
        netsuite.set_latency(0.5)
        url = f"{netsuite.url}/services/rest/record/v1/customer/1"
        results: list[tuple[int, Any, float]] = []

        def call() -> None:
            results.append(get(url))  # unsigned: a 401 after the wait, but it is in flight meanwhile

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.1)
        for t in threads:
            t.join()
        # Then the request that came while the first was in flight is refused at once, as NetSuite does
        [refused] = [r for r in results if r[0] == 429]
        assert refused[1]["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
        assert refused[2] < 0.3
        assert netsuite.concurrency()["rejected"] == 1


def test_latency_specs() -> None:
    assert latency.parse(None) == {} == latency.parse("off")
    realistic = latency.parse("realistic")
    assert realistic["netsuite"] == (0.3, 1.5) and realistic["stripe"] == (0.1, 0.4)
    assert latency.parse("realistic,netsuite=1.5")["netsuite"] == (1.5, 1.5)
    assert latency.parse("netsuite=1.2-1.5, stripe=0.1-0.4") == {"netsuite": (1.2, 1.5), "stripe": (0.1, 0.4)}
    assert latency.parse({"avatax": 0.2}) == {"avatax": (0.2, 0.2)}
    for bad in ("fast", "oracle=1", "netsuite=2-1", "netsuite=soon"):
        with pytest.raises(ValueError):
            latency.parse(bad)
    assert latency.describe({"netsuite": (0.3, 1.5)}) == "netsuite 0.3-1.5 s"


def test_o2c_local_up_reads_the_profile_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from localcloud import main

    monkeypatch.setenv(latency.ENV_VAR, "netsuite=slow")
    assert main.run(api_port=0, aws_port=0) == 2  # refused before anything starts
    assert "O2C_SANDBOX_LATENCY" in capsys.readouterr().err
    seen: dict[str, object] = {}

    class Cloud:
        def __init__(self, **kwargs: object) -> None:
            seen.update(kwargs)
            raise RuntimeError("not booted in this test")

    monkeypatch.setenv(latency.ENV_VAR, "realistic,netsuite=1.5")
    monkeypatch.setattr(main, "LocalCloud", Cloud)
    with pytest.raises(RuntimeError, match="not booted"):
        main.run(api_port=0, aws_port=0)
    assert seen["sandbox_latency"] == {**latency.PROFILES["realistic"], "netsuite": (1.5, 1.5)}


def test_lognormal_latency_specs() -> None:
    assert latency.parse("netsuite=lognormal:0.8:0.3") == {"netsuite": latency.Lognormal(0.8, 0.3)}
    assert latency.parse("realistic,netsuite=lognormal:0.8")["netsuite"] == latency.Lognormal(0.8, 0.5)
    for bad in ("netsuite=lognormal:0", "netsuite=lognormal:soon", "netsuite=lognormal:0.8:-1"):
        with pytest.raises(ValueError):
            latency.parse(bad)
    assert (
        latency.describe({"netsuite": latency.Lognormal(0.8, 0.5)})
        == "netsuite lognormal median 0.8 s, sigma 0.5"
    )
    assert latency.as_json(latency.Lognormal(0.8, 0.5)) == {"lognormal": {"median_s": 0.8, "sigma": 0.5}}


def test_a_lognormal_latency_has_its_median_and_its_long_tail() -> None:
    with HubSpotSandbox(webhook_url="http://127.0.0.1:9/", client_secret="s", access_token=TOKEN) as sandbox:
        # Given a lognormal latency set over the control API: median 0.8 s, sigma 0.5
        request = urllib.request.Request(
            f"{sandbox.url}/_sandbox/latency", data=b'{"median_s": 0.8, "sigma": 0.5}', method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"median_s": 0.8, "sigma": 0.5}
        assert sandbox.lognormal_latency == (0.8, 0.5) and sandbox.latency == (0.0, 0.0)
        # Then the waits it draws have that median, and 5 % of them exceed median * e^(1.645 sigma) = 1.82 s
        random.seed(16)
        waits = sorted(sandbox._latency_s() for _ in range(4000))
        assert 0.76 < waits[2000] < 0.84
        over = sum(w > 0.8 * math.exp(1.645 * 0.5) for w in waits) / len(waits)
        assert 0.035 < over < 0.065
        # and a uniform range set afterwards replaces it
        sandbox.set_latency(0.1, 0.2)
        assert sandbox.lognormal_latency is None and 0.1 <= sandbox._latency_s() <= 0.2


def test_netsuite_adds_up_the_slot_seconds_its_admitted_requests_held() -> None:
    # Given an account with a limit of 2 whose requests take 0.3 s
    netsuite: NetSuiteSandbox
    with new_sandbox(concurrency_limit=2) as netsuite:  # type: ignore[assignment]
        netsuite.set_latency(0.3)
        url = f"{netsuite.url}/services/rest/record/v1/customer/1"
        # When three requests arrive at once (one of them over the limit)
        threads = [threading.Thread(target=get, args=(url,)) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        stats = netsuite.concurrency()
        # Then the two admitted held a slot 0.3 s each; the refused one held none
        assert (stats["admitted"], stats["rejected"]) == (2, 1)
        assert 0.6 <= stats["busy_s"] < 0.8
