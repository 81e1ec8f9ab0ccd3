"""structlog, configured once per process.

Readable console lines locally, JSON lines in production; ids bound with
`structlog.contextvars.bind_contextvars` appear on every line; `mask_personal_data` scrubs
names, phone numbers and addresses from every event before it is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

# Keys whose values are personal data wherever they appear in a log event.
PERSONAL_KEYS = frozenset(
    {"name", "phone", "address", "requester_name", "requester_phone", "mobile"}
)
# Mainland mobile numbers and common landline shapes, with optional +86 and separators.
_PHONE = re.compile(
    r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"
)
MASK = "***"
# Validation errors (pydantic) quote the rejected input, which may be a whole submission.
_QUOTED_INPUT = re.compile(r"input_value=.*?, input_type=", re.DOTALL)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _PHONE.sub(MASK, _QUOTED_INPUT.sub(f"input_value={MASK}, input_type=", value))
    if isinstance(value, dict):
        return {k: (MASK if k in PERSONAL_KEYS and v else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def mask_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: personal keys become '***', phone-number shapes inside any text too."""
    return _scrub(event_dict)  # type: ignore[no-any-return]


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before masking, so what they quote is masked too.
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]


def configure_logging(*, json_logs: bool, level: str = "INFO") -> None:
    """Route structlog and the standard library (Temporal SDK, uvicorn) through one renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO on every start: noise, not news.
    logging.getLogger("alembic").setLevel(logging.WARNING)
