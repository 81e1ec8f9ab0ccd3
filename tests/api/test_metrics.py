"""The API's /metrics: the store's state and this process's requests, labels bounded (an
invented HTTP method or path never becomes a series of its own)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


async def test_metrics_carry_bounded_labels_only(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as c:
        await c.request("FROBNICATE", "/no/such/path-13812345678")
        await c.get("/health")
        text = (await c.get("/metrics")).text
    assert 'method="other",route="unmatched",status="4xx"' in text
    assert "FROBNICATE" not in text and "13812345678" not in text
    assert 'demandflow_http_requests_total{method="GET",route="/health",status="2xx"}' in text
    assert "demandflow_open_needs" in text
