"""微心愿认领 over HTTP on the real stack (issue 20, item 1): a wish is posted, claimed by
one claimant at a time, fulfilled, confirmed once, and its points credited once; the pool
shows no personal data, and a claim taken by someone else is a 409 that names the holder
only to those who may see it. (Lapse and escalation run on the time-skipping server:
tests/workflows/test_wishes.py.)"""

from __future__ import annotations

import asyncio
import uuid

COMMUNITY = "community-dongting"


def a_wish(title: str = "想要一台助听器", kind: str = "material") -> dict:
    return {
        "channel": "wish_wall",
        "external_id": f"wall-{uuid.uuid4().hex[:12]}",
        "title": title,
        "community": COMMUNITY,
        "kind": kind,
        "wisher": {
            "requester_id": f"res-{uuid.uuid4().hex[:8]}",
            "kind": "resident",
            "name": "王奶奶",
            "phone": "13812345678",
        },
    }


async def posted(client, body: dict) -> str:
    answer = await client.post("/wishes", json=body)
    assert answer.status_code == 202, answer.text
    wish_id = answer.json()["id"]
    for _ in range(300):  # the workflow stores the posting asynchronously
        if (await client.get(f"/wishes/{wish_id}")).status_code == 200:
            return wish_id
        await asyncio.sleep(0.1)
    raise AssertionError("the wish never reached the pool")


async def test_a_wish_from_the_wall_to_points(as_) -> None:
    wall, wang, li = as_("integrator"), as_("claimant_wang"), as_("claimant_li")
    staff, supervisor = as_("staff_comm_dongting"), as_("sup_district")
    body = a_wish(kind="service")
    wish_id = await posted(wall, body)
    assert (await wall.post("/wishes", json=body)).json()["id"] == wish_id  # sent again
    changed = await wall.post("/wishes", json=body | {"title": "想要两台助听器"})
    assert changed.status_code == 409 and changed.json()["error"]["field"] == "external_id"
    assert wish_id in [w["id"] for w in (await wall.get("/wishes")).json()]  # its own
    assert wish_id not in [w["id"] for w in (await as_("partner").get("/wishes")).json()]

    pool = (await wang.get("/wishes", params={"community": COMMUNITY, "status": "pooled"})).json()
    mine = next(w for w in pool if w["id"] == wish_id)
    assert mine["title"] == "想要一台助听器" and mine["points"] == 10
    text = str(pool)
    assert "王奶奶" not in text and "13812345678" not in text  # no personal data in the pool

    claimed = await wang.post(f"/wishes/{wish_id}/claim")
    assert claimed.status_code == 200 and claimed.json()["claimant_id"] == "claimant-party-wang"
    taken = await li.post(f"/wishes/{wish_id}/claim")
    assert taken.status_code == 409
    assert "claimant-party-wang" not in taken.text  # another claimant is not told who
    seen_by_li = (await li.get(f"/wishes/{wish_id}")).json()
    assert seen_by_li["status"] == "claimed" and seen_by_li["claimant_id"] is None
    assert (await staff.get(f"/wishes/{wish_id}")).json()["claimant_id"] == "claimant-party-wang"

    assert (await li.post(f"/wishes/{wish_id}/fulfil", json={"note": "x"})).status_code == 409
    assert (
        await wang.post(f"/wishes/{wish_id}/progress", json={"note": "约好周六"})
    ).status_code == 200
    done = await wang.post(f"/wishes/{wish_id}/fulfil", json={"note": "已送到"})
    assert done.json()["status"] == "fulfilled"
    assert (await wang.post(f"/wishes/{wish_id}/confirm")).status_code == 403  # not her own
    confirmed = await staff.post(f"/wishes/{wish_id}/confirm")  # on the wisher's behalf
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    again = await wall.post(f"/wishes/{wish_id}/confirm")
    assert again.status_code == 200 and again.json()["status"] == "confirmed"

    ledger = (await wang.get("/claimants/claimant-party-wang/points")).json()
    credits = [c for c in ledger["credits"] if c["wish_id"] == wish_id]
    assert [c["points"] for c in credits] == [10]  # credited once
    assert (await li.get("/claimants/claimant-party-wang/points")).status_code == 403
    ranking = (await supervisor.get(f"/communities/{COMMUNITY}/wish-ranking")).json()
    assert any(r["claimant_id"] == "claimant-party-wang" and r["points"] >= 10 for r in ranking)
    seen_by_li = (await li.get(f"/communities/{COMMUNITY}/wish-ranking")).json()
    assert "claimant-party-wang" not in str(seen_by_li)  # not another claimant's id
    assert len(seen_by_li) == len(ranking)


async def test_two_claimants_racing_for_one_wish_exactly_one_wins(as_) -> None:
    wall = as_("integrator")
    wish_id = await posted(wall, a_wish("想找人陪我下象棋", kind="companionship"))
    answers = await asyncio.gather(
        *(as_(who).post(f"/wishes/{wish_id}/claim") for who in ("claimant_wang", "claimant_li"))
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()["claimant_id"]
    row = (await as_("sup_district").get(f"/wishes/{wish_id}")).json()
    assert row["claimant_id"] == winner and row["claims"] == 1


async def test_bad_input_and_the_wrong_people(as_) -> None:
    wall, wang = as_("integrator"), as_("claimant_wang")
    for field, value in (("community", "grid-dongting-1"), ("community", "dept-health")):
        answer = await wall.post("/wishes", json=a_wish() | {field: value})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "community"
    answer = await wall.post("/wishes", json=a_wish() | {"kind": "money"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "kind"
    answer = await wall.post("/wishes", json=a_wish("请联系13812345678送米"))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "title"
    assert "13812345678" not in answer.text
    assert (await wang.post("/wishes", json=a_wish())).status_code == 403  # claimants claim
    assert (await as_("staff_comm_xinhua").post("/wishes", json=a_wish())).status_code == 403
    assert (await wang.get("/needs")).json()["items"] == []  # a claimant sees no need
    wish_id = await posted(wall, a_wish("想学用智能手机", kind="study"))
    assert (await as_("staff_comm_xinhua").get(f"/wishes/{wish_id}")).status_code == 404
    assert (await as_("partner").get(f"/wishes/{wish_id}")).status_code == 404
    assert (await as_("staff_comm_dongting").post(f"/wishes/{wish_id}/claim")).status_code == 403
    withdrawn = await as_("staff_comm_dongting").post(
        f"/wishes/{wish_id}/withdraw", json={"reason": "已由家属解决"}
    )
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await wang.post(f"/wishes/{wish_id}/claim")).status_code == 409
