"""The product worker with payload encryption off: the floor of the codec's cost in the
lifecycle benchmark (codec on and off in the same run). Same settings as `demandflow worker`;
a bench tool only, the product has no switch to turn encryption off.

    python -m bench.plain_worker   (TEMPORAL_ADDRESS, DATABASE_URL, TEMPORAL_TASK_QUEUE, ...)
"""

from __future__ import annotations

import asyncio

from workers.logging import configure_logging
from workers.settings import get_settings
from workers.worker import run_worker
from workflows.codec import data_converter


def main() -> None:
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    asyncio.run(run_worker(settings, data_converter(None)))


if __name__ == "__main__":
    main()
