"""`execsvc bench` judges its figures: targets met or MISSED in the table and in `--json`.
No timing is asserted here; the benchmarks only have to run and report."""

from __future__ import annotations

import json
import math
import os

import pytest
from aiohttp import web
from typer.testing import CliRunner

from execsvc.bench import http
from execsvc.bench.figures import Figure, Section, Target, render, report_json, summary
from execsvc.bench.http import LoadResult, process_cpu_s
from execsvc.cli import app

runner = CliRunner()


def test_targets_are_judged_both_ways() -> None:
    assert Target("<=", 1.5).met(1.5) and not Target("<", 1.5).met(1.5)
    assert Target(">=", 0.6).met(0.7) and not Target(">", 0.6).met(0.6)
    assert not Target("<", 5.0).met(math.nan)
    section = Section("demo", "demo benchmark", [
        Figure("fast enough", 0.9, "x", Target("<", 1.0)),
        Figure("too slow", 7.5, "s", Target("<", 5.0), note="median of 3"),
        Figure("information", 42.0, "req/s"),
    ], notes=["measured on nothing"])
    text = render(section).splitlines()
    assert text[0] == "demo benchmark"
    assert text[1].split()[-1] == "ok" and text[2].split()[-1] == "MISSED"
    assert "target < 5 s" in text[2] and "(median of 3)" in text[3]
    assert "target" not in text[4] and text[-1].strip() == "measured on nothing"
    assert summary([section]) == ("1 of 2 figures with a target MISSED it: demo: too slow")
    report = report_json([section])
    assert report["missed"] == [{"section": "demo", "figure": "too slow"}]
    assert report["sections"][0]["figures"][0]["target"] == {"op": "<", "limit": 1.0}
    assert report["sections"][0]["figures"][2]["met"] is None


def test_bench_prints_each_figure_next_to_its_target() -> None:
    result = runner.invoke(app, ["bench", "--only", "map", "--repeats", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    floor = next(line for line in lines if line.strip().startswith("build_map / floor"))
    assert "target <= 1.5 x" in floor and floor.split()[-1] in ("ok", "MISSED")
    assert "floor" in result.output and "kernel numba" in result.output
    assert lines[-1].startswith(("all 2", "all 3")) or "MISSED it" in lines[-1]


def test_bench_json_for_machines() -> None:
    result = runner.invoke(app, ["bench", "--only", "documents", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    [section] = report["sections"]
    assert section["key"] == "documents"
    judged = [f for f in section["figures"] if f["target"] is not None]
    assert [f["target"] for f in judged] == [{"op": "<", "limit": 1.0}]
    assert isinstance(judged[0]["met"], bool) and judged[0]["value"] > 0
    assert all(f["unit"] == "x" for f in section["figures"])


def test_unknown_benchmark_is_one_clean_line() -> None:
    result = runner.invoke(app, ["bench", "--only", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark nope; choose from map, documents" in result.output


def test_server_cpu_is_read_per_process_and_per_request() -> None:
    before = process_cpu_s(os.getpid())
    sum(i * i for i in range(300_000))
    after = process_cpu_s(os.getpid())
    assert before is not None and after is not None and after > before
    assert process_cpu_s(None) is None and process_cpu_s(2**22 + 12345) is None
    assert LoadResult(200, 0, 1.0, [], server_cpu_s=0.01).server_us_per_request == 50.0
    assert math.isnan(LoadResult(200, 0, 1.0, []).server_us_per_request)


def test_slices_of_one_endpoint_sum_to_one_result() -> None:
    parts = [LoadResult(100, 1, 0.5, [1.0, 2.0], 0.01), LoadResult(300, 0, 0.5, [3.0], 0.02)]
    whole = LoadResult.summed(parts)
    assert (whole.requests, whole.errors, whole.seconds) == (400, 1, 1.0)
    assert whole.latencies_ms == [1.0, 2.0, 3.0] and whole.rps == 400.0
    assert whole.server_us_per_request == pytest.approx(75.0)
    unknown_cpu = LoadResult.summed([parts[0], LoadResult(10, 0, 0.1, [], None)])
    assert unknown_cpu.server_cpu_s is None


async def test_endpoints_compared_are_loaded_in_turns(monkeypatch) -> None:
    """Each endpoint's load is split into `ROUNDS` slices taken round robin, so a drift of the
    machine's load reaches every endpoint of a comparison alike."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        if not seen or seen[-1] != request.path:
            seen.append(request.path)
        return web.Response(text="ok")

    server = web.Application()
    server.router.add_get("/a", answer)
    server.router.add_get("/b", answer)
    runner_ = web.AppRunner(server)
    await runner_.setup()
    site = web.TCPSite(runner_, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(http, "FIRST_WARMUP_S", 0.0)
    monkeypatch.setattr(http, "WARMUP_S", 0.0)
    try:
        results = await http._in_turns(
            f"http://127.0.0.1:{port}",
            (http.Endpoint("a", "GET", "/a"), http.Endpoint("b", "GET", "/b")), 2, 0.25)
    finally:
        await runner_.cleanup()
    assert seen == ["/a", "/b"] * http.ROUNDS
    assert set(results) == {"a", "b"}
    assert all(r.requests > 0 and r.errors == 0 for r in results.values())
    assert results["a"].seconds == pytest.approx(0.25, rel=0.5)
