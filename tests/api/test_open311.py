"""Open311 GeoReport v2 as a client drives it: discover services, read a definition, post a
form-encoded request, follow its status, in JSON and in XML."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.api.conftest import KEYS

BASE = "/open311/v2"


async def test_services_and_definitions_in_json_and_xml(as_) -> None:
    client = as_("open311")
    listed = (await client.get(f"{BASE}/services.json")).json()
    codes = {s["service_code"] for s in listed}
    assert {"daily_life", "enterprise_affairs", "talent"} <= codes
    xml = ET.fromstring((await client.get(f"{BASE}/services.xml")).text)
    assert {e.findtext("service_code") for e in xml.findall("service")} == codes
    definition = (await client.get(f"{BASE}/services/enterprise_affairs.json")).json()
    required = [a["code"] for a in definition["attributes"] if a["required"]]
    assert required == ["staff_count"]
    unknown = await client.get(f"{BASE}/services/nonsense.xml")
    assert unknown.status_code == 404
    assert ET.fromstring(unknown.text).findtext("error/code") == "404"


def form(**extra: str) -> dict[str, str]:
    return {
        "api_key": KEYS["open311"],
        "service_code": "daily_life",
        "description": "路灯坏了，晚上很黑",
        "address_string": "洞庭街 7 号",
        "first_name": "小明",
        "last_name": "王",
        "phone": "13812345678",
        "attribute[street]": "street-hanzheng",
        "attribute[community]": "community-dongting",
        "attribute[grid]": "grid-dongting-1",
        "attribute[building]": uuid.uuid4().hex[:8],
        "attribute[external_id]": uuid.uuid4().hex,
    } | extra


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_post_then_follow_a_request(as_, fmt: str) -> None:
    client = as_("nobody")  # Open311 clients authenticate with the api_key parameter
    body = form()
    posted = await client.post(f"{BASE}/requests.{fmt}", data=body)
    assert posted.status_code == 200, posted.text
    if fmt == "json":
        request_id = posted.json()[0]["service_request_id"]
    else:
        request_id = ET.fromstring(posted.text).findtext("request/service_request_id")
    again = await client.post(f"{BASE}/requests.json", data=body)
    assert again.json()[0]["service_request_id"] == request_id  # idempotent on external_id

    key = {"api_key": KEYS["open311"]}
    for _ in range(100):
        one = await client.get(f"{BASE}/requests/{request_id}.json", params=key)
        if one.status_code == 200 and one.json()[0]["agency_responsible"]:
            break
        await asyncio.sleep(0.1)
    request = one.json()[0]
    assert request["status"] == "open" and request["service_code"] == "daily_life"
    assert request["agency_responsible"].startswith("洞庭社区第一网格")
    assert request["expected_datetime"] is not None and request["address"] != "洞庭街 7 号"
    if fmt == "xml":
        xml = ET.fromstring(
            (await client.get(f"{BASE}/requests/{request_id}.xml", params=key)).text
        )
        assert xml.findtext("request/status") == "open"
        assert xml.findtext("request/service_request_id") == request_id
    found = (
        await client.get(
            f"{BASE}/requests.json", params=key | {"status": "open", "service_code": "daily_life"}
        )
    ).json()
    assert request_id in [r["service_request_id"] for r in found]
    closed = (await client.get(f"{BASE}/requests.json", params=key | {"status": "closed"})).json()
    assert request_id not in [r["service_request_id"] for r in closed]
    other = await client.get(
        f"{BASE}/requests/{request_id}.json", params={"api_key": KEYS["partner"]}
    )
    assert other.status_code == 200  # a key that may not see it: the public fields only
    assert other.json()[0]["description"] is None and other.json()[0]["address"] is None
    assert request["description"] is not None  # the submitter's key sees it in full


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_request_is_readable_by_its_id_the_moment_the_post_answers(as_, fmt) -> None:
    client = as_("nobody")
    for _ in range(5):
        posted = await client.post(f"{BASE}/requests.{fmt}", data=form())
        if fmt == "json":
            request_id = posted.json()[0]["service_request_id"]
        else:
            request_id = ET.fromstring(posted.text).findtext("request/service_request_id")
        assert request_id, posted.text
        anonymous = await client.get(f"{BASE}/requests/{request_id}.{fmt}")
        assert anonymous.status_code == 200, anonymous.text  # no wait, no key
        token = await client.get(f"{BASE}/tokens/{request_id}.json")
        assert token.json()[0]["service_request_id"] == request_id


async def test_anonymous_reads_carry_no_personal_data(as_) -> None:
    client = as_("nobody")
    posted = await client.post(f"{BASE}/requests.json", data=form())
    request_id = posted.json()[0]["service_request_id"]
    one = (await client.get(f"{BASE}/requests/{request_id}.json")).json()[0]
    listed = (
        await client.get(f"{BASE}/requests.json", params={"service_request_id": request_id})
    ).json()
    for view in (one, listed[0]):
        assert view["service_request_id"] == request_id and view["status"] == "open"
        assert view["description"] is None and view["address"] is None
        assert "小明" not in str(view) and "13812345678" not in str(view)
    wrong = await client.get(f"{BASE}/requests/{request_id}.json", params={"api_key": "nope"})
    assert wrong.status_code == 401  # a wrong key is an error, not anonymity
    missing = await client.get(f"{BASE}/requests/need-open311-0000000000000000.json")
    assert missing.status_code == 404


async def test_open311_errors_follow_the_spec(as_) -> None:
    client = as_("nobody")
    no_key = await client.post(f"{BASE}/requests.json", data=form(api_key=""))
    assert no_key.status_code == 401 and no_key.json()[0]["code"] == 401
    no_place = form()
    del no_place["address_string"]
    missing = await client.post(f"{BASE}/requests.json", data=no_place)
    assert missing.status_code == 400 and "location" in missing.json()[0]["description"]
    bad = await client.post(f"{BASE}/requests.xml", data=form(service_code="pizza"))
    assert bad.status_code == 400
    assert ET.fromstring(bad.text).findtext("error/description").startswith("service_code")
    staff = await client.post(f"{BASE}/requests.json", data=form(api_key=KEYS["staff_dongting1"]))
    assert staff.status_code == 403
    invisible = await client.post(f"{BASE}/requests.json", data=form(description="\u200b "))
    assert invisible.status_code == 400  # GeoReport v2's bad request, naming its parameter
    assert invisible.json()[0]["description"].startswith("invalid description:")
    elsewhere = await client.post(
        f"{BASE}/requests.json", data=form(**{"attribute[grid]": "dept-health"})
    )
    assert elsewhere.status_code == 400
    assert elsewhere.json()[0]["description"].startswith("invalid attribute[grid]:")
