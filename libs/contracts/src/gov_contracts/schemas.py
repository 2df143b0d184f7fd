"""JSON Schemas of every event type, committed under contracts/events/, and the
compatibility rule that protects existing subscribers.

Breaking (refused): an event type disappears or is renamed; a field is removed;
a field's type changes; a field that was always present becomes optional.
Compatible: a new optional field; a new event type; documentation changes.
A breaking change is published as a new event type with the next version suffix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gov_contracts.registry import REGISTRY

SUBDIR = "events"


def generate() -> dict[str, dict[str, Any]]:
    out = {}
    for name, et in sorted(REGISTRY.items()):
        schema = et.model.model_json_schema(mode="serialization")
        schema["$id"] = name
        schema["x-topic"] = et.topic
        schema["x-producer"] = et.producer
        out[name] = schema
    return out


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        target: dict[str, Any] = schema.get("$defs", {}).get(ref.split("/")[-1], {})
        return target
    return node


def _shape(schema: dict[str, Any], node: dict[str, Any], depth: int = 0) -> Any:
    """A comparable description of a field's type (ignores titles, descriptions, examples)."""
    node = _resolve(schema, node)
    if depth > 8:
        return "..."
    if "anyOf" in node:
        return ("anyOf", tuple(sorted(repr(_shape(schema, n, depth + 1)) for n in node["anyOf"])))
    if "enum" in node:
        return ("enum", node.get("type"))
    t = node.get("type")
    if t == "object" and "properties" in node:
        return ("object", tuple(sorted((k, repr(_shape(schema, v, depth + 1))) for k, v in node["properties"].items())))
    if t == "array":
        return ("array", repr(_shape(schema, node.get("items", {}), depth + 1)))
    return (t, node.get("format"))


def breaking_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    for field, spec in old_props.items():
        if field not in new_props:
            problems.append(f"{name}: field '{field}' removed")
            continue
        if _shape(old, spec) != _shape(new, new_props[field]):
            problems.append(f"{name}: field '{field}' changed type")
        if field in old_req and field not in new_req:
            problems.append(f"{name}: field '{field}' is no longer always present")
    return problems


def committed(directory: Path) -> dict[str, dict[str, Any]]:
    d = Path(directory) / SUBDIR
    return {f.stem: json.loads(f.read_text(encoding="utf-8")) for f in sorted(d.glob("*.json"))}


def compare(directory: Path) -> tuple[list[str], list[str]]:
    """(breaking changes, stale files) of the code against the committed schemas."""
    old, new = committed(directory), generate()
    breaking, stale = [], []
    for name, schema in old.items():
        if name not in new:
            breaking.append(f"{name}: event type removed or renamed")
            continue
        breaking.extend(breaking_changes(name, schema, new[name]))
    for name, schema in new.items():
        if _dump(old.get(name, {})) != _dump(schema):
            stale.append(name)
    return breaking, stale


def check(directory: Path) -> list[str]:
    breaking, stale = compare(directory)
    out = [f"breaking change: {b}; publish a new event type (.v2) instead" for b in breaking]
    if stale:
        out.append(f"stale schema(s) {', '.join(stale)}: run ./gov contracts export")
    return out


def export(directory: Path, allow_breaking: bool = False) -> list[Path]:
    breaking, _ = compare(directory)
    if breaking and not allow_breaking:
        raise ValueError("refusing to export breaking changes: " + "; ".join(breaking))
    d = Path(directory) / SUBDIR
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = d / f"{name}.json"
        path.write_text(_dump(schema), encoding="utf-8")
        written.append(path)
    return written
