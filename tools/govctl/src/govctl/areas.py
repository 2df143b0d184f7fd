"""The area tree file: validation, and publishing to the compacted areas topic.

Nothing is published unless the whole file is valid; an error names the entry
(its position and id) and the field.

An area may carry a shape (`geometry`, GeoJSON Polygon or MultiPolygon in
WGS84). Shapes are checked with shapely: each is a valid polygon, lies inside
its parent's shape when the parent has one, and overlaps none of its siblings'
shapes. Both checks allow SHAPE_TOLERANCE: a strip that narrow along an edge
(where the rounding of coordinates, or a survey, puts neighbours a little into
each other) is no overlap and not outside.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import shapely
import yaml
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gov_contracts import CloudEvent, event_type_for
from gov_contracts.areas import AREA_ID_PATTERN, AreaKind, AreaUpserted, Geometry
from govctl import kafka_client
from govctl.errors import StackError

DEFAULT_FILE = Path(__file__).resolve().parents[4] / "data" / "areas" / "changping.yaml"
SOURCE = "govctl/areas"
_NS = uuid.UUID("6f1c9a52-8a0e-4c2b-9d63-2b1f0e7c4a10")
_PARENT_KINDS = {
    AreaKind.town: (None,),
    AreaKind.village: (AreaKind.town,),
    AreaKind.community: (AreaKind.town,),
    AreaKind.grid: (AreaKind.village, AreaKind.community),
}
# degrees (about 1 m): a shape may reach this far beyond its parent or into a sibling; rounding to
# 6 decimals moves a point by at most 0.1 m
SHAPE_TOLERANCE = 1e-5
# square degrees (about 10 m² at Changping's latitude): what is left beyond that is ignored below this
AREA_EPSILON = 1e-9


class AreaFileError(StackError):
    pass


class AreaEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=AREA_ID_PATTERN)
    kind: AreaKind
    name: str = Field(min_length=1)
    invented: bool = False
    geometry: Geometry | None = None


def _read(path: Path) -> dict[str, Any]:
    """The parsed file, which must hold a non-empty top-level `areas:` list."""
    try:
        raw_text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise AreaFileError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise AreaFileError(f"{path}: not UTF-8 text (byte {e.start}): save the file as UTF-8") from None
    try:
        doc = yaml.safe_load(raw_text)
    except yaml.YAMLError as e:  # its message spans lines (the line, a caret): one line, with the position
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise AreaFileError(f"{path}: not valid YAML{where}: {what}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("areas"), list) or not doc["areas"]:
        raise AreaFileError(f"{path}: expected a top-level 'areas:' list")
    return doc


def _entries(path: Path, doc: dict[str, Any]) -> list[AreaEntry]:
    """Each entry validated on its own."""
    entries: list[AreaEntry] = []
    for i, raw in enumerate(doc["areas"]):
        label = f"areas[{i}]" + (f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else "")
        if not isinstance(raw, dict):
            raise AreaFileError(f"{path}: {label}: expected a mapping with id, kind, name")
        try:
            entries.append(AreaEntry.model_validate(raw))
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(entry)"
            raise AreaFileError(f"{path}: {label}: field '{field}': {err['msg']}") from None
    return entries


def _check_tree(path: Path, entries: list[AreaEntry]) -> None:
    """Unique ids, one town at the root, every parent in the file and of a kind the child may stand under."""
    by_id: dict[str, AreaEntry] = {}
    for i, a in enumerate(entries):
        label = f"areas[{i}] ({a.id})"
        if a.id in by_id:
            raise AreaFileError(f"{path}: {label}: field 'id': duplicate of an earlier entry")
        by_id[a.id] = a
    roots = [a for a in entries if "." not in a.id]
    if len(roots) != 1:
        raise AreaFileError(f"{path}: expected exactly one town at the root, found {len(roots)}")
    for i, a in enumerate(entries):
        label = f"areas[{i}] ({a.id})"
        parent_id = a.id.rsplit(".", 1)[0] if "." in a.id else None
        parent = by_id.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            raise AreaFileError(f"{path}: {label}: field 'id': parent {parent_id} is not in the file")
        allowed = _PARENT_KINDS[a.kind]
        if (parent.kind if parent else None) not in allowed:
            where = f"under a {parent.kind.value}" if parent else "at the root"
            raise AreaFileError(f"{path}: {label}: field 'kind': a {a.kind.value} cannot stand {where}")


def _shapes(path: Path, entries: list[AreaEntry]) -> dict[str, BaseGeometry]:
    """Each shape a valid polygon; in file order, so the first invalid entry is named."""
    shapes: dict[str, BaseGeometry] = {}
    for i, a in enumerate(entries):
        if a.geometry is None:
            continue
        g = shape(a.geometry.model_dump(mode="json"))
        if not g.is_valid:
            raise AreaFileError(
                f"{path}: areas[{i}] ({a.id}): field 'geometry': not a valid polygon: {explain_validity(g)}"
            )
        if g.area <= AREA_EPSILON:
            raise AreaFileError(f"{path}: areas[{i}] ({a.id}): field 'geometry': the polygon has no area")
        shapes[a.id] = g
    return shapes


def _check_shapes(path: Path, entries: list[AreaEntry]) -> None:
    """Inside the parent's shape (when it has one), and no overlap with a sibling's shape."""
    shapes = _shapes(path, entries)
    position = {a.id: i for i, a in enumerate(entries)}
    children: dict[str | None, list[str]] = {}
    for a in entries:
        if a.id in shapes:
            children.setdefault(a.id.rsplit(".", 1)[0] if "." in a.id else None, []).append(a.id)
    for parent_id, ids in children.items():
        parent = shapes.get(parent_id) if parent_id else None
        for n, area_id in enumerate(ids):
            label = f"areas[{position[area_id]}] ({area_id})"
            g = shapes[area_id]
            if parent is not None:
                outside = shapely.difference(g, parent.buffer(SHAPE_TOLERANCE)).area
                if outside > AREA_EPSILON:
                    raise AreaFileError(
                        f"{path}: {label}: field 'geometry': lies outside its parent {parent_id} "
                        f"({outside:.3g} square degrees outside)"
                    )
            inner = g.buffer(-SHAPE_TOLERANCE)
            for earlier in ids[:n]:
                overlap = shapely.intersection(inner, shapes[earlier]).area
                if overlap > AREA_EPSILON:
                    raise AreaFileError(
                        f"{path}: {label}: field 'geometry': overlaps {earlier} "
                        f"(areas[{position[earlier]}]; {overlap:.3g} square degrees)"
                    )


def _fingerprint(a: AreaEntry) -> str:
    line = f"{a.id}\t{a.kind.value}\t{a.name}\t{a.invented}"
    if a.geometry is not None:  # a tree without shapes keeps the version it had before shapes existed
        line += "\t" + json.dumps(a.geometry.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return line


def load(path: Path) -> tuple[list[AreaUpserted], str]:
    """Validate the file; returns the events to publish (parents first) and the tree version."""
    entries = _entries(path, _read(path))
    _check_tree(path, entries)
    _check_shapes(path, entries)
    version = hashlib.sha256(
        "\n".join(_fingerprint(a) for a in sorted(entries, key=lambda a: a.id)).encode()
    ).hexdigest()[:16]
    ordered = sorted(entries, key=lambda a: (a.id.count("."), a.id))
    events = [
        AreaUpserted(
            id=a.id,
            kind=a.kind,
            name=a.name,
            invented=a.invented,
            parent_id=a.id.rsplit(".", 1)[0] if "." in a.id else None,
            tree_version=version,
            geometry=a.geometry,
        )
        for a in ordered
    ]
    return events, version


def event_id(area_id: str, version: str) -> str:
    """Deterministic: publishing the same tree twice is deduplicated by every inbox."""
    return str(uuid.uuid5(_NS, f"{area_id}@{version}"))


async def _publish(bootstrap: str, events: list[AreaUpserted], version: str) -> None:
    et = event_type_for(AreaUpserted)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        client_id="govctl-areas",
        **kafka_client.client_security(),
    )
    try:
        await producer.start()
    except Exception as e:  # unreachable: one line from ./gov, not aiokafka's "Unclosed" warning as well
        await producer.stop()
        raise await kafka_client.unreachable(bootstrap, e) from None
    try:
        futures = []
        for ev in events:
            ce = CloudEvent(type=et.name, source=SOURCE, subject=ev.id, id=event_id(ev.id, version))
            futures.append(
                await producer.send(et.topic, ev.model_dump_json().encode(), key=ev.id.encode(), headers=ce.headers())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def publish(bootstrap: str, path: Path) -> int:
    events, version = load(path)
    asyncio.run(_publish(bootstrap, events, version))
    return len(events)
