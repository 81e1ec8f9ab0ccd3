"""How well intake judges the labelled set (tests/data/needs_*.yaml): classification and
repeats, through the same pure functions the worker runs.

Each report is admitted (domain/admission.py), decided as a fresh Submit on the real policy
(classification, routing, the location request), and judged for repeats against the reports
before it exactly as the intake activity does (domain/repeats.py on the claims of reports not
merged, within the window). The tuning part and the held-out part are reported apart; the
held-out part is never used to choose words or thresholds.

    .venv/bin/python -m bench.intake_quality [--policy deploy/policy.yaml]
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from domain import events as ev
from domain.admission import admit
from domain.classification import classify_state
from domain.commands import ProvideInformation, RepeatVerdict, Submission, Submit
from domain.context import DecisionContext
from domain.decider import decide
from domain.model import SYSTEM_ACTOR, Actor, Location, Requester, Role
from domain.policy import Policy, load_policy
from domain.repeats import Fingerprint, best_verdict, fingerprint
from domain.state import NeedState, fold

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
PARTS = {"tune": DATA / "needs_tune.yaml", "holdout": DATA / "needs_holdout.yaml"}
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Asia/Shanghai
REQUESTER = Actor(id="requester", role=Role.REQUESTER)
TARGETS = {
    "category": 0.90,
    "tier": 0.85,
    "dispatcher_share": 0.15,
    "false_merges": 0,
    "missed_repeats": 0.05,
}


@dataclass
class Judged:
    case: dict[str, Any]
    item: str | None = None
    category: str | None = None
    tier: str | None = None
    unit: str | None = None
    to_dispatcher: bool = False
    asked_location: bool = False
    verdict: RepeatVerdict = field(default_factory=RepeatVerdict)
    need: str = ""  # the id of the report whose need this one ended in (itself if kept)


def load(path: Path) -> list[dict[str, Any]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def submission(case: dict[str, Any]) -> Submission:
    place = dict(case["location"])
    lat, lon = place.pop("lat", None), place.pop("lon", None)
    details = {"lat": str(lat), "long": str(lon)} if lat is not None and lon is not None else {}
    return Submission(
        channel=case["channel"],
        external_id=case["id"],
        requester=Requester(requester_id=case["requester"]["id"], kind=case["requester"]["kind"]),
        location=Location(**place),
        title=case["title"],
        description=case.get("description") or "",
        details=details,
    )


def judge_all(cases: list[dict[str, Any]], policy: Policy) -> list[Judged]:
    """Every case in order, each `step` minutes after the one before."""
    claims: list[Fingerprint] = []
    judged: dict[str, Judged] = {}
    for i, case in enumerate(cases):
        now = START + timedelta(minutes=i)
        report = admit(submission(case), policy)
        result = classified(case, report, policy, now)
        new = fingerprint(case["id"], report, policy, now)
        since = now - policy.collection.duplicate_window
        candidates = [c for c in claims if _candidate(c, new, since, judged)]
        result.verdict = best_verdict(new, candidates, policy)
        if result.verdict.kind == "merge" and result.verdict.of_stream_id:
            result.need = judged[result.verdict.of_stream_id].need
        else:
            result.need = case["id"]
            claims.append(new)
        judged[case["id"]] = result
    return list(judged.values())


def _candidate(
    claim: Fingerprint, new: Fingerprint, since: datetime, judged: dict[str, Judged]
) -> bool:
    """What store.intake.open_candidates selects (every simulated need is still open; no
    community of the set holds more reports than its limit of recent ones)."""
    return (
        (None in (claim.category, new.category) or claim.category == new.category)
        and (None in (claim.item, new.item) or claim.item == new.item)
        and claim.street == new.street
        and claim.submitted_at >= since
        and (new.community is None or claim.community is None or claim.community == new.community)
        and claim.stream_id in judged
    )


def classified(case: dict[str, Any], report: Submission, policy: Policy, now: datetime) -> Judged:
    """The events a fresh Submit of `report` causes on the real decider."""
    ctx = DecisionContext(now=now, actor=SYSTEM_ACTOR, policy=policy)
    result = Judged(case=case)
    events = decide(NeedState(), Submit(submission=report), ctx)
    state = fold(events)
    pending = state.pending_information
    if pending and "location" not in pending.missing_fields:
        # Fields the item needs (an enterprise's staff count): the requester answers, then
        # classification and routing go on with the same words.
        answer = ProvideInformation(fields=dict.fromkeys(pending.missing_fields, "1"))
        events += decide(state, answer, ctx.model_copy(update={"actor": REQUESTER}))
    for event in events:
        if isinstance(event, ev.DemandClassified):
            result.item, result.category, result.tier = event.rule_id, event.category, event.tier
        elif isinstance(event, ev.ClassificationRequested):
            result.to_dispatcher = True
        elif isinstance(event, ev.DemandAssigned):
            result.unit = event.unit_id
        elif isinstance(event, ev.InformationRequested) and "location" in event.missing_fields:
            result.asked_location = True
    if result.asked_location:  # classification and routing wait for the place
        found = classify_state(state, policy)
        if found and found.confidence >= policy.classification.confidence_threshold:
            result.item, result.category, result.tier = found.rule_id, found.category, found.tier
        result.unit = (
            policy.first_receiver if result.tier != "street" else _street_unit(result.item, policy)
        )
    return result


def _street_unit(item: str | None, policy: Policy) -> str | None:
    rule = policy.rule(item)
    return rule.unit if rule and rule.unit else policy.first_receiver


def scores(judged: list[Judged]) -> dict[str, Any]:
    """The figures `make bench` prints (rates over the part's reports)."""
    n = len(judged)
    group_need: dict[str, str] = {}
    for j in judged:
        group_need.setdefault(j.case["group"], j.case["id"])
    group_of = {j.case["id"]: j.case["group"] for j in judged}
    repeats = [j for j in judged if group_need[j.case["group"]] != j.case["id"]]
    false_merges = [
        j for j in judged if j.verdict.kind == "merge" and group_of[j.need] != j.case["group"]
    ]
    false_possible = [
        j
        for j in judged
        if j.verdict.kind == "possible"
        and group_of.get(j.verdict.of_stream_id or "") != j.case["group"]
    ]
    merged_right = [
        j for j in repeats if j.verdict.kind == "merge" and group_of[j.need] == j.case["group"]
    ]
    flagged_right = [
        j
        for j in repeats
        if j.verdict.kind == "possible"
        and group_of.get(j.verdict.of_stream_id or "") == j.case["group"]
    ]
    missed = len(repeats) - len(merged_right) - len(flagged_right)
    should_ask = [j for j in judged if j.case["expect"].get("asks_location")]
    confusions = Counter(
        (j.case["expect"]["item"], j.item or "dispatcher")
        for j in judged
        if j.item != j.case["expect"]["item"]
    )
    return {
        "reports": n,
        "category": _share(judged, lambda j: j.category == j.case["expect"]["category"]),
        "tier": _share(judged, lambda j: j.tier == j.case["expect"]["tier"]),
        "unit": _share(judged, lambda j: j.unit == j.case["expect"]["unit"]),
        "item": _share(judged, lambda j: j.item == j.case["expect"]["item"]),
        "dispatcher_share": _share(judged, lambda j: j.to_dispatcher),
        "repeats": len(repeats),
        "false_merges": len(false_merges),
        "false_merge_rate": round(len(false_merges) / n, 4) if n else 0.0,
        "merged": len(merged_right),
        "flagged_possible": len(flagged_right),
        "false_possible": len(false_possible),
        "missed_repeats": round(missed / len(repeats), 4) if repeats else 0.0,
        "location_asked": f"{sum(j.asked_location for j in should_ask)}/{len(should_ask)}",
        "location_asked_wrongly": sum(
            j.asked_location for j in judged if not j.case["expect"].get("asks_location")
        ),
        "worst_confusions": [
            f"{want} -> {got} x{count}" for (want, got), count in confusions.most_common(6)
        ],
        "false_merge_ids": [f"{j.case['id']}->{j.need}" for j in false_merges],
    }


def _share(judged: list[Judged], test) -> float:
    return round(sum(1 for j in judged if test(j)) / len(judged), 4) if judged else 0.0


def without_buildings(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second pass: the same reports with only a grid (and any street address), as
    residents often write; places named in the text stay."""
    return [
        case | {"location": {k: v for k, v in case["location"].items() if k != "building"}}
        for case in cases
    ]


def run(policy: Policy) -> dict[str, Any]:
    """Both parts, each judged on its own (its repeats refer to its own reports), and each
    again without its buildings."""
    results: dict[str, Any] = {}
    for part, path in PARTS.items():
        if not path.exists():
            continue
        cases = load(path)
        results[part] = scores(judge_all(cases, policy))
        bare = scores(judge_all(without_buildings(cases), policy))
        results[part] |= {
            "false_merges_no_buildings": bare["false_merges"],
            "missed_repeats_no_buildings": bare["missed_repeats"],
        }
    return results


def print_report(results: dict[str, Any], out=print) -> None:
    out(f"  {'figure':<24}{'tune':>10}{'holdout':>10}   target")
    rows = [
        ("reports", "reports", ""),
        ("category accuracy", "category", ">= 0.90 holdout"),
        ("tier accuracy", "tier", ">= 0.85 holdout"),
        ("unit accuracy", "unit", ""),
        ("item accuracy", "item", ""),
        ("sent to a dispatcher", "dispatcher_share", "<= 0.15 holdout"),
        ("false merges", "false_merges", "0"),
        ("  without buildings", "false_merges_no_buildings", "0"),
        ("repeat reports", "repeats", ""),
        ("  merged", "merged", ""),
        ("  flagged possible", "flagged_possible", ""),
        ("missed-repeat rate", "missed_repeats", "<= 0.05"),
        ("  without buildings", "missed_repeats_no_buildings", ""),
        ("possible, wrongly", "false_possible", ""),
        ("place asked (of due)", "location_asked", ""),
        ("place asked wrongly", "location_asked_wrongly", ""),
    ]
    for label, key, target in rows:
        cells = [str(results.get(part, {}).get(key, "-")) for part in ("tune", "holdout")]
        out(f"  {label:<24}{cells[0]:>10}{cells[1]:>10}   {target}")
    for part in ("tune", "holdout"):
        worst = results.get(part, {}).get("worst_confusions", [])
        out(f"  worst confusions ({part}): " + "; ".join(worst))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=ROOT / "deploy" / "policy.yaml")
    parser.add_argument("--part", choices=sorted(PARTS), default=None)
    args = parser.parse_args()
    policy = load_policy(args.policy.read_bytes())
    results = run(policy)
    if args.part:
        results = {args.part: results[args.part]}
    print_report(results)


if __name__ == "__main__":
    main()
