"""`make bench` = `python -m bench`: every benchmark, each figure beside its floor.

    .venv/bin/python -m bench [--quick] [--open-needs N] [--rows N] [--only a,b,...]

Parts (all on a real local stack started in a temporary directory: a Temporal dev server on a
SQLite file with the stack's pragmas, embedded PostgreSQL, the product worker as a process):
  append     events/s through the store vs plain inserts (bench/bench_append.py)
  intake     needs accepted/s via submit_need vs bare workflow starts/s
  lifecycle  submit→classify→assign→accept→complete→evaluate→closed vs a bare workflow
             receiving the same three updates; and the same needs with the payload codec
             off (a second product worker), in the same rounds: the codec's cost
  latency    staff action → event visible in need_summary, p50/p95/p99, at 1 new need/s
  memory     RSS of worker and server with N open needs on timers vs N bare timer workflows
  queries    supervisor list and statistics queries on many projected needs
  quality    intake on the labelled set (tests/data): category, tier and unit accuracy,
             sent to a dispatcher, false merges, missed repeats (pure code, no servers)
  capacity   the lifecycle with one and with two product worker processes on one dev server,
             alternating rounds: needs closed/s, CPU per need of each process kind, the
             Temporal server's share; per need: history events and bytes, Temporal's SQLite
             bytes, event rows, bytes, WAL, projection bytes (bench/bench_capacity.py; the
             figures of the capacity plan in docs/operations.md)
Writes bench/results/bench.json and bench/results/staff_action_latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.util import console

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = [
    "quality",
    "append",
    "intake",
    "lifecycle",
    "latency",
    "memory",
    "queries",
    "console",
    "webhooks",
    "capacity",
]

FULL = {
    "intake": 1000,
    "lifecycle": 300,
    "concurrency": 32,
    "latency_needs": 60,
    "open_needs": 2000,
    "rows": 1_000_000,
    "query_runs": 200,
    "append_seconds": 5.0,
    "console_rows": 100_000,
    "console_runs": 40,
    "webhook_seconds": 30,
    "capacity": 400,
    "capacity_samples": 40,
}
QUICK = {
    "intake": 150,
    "lifecycle": 60,
    "concurrency": 32,
    "latency_needs": 12,
    "open_needs": 300,
    "rows": 100_000,
    "query_runs": 40,
    "append_seconds": 1.5,
    "console_rows": 20_000,
    "console_runs": 10,
    "webhook_seconds": 5,
    "capacity": 80,
    "capacity_samples": 16,
}


PARTIAL: dict = {}  # figures of the parts done so far, written even if a later part fails


async def run(args: argparse.Namespace, sizes: dict, root: Path) -> tuple[dict, list[float]]:
    from bench.bench_flow import run_flow

    only = set(args.only.split(",")) if args.only else set(PARTS)
    results: dict = PARTIAL
    latencies: list[float] = []
    if "quality" in only:
        from bench.intake_quality import ROOT
        from bench.intake_quality import run as judge_labelled
        from domain.policy import load_policy

        console.print("[bold]intake quality on the labelled set[/bold]")
        results["quality"] = judge_labelled(
            load_policy((ROOT / "deploy" / "policy.yaml").read_bytes())
        )
    if only & {"append", "queries"}:
        from bench.stack import Postgres
        from store.db import asyncpg_dsn

        pg = Postgres(root / "pg-sql")
        url = pg.start()
        try:
            if "append" in only:
                console.print("[bold]0. store append[/bold]")
                results["append"] = await _append(url, sizes["append_seconds"])
            if "queries" in only:
                from bench.bench_queries import bench_queries

                console.print("[bold]5. supervisor queries[/bold]")
                results["queries"] = await bench_queries(
                    asyncpg_dsn(url), sizes["rows"], sizes["query_runs"]
                )
        finally:
            pg.stop()
    if "console" in only:
        from bench.bench_console import bench_console

        console.print("[bold]6. web console pages[/bold]")
        results["console"] = await bench_console(root, sizes["console_rows"], sizes["console_runs"])
    if "webhooks" in only:
        from bench.bench_webhooks import bench_webhooks

        console.print("[bold]7. event commit → webhook[/bold]")
        results["webhooks"] = await bench_webhooks(root, 10.0, sizes["webhook_seconds"])
    _, latencies = await run_flow(root, sizes, only, results)
    if "capacity" in only:
        from bench.bench_capacity import bench_capacity

        console.print("[bold]8. capacity: one and two workers, bytes per need[/bold]")
        results["capacity"] = await bench_capacity(
            root, sizes["capacity"], sizes["concurrency"], sizes["capacity_samples"]
        )
    return results, latencies


async def _append(url: str, seconds: float) -> dict:
    import asyncpg
    from sqlalchemy.engine import make_url

    from bench.bench_append import bench
    from store.db import asyncpg_dsn

    admin = await asyncpg.connect(asyncpg_dsn(url))
    await admin.execute("CREATE DATABASE bench_append")
    await admin.close()
    db = make_url(url).set(database="bench_append").render_as_string(hide_password=False)
    return await bench(db, seconds, 8) | {"seconds": seconds, "connections": 8}


def _line(
    name: str,
    value: str,
    floor: str = "",
    ratio: str = "",
    target: str = "",
    ok: bool | None = None,
) -> None:
    mark = "" if ok is None else ("[green]met[/green]" if ok else "[red]missed[/red]")
    console.print(
        f"  {name:<46} {value:>14} {floor:>16} {ratio:>8} {target:>12} {mark}",
        highlight=False,
        soft_wrap=True,
    )


def print_summary(r: dict) -> None:
    console.print("\n[bold]demandflow benchmarks[/bold]")
    if "quality" in r:
        from bench.intake_quality import print_report

        console.print("intake quality (labelled set; the held-out part is never tuned on)")
        print_report(r["quality"], out=lambda line: console.print(line, highlight=False))
    _line("figure", "measured", "floor", "ratio", "target")
    if "append" in r:
        a, q = r["append"]["events_per_second"], r["append"]["ratios"]
        _line(
            "store append, 1 event (events/s)",
            f"{a['store_1']:,}",
            f"{a['plain_tx_1']:,}",
            f"{q['single_vs_plain_tx']:.2f}x",
            "≥0.8x",
            q["single_vs_plain_tx"] >= 0.8,
        )
        _line(
            "same-transaction floor, 1 event (events/s)",
            f"{a['floor_same_tx_1']:,}",
            f"{a['plain_tx_1']:,}",
            f"{q['floor_same_tx_vs_plain_tx']:.2f}x",
        )
        _line(
            "store append, 100 per batch (events/s)",
            f"{a['store_100']:,}",
            f"{a['plain_tx_100']:,}",
            f"{q['batch100_vs_plain_tx']:.2f}x",
            "≥0.9x",
            q["batch100_vs_plain_tx"] >= 0.9,
        )
    if "intake" in r:
        i = r["intake"]
        _line(
            f"intake: needs accepted/s (n={i['needs']})",
            f"{i['needs_accepted_per_s']}",
            f"{i['bare_starts_per_s']}",
            f"{i['ratio_accepted']:.2f}x",
        )
        _line(
            "intake: classified+assigned/s vs bare completed/s",
            f"{i['needs_classified_and_assigned_per_s']}",
            f"{i['bare_started_and_completed_per_s']}",
            f"{i['ratio_processed']:.2f}x",
        )
        if "vs_legacy_accepted" in i:
            _line(
                "intake: accepted/s vs the substring rules",
                f"{i['needs_accepted_per_s']}",
                f"{i['legacy_needs_accepted_per_s']}",
                f"{i['vs_legacy_accepted']:.2f}x",
                "≥0.9x",
                i["vs_legacy_accepted"] >= 0.9,
            )
            _line(
                "intake: assigned/s vs the substring rules",
                f"{i['needs_classified_and_assigned_per_s']}",
                f"{i['legacy_needs_classified_and_assigned_per_s']}",
                f"{i['vs_legacy_processed']:.2f}x",
                "≥0.9x",
                i["vs_legacy_processed"] >= 0.9,
            )
        for proc, ms in i.get("cpu_ms_per_need", {}).items():
            before = i["legacy_cpu_ms_per_need"].get(proc)
            _line(f"  CPU ms per need: {proc}, vs the substring rules", f"{ms}", f"{before}")
    if "lifecycle" in r:
        c = r["lifecycle"]
        _line(
            f"lifecycle: needs closed/s (n={c['needs']})",
            f"{c['needs_closed_per_s']}",
            f"{c['bare_per_s']}",
            f"{c['ratio']:.2f}x",
            "≥0.7x",
            c["ratio"] >= 0.7,
        )
        if "outbox_on_vs_off" in c:
            _line(
                "lifecycle: needs closed/s, outbox on vs off",
                f"{c['needs_closed_per_s']}",
                f"{c['outbox_off_needs_closed_per_s']}",
                f"{c['outbox_on_vs_off']:.2f}x",
            )
        if "codec_on_vs_off" in c:
            _line(
                "lifecycle: needs closed/s, codec on vs off",
                f"{c['needs_closed_per_s']}",
                f"{c['codec_off_needs_closed_per_s']}",
                f"{c['codec_on_vs_off']:.2f}x",
                "≥0.9x",
                c["codec_on_vs_off"] >= 0.9,
            )
            off = c["cpu_ms_per_need_codec_off"]
            for proc in ("product_worker", "bench_client"):
                if proc in off:
                    _line(
                        f"  CPU ms per need: {proc}, codec on vs off",
                        f"{c['cpu_ms_per_need'][proc]}",
                        f"{off[proc]}",
                    )
        for proc, ms in c.get("cpu_ms_per_need", {}).items():
            if proc != "bare_worker":
                floor = c["cpu_ms_per_bare"]["bare_worker" if proc == "product_worker" else proc]
                _line(f"  CPU ms per need: {proc}", f"{ms}", f"{floor}")
    if "latency" in r:
        lat = r["latency"]["update_to_projection"]
        _line("staff action → need_summary p50 (ms)", f"{lat['p50_ms']}")
        _line("staff action → need_summary p95 (ms)", f"{lat['p95_ms']}")
        _line(
            f"staff action → need_summary p99 (ms, n={lat['samples']})",
            f"{lat['p99_ms']}",
            "",
            "",
            "<150 ms",
            lat["p99_ms"] < 150,
        )
    if "memory" in r:
        m = r["memory"]
        _line(
            f"memory: worker RSS, {m['open']} open (MB)",
            f"{m['needs']['worker_mb']}",
            f"{m['bare']['worker_mb']}",
            f"{m['ratio_worker']:.2f}x",
        )
        _line(
            f"memory: server RSS, {m['open']} open (MB)",
            f"{m['needs']['server_mb']}",
            f"{m['bare']['server_mb']}",
            f"{m['ratio_server']:.2f}x",
        )
    if "queries" in r:
        q = r["queries"]
        for name, after in q["as_migrated"].items():
            before = q["without_0003_indexes"][name]
            target = 200 if name.startswith("stats") else 50
            _line(
                f"{name} p99 ms ({q['rows']:,} rows)",
                f"{after['p99_ms']}",
                f"no 0003: {before['p99_ms']}",
                "",
                f"<{target} ms",
                after["p99_ms"] < target,
            )
    if "console" in r:
        c = r["console"]
        for name, page in c["pages"].items():
            _line(
                f"console {name} p95 ms ({c['needs_in_store']:,} needs)",
                f"{page['p95_ms']}",
                f"p50 {page['p50_ms']}",
                "",
                f"<{page['floor_p95_ms']} ms",
                page["meets"],
            )
        o = c["open311_post_readable"]
        _line("open311 POST until readable p95 ms", f"{o['p95_ms']}", f"p50 {o['p50_ms']}")
        _line(
            "open311 requests readable at once",
            f"{o['readable_at_once']}/{o['posts']}",
            "",
            "",
            "all",
            o["readable_at_once"] == o["posts"],
        )
    if "webhooks" in r:
        w = r["webhooks"]
        lat = w["commit_to_webhook_ms"]
        _line(f"event → webhook p50 ms ({w['rate_per_s']:.0f} needs/s)", f"{lat['p50_ms']}")
        _line(
            f"event → webhook p99 ms ({w['messages']}/{w['expected_messages']} msgs)",
            f"{lat['p99_ms']}",
            "",
            "",
            f"<{w['target_p99_ms']} ms",
            lat["p99_ms"] < w["target_p99_ms"] and w["messages"] >= w["expected_messages"],
        )
    if "capacity" in r:
        print_capacity(r["capacity"])


def print_capacity(c: dict) -> None:
    one, two = c["one_worker"], c["two_workers"]
    _line(
        f"capacity: needs closed/s, 2 workers vs 1 (n={c['needs_per_setup']})",
        f"{two['needs_closed_per_s']}",
        f"1 worker: {one['needs_closed_per_s']}",
        f"{c['two_vs_one']:.2f}x",
    )
    for kind in ("workers", "temporal", "postgres", "bench_client"):
        a, b = two["cpu_ms_per_need"][kind], one["cpu_ms_per_need"][kind]
        _line(
            f"  CPU ms per need: {kind}, 2 workers vs 1",
            f"{a}",
            f"{b}",
            f"{a / b:.2f}x" if b else "",
        )
    _line(
        "  CPU ms per need: servers (workers+Temporal+PG)",
        f"{two['servers_cpu_ms_per_need']}",
        f"{one['servers_cpu_ms_per_need']}",
        f"{c['cpu_two_vs_one']:.2f}x",
    )
    _line(
        "  Temporal server's share of the servers' CPU",
        f"{two['temporal_share_of_servers']}",
        f"{one['temporal_share_of_servers']}",
    )
    for kind in ("workers", "temporal", "ours", "machine", "others"):
        _line(
            f"  cores busy: {kind}, 2 workers vs 1",
            f"{two['cores_busy'][kind]}",
            f"{one['cores_busy'][kind]}",
        )
    h, bare = c["history"], c["history"]["bare"]
    _line(
        f"history events per need (sample {h['sampled']}) vs bare",
        f"{h['events_per_need']}",
        f"{bare['events_per_need']}",
        f"{h['events_per_need'] / bare['events_per_need']:.2f}x",
    )
    _line(
        "history bytes per need vs bare",
        f"{h['bytes_per_need']:,}",
        f"{bare['bytes_per_need']:,}",
        f"{h['bytes_per_need'] / bare['bytes_per_need']:.2f}x",
    )
    t = c["temporal_store"]
    _line(
        "Temporal SQLite bytes per closed need vs history",
        f"{t['bytes_per_need']:,}",
        f"{h['bytes_per_need']:,}",
        f"{t['bytes_per_need'] / h['bytes_per_need']:.2f}x",
    )
    e = c["event_store"]
    _line(f"event rows per need ({e['closed']}/{e['needs']} closed)", f"{e['rows_per_need']}")
    _line(
        "events table bytes per need vs row data",
        f"{e['events_bytes_per_need']:,}",
        f"{e['row_data_bytes_per_need']:,}",
        f"{e['events_bytes_per_need'] / e['row_data_bytes_per_need']:.2f}x",
    )
    _line("other store tables bytes per need", f"{e['other_tables_bytes_per_need']:,}")
    _line("event-store write transactions per need", f"{e['write_transactions_per_need']}")
    _line("PostgreSQL WAL bytes per need", f"{e['wal_bytes_per_need']:,}")
    a = c["per_action"]
    _line(
        "one more staff action: history events / bytes",
        f"{a['history_events']} / {a['history_bytes']:,}",
    )
    _line(
        "one more staff action: event rows / row bytes",
        f"{a['event_rows']} / {a['event_row_data_bytes']:,}",
    )
    _line(
        "one more staff action: CPU ms worker / Temporal / PG",
        f"{a['cpu_ms']['workers']} / {a['cpu_ms']['temporal']} / {a['cpu_ms']['postgres']}",
    )


def chart(latencies: list[float], figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ax.hist(latencies, bins=60, color="#4878a8")
    for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
        v = figures["update_to_projection"][key]
        ax.axvline(v, color="#c44", linestyle=style, label=f"{key[:3]} {v:.0f} ms")
    ax.axvline(150, color="black", linewidth=0.8, label="target p99 150 ms")
    ax.set_xlabel("staff action (act update) → event visible in need_summary, ms")
    ax.set_ylabel("actions")
    ax.set_title(
        f"Staff-action latency, {len(latencies)} actions at "
        f"{figures['background_load_needs_per_s']} new need/s background load"
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--open-needs", type=int, help="open needs for the memory benchmark")
    parser.add_argument("--rows", type=int, help="projected needs for the query benchmark")
    parser.add_argument("--only", help=f"comma-separated parts of: {','.join(PARTS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    sizes = dict(QUICK if args.quick else FULL)
    if args.open_needs:
        sizes["open_needs"] = args.open_needs
    if args.rows:
        sizes["rows"] = args.rows
    root = Path(tempfile.mkdtemp(prefix="demandflow-bench-"))
    console.print(f"bench: {'quick' if args.quick else 'full'} sizes {sizes}; work dir {root}")
    started = time.monotonic()
    try:
        results, latencies = asyncio.run(run(args, sizes, root))
    except BaseException:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench.partial.json").write_text(
            json.dumps({"sizes": sizes, "results": PARTIAL}, indent=2, default=str) + "\n"
        )
        console.print(f"failed; figures so far in {RESULTS / 'bench.partial.json'}")
        raise
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if latencies:
        chart(latencies, results["latency"], RESULTS / "staff_action_latency.png")
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "sizes": sizes,
        "seconds": round(time.monotonic() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "results": results,
    }
    (RESULTS / "bench.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    print_summary(results)
    console.print(
        f"\nwritten: {RESULTS / 'bench.json'}"
        + (f", {RESULTS / 'staff_action_latency.png'}" if latencies else "")
    )
    # The Temporal SDK's native runtime can abort at interpreter exit; the run is done.
    os._exit(0)


if __name__ == "__main__":
    main()
