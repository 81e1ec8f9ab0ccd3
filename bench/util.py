"""Small helpers of the benchmark runner: percentiles, a progress bar, bounded concurrency."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
console = Console(stderr=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def pcts(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values_ms, 50), 2),
        "p95_ms": round(percentile(values_ms, 95), 2),
        "p99_ms": round(percentile(values_ms, 99), 2),
        "max_ms": round(max(values_ms), 2),
        "samples": len(values_ms),
    }


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (plain lines when stderr is not a terminal)."""
    if not sys.stderr.isatty():
        console.print(f"  … {description} ({total})")
        yield lambda n=1: None
        return
    bar = Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


async def bounded(
    items: Iterable[T],
    limit: int,
    fn: Callable[[T], Awaitable[object]],
    advance: Callable[[int], None] | None = None,
) -> list[object]:
    """Run `fn` over `items` with at most `limit` in flight; results in input order."""
    sem = asyncio.Semaphore(limit)

    async def one(item: T) -> object:
        async with sem:
            result = await fn(item)
        if advance:
            advance(1)
        return result

    return await asyncio.gather(*(one(i) for i in items))
