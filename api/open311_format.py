"""Open311 GeoReport v2 shapes: services from the policy, requests from need_summary, and the
JSON/XML renderings (one dict list, two serialisations)."""

from __future__ import annotations

import hashlib
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, Literal

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.auth import Directory
from domain.commands import Submission
from domain.model import Category, Channel, Location, Requester, RequesterKind
from domain.policy import Policy

Fmt = Literal["json", "xml"]
PLACE = ("street", "community", "grid", "building")
OWN_ATTRIBUTES = (*PLACE, "external_id", "requester_kind")
ITEM_TAG = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
}
REQUESTER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def render(
    fmt: Fmt, root: str, items: list[dict[str, Any]] | dict[str, Any], status: int = 200
) -> Response:
    if fmt == "json":
        return JSONResponse(items, status_code=status)
    element = ET.Element(root)
    _fill(element, items, ITEM_TAG.get(root, "item"))
    body = ET.tostring(element, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>' + body,
        status_code=status,
        media_type="text/xml; charset=utf-8",
    )


def _fill(parent: ET.Element, value: Any, item_tag: str) -> None:
    if isinstance(value, list):
        for entry in value:
            _fill(ET.SubElement(parent, item_tag), entry, "item")
    elif isinstance(value, dict):
        for key, inner in value.items():
            child = ET.SubElement(parent, key)
            if isinstance(inner, list) and inner and isinstance(inner[0], dict):
                _fill(child, inner, ITEM_TAG.get(key, "item"))
            else:
                child.text = _text(inner)
    else:
        parent.text = _text(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# The need's fields as an Open311 client names them (a refusal names what it sent).
OPEN311_NAMES = {
    "title": "description",
    "description": "description",
    "location.address": "address_string",
    "location.street": "attribute[street]",
    "location.community": "attribute[community]",
    "location.grid": "attribute[grid]",
    "location.building": "attribute[building]",
}


def open311_refusal(status: int, message: str, field: str | None) -> tuple[int, str]:
    """A refusal of the need's door in Open311 terms: a bad value is GeoReport v2's 400, and
    the message names the parameter the client sent (description, not title)."""
    name = OPEN311_NAMES.get(field or "")
    if name is not None and field is not None:
        message = message.replace(f"invalid {field}", f"invalid {name}", 1)
    return (400 if status == 422 else status), message


def error(fmt: Fmt, status: int, description: str) -> Response:
    return render(fmt, "errors", [{"code": status, "description": description}], status)


def services(policy: Policy) -> list[dict[str, Any]]:
    keywords: dict[str, list[str]] = {}
    for rule in policy.classification.rules:
        keywords.setdefault(rule.category.value, []).extend(rule.keywords)
    required = policy.collection.required_fields
    return [
        {
            "service_code": c.value,
            "service_name": c.value.replace("_", " "),
            "description": f"needs of category {c.value}",
            "metadata": True,
            "type": "realtime",
            "keywords": sorted(set(keywords.get(c.value, [])))[:20],
            "group": "enterprise"
            if c in (Category.ENTERPRISE_AFFAIRS, Category.TALENT)
            else "resident",
            "required_fields": list(required.get(c, [])),
        }
        for c in Category
    ]


def definition(policy: Policy, category: Category) -> dict[str, Any]:
    required = policy.collection.required_fields.get(category, [])
    attrs = [(name, True, f"required for {category.value}") for name in required]
    attrs += [
        ("street", False, "street unit id (default: the first receiver)"),
        ("community", False, "community unit id"),
        ("grid", False, "grid unit id"),
        ("building", False, "building"),
        ("external_id", False, "your id of the request: resending it is idempotent"),
        ("requester_kind", False, "resident | enterprise | talent | party_member | worker"),
    ]
    return {
        "service_code": category.value,
        "attributes": [
            {
                "variable": True,
                "code": code,
                "datatype": "string",
                "required": req,
                "datatype_description": "text",
                "order": i,
                "description": text,
            }
            for i, (code, req, text) in enumerate(attrs, 1)
        ],
    }


class Open311Post(BaseModel):
    """A POST requests.{fmt} body (form-encoded per GeoReport v2)."""

    service_code: Category
    description: str = Field(min_length=1, max_length=10000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, max_length=200)
    address_id: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=200)
    device_id: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=64)
    first_name: str | None = Field(default=None, max_length=50)
    last_name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=32)
    media_url: str | None = Field(default=None, max_length=2000)
    attributes: dict[str, str] = Field(default_factory=dict)

    def submission(self, policy: Policy) -> Submission:
        a = self.attributes
        if (
            self.lat is None
            and self.long is None
            and not self.address_string
            and not self.address_id
        ):
            raise ValueError("location: give lat and long, address_string or address_id")
        external = a.get("external_id") or uuid.uuid4().hex
        details = {k: v for k, v in a.items() if k not in OWN_ATTRIBUTES}
        if self.lat is not None and self.long is not None:
            details |= {"lat": str(self.lat), "long": str(self.long)}
        name = " ".join(p for p in (self.last_name, self.first_name) if p) or None
        return Submission(
            channel=Channel.OPEN311,
            external_id=external,
            title=self.description[:200],
            description=self.description,
            details=details,
            category_hint=self.service_code,
            requester=Requester(
                requester_id=self._requester_id(external),
                kind=RequesterKind(a.get("requester_kind", "resident")),
                name=name,
                phone=self.phone,
            ),
            location=Location(
                street=a.get("street") or policy.first_receiver,
                community=a.get("community"),
                grid=a.get("grid"),
                building=a.get("building"),
                address=self.address_string,
            ),
        )

    def _requester_id(self, external: str) -> str:
        if self.account_id and REQUESTER_ID.match(self.account_id):
            return self.account_id
        basis = self.email or self.phone or external
        return "o311-" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def request_view(
    row: dict[str, Any], directory: Directory, *, public: bool = False
) -> dict[str, Any]:
    """A request as GeoReport shows it; `public`: without its description and address (for
    anonymous readers and keys that may not see the need)."""
    closed = row["stage"] == "closed"
    notes = f"stage {row['stage']}" + (f", outcome {row['outcome']}" if row.get("outcome") else "")
    return {
        "service_request_id": row["stream_id"],
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": (row.get("category") or "").replace("_", " ") or None,
        "service_code": row.get("category"),
        "description": None if public else row.get("title"),
        "agency_responsible": directory.name(row.get("assigned_unit")),
        "service_notice": None,
        "requested_datetime": _iso(row.get("submitted_at")),
        "updated_datetime": _iso(row.get("updated_at")),
        "expected_datetime": _iso(row.get("due_at")),
        "address": None if public else row.get("address"),
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
