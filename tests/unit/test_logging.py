import io
import json
import logging

import structlog

from workers.logging import configure_logging, mask_personal_data


def _render_one(json_logs: bool, **fields: object) -> str:
    stream = io.StringIO()
    configure_logging(json_logs=json_logs)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    structlog.contextvars.bind_contextvars(demand_id="need-app-0123456789abcdef")
    try:
        structlog.get_logger("test").info("submitted", **fields)
    finally:
        structlog.contextvars.clear_contextvars()
    return stream.getvalue()


def test_personal_keys_and_phone_numbers_are_masked_in_json_lines() -> None:
    line = _render_one(
        True,
        name="王小明",
        phone="13812345678",
        requester={"address": "汉正街857号", "kind": "resident"},
        note="call me at 138-1234-5678 please",
    )
    record = json.loads(line)
    assert record["name"] == "***"
    assert record["phone"] == "***"
    assert record["requester"] == {"address": "***", "kind": "resident"}
    assert "5678" not in record["note"]
    for secret in ("王小明", "13812345678", "汉正街857号"):
        assert secret not in line


def test_bound_ids_appear_on_every_line() -> None:
    record = json.loads(_render_one(True, step="x"))
    assert record["demand_id"] == "need-app-0123456789abcdef"
    assert record["level"] == "info"


def test_console_output_is_masked_too() -> None:
    text = _render_one(False, phone="13900001111")
    assert "13900001111" not in text
    assert "submitted" in text


def test_standard_library_loggers_are_masked() -> None:
    stream = io.StringIO()
    configure_logging(json_logs=True)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("temporalio.worker").warning("requester 13711112222 unreachable")
    assert "13711112222" not in stream.getvalue()


def test_processor_leaves_other_values_alone() -> None:
    event = {"event": "x", "count": 3, "unit": "grid-dongting-1"}
    assert mask_personal_data(None, "info", dict(event)) == event


def test_a_validation_error_in_a_traceback_does_not_quote_the_input() -> None:
    from pydantic import ValidationError

    from domain.commands import Submission

    stream = io.StringIO()
    configure_logging(json_logs=True)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        Submission.model_validate(
            {
                "channel": "nowhere",
                "title": "Canary-王小明 lamp",
                "external_id": "x",
                "requester": {},
                "location": {},
            }
        )
    except ValidationError:
        logging.getLogger("temporalio.worker").exception("Failed activation")
    text = stream.getvalue()
    assert "Failed activation" in text and "ValidationError" in text
    assert "Canary-王小明" not in text
