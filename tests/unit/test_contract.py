"""The front end's API types match the contract: each TypeScript interface in
``labextension/src/contract.ts`` declares exactly the properties of its schema in
``workspace_launcher/openapi.json`` (and of the workspace-progress event schema), optional
(``?``) exactly where the schema does not require them, ``| null`` exactly where the schema
allows null.

Pure: reads the three files, nothing else. The TypeScript reader is a small regex one; it
accepts the simple ``name?: type;`` lines contract.ts is written in and fails on anything else,
so a line it cannot read is never skipped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_TS = ROOT / "labextension" / "src" / "contract.ts"
OPENAPI = ROOT / "workspace_launcher" / "openapi.json"
PROGRESS_EVENT = ROOT / "workspace_launcher" / "event_schemas" / "workspace-progress" / "v1.yaml"

#: components.schemas name -> the TypeScript interface for it. Every schema is listed: a new
#: schema in openapi.json must get an interface (or be named in UNUSED_SCHEMAS, with a reason).
COMPONENT_INTERFACES = {
    "Error": "IErrorBody",
    "Profile": "IProfile",
    "Gpu": "IGpu",
    "GpuInventory": "IGpuInventory",
    "Dataset": "IDataset",
    "LaunchRequest": "ILaunchRequest",
    "Workspace": "IWorkspace",
    "Snapshot": "ISnapshot",
    "SnapshotCreated": "ISnapshotCreated",
}

#: Schemas of components.schemas the front end does not use.
UNUSED_SCHEMAS: frozenset[str] = frozenset()

#: Inline (nested or per-operation) schemas with an interface of their own: the keys leading
#: to the schema in openapi.json -> the interface.
INLINE_INTERFACES = {
    ("components", "schemas", "Gpu", "properties", "held_by", "items"): "IGpuHolder",
    ("components", "schemas", "GpuInventory", "properties", "policy"): "IGpuPolicy",
    ("components", "schemas", "Error", "properties", "errors", "items"): "IFieldError",
    ("components", "schemas", "Profile", "properties", "build_estimate", "oneOf", 1): "IBuildEstimate",
    (
        "paths", "/workspaces/{workspace_id}/snapshot", "post", "requestBody", "content",
        "application/json", "schema",
    ): "ISnapshotRequest",
    (
        "paths", "/workspaces/{workspace_id}/logs", "get", "responses", "200", "content",
        "application/json", "schema",
    ): "ILogs",
}

#: The event's interface also carries the emission's schema id, which is not event data.
EVENT_INTERFACE = "IProgressEvent"
EVENT_EXTRA = {"schema_id"}

_INTERFACE = re.compile(r"^export interface (?P<name>I\w+)\s*\{(?P<body>[^{}]*)\}", re.M)
_PROPERTY = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?P<optional>\?)?:\s*(?P<type>[^;]+);$")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


@dataclass(frozen=True)
class TsProperty:
    optional: bool
    type: str

    @property
    def nullable(self) -> bool:
        return re.search(r"(^|\|)\s*null\s*(\||$)", self.type) is not None


def read_interfaces(source: str) -> dict[str, dict[str, TsProperty]]:
    """The properties of each ``export interface`` of a TypeScript source."""
    interfaces: dict[str, dict[str, TsProperty]] = {}
    for match in _INTERFACE.finditer(_COMMENT.sub("", source)):
        properties: dict[str, TsProperty] = {}
        for line in match["body"].splitlines():
            line = line.strip()
            if not line:
                continue
            prop = _PROPERTY.match(line)
            assert prop, f"{match['name']}: cannot read the line {line!r} (write `name?: type;`)"
            assert prop["name"] not in properties, f"{match['name']}.{prop['name']} twice"
            properties[prop["name"]] = TsProperty(bool(prop["optional"]), prop["type"].strip())
        interfaces[match["name"]] = properties
    return interfaces


def _dig(document: dict, keys: tuple[str, ...]) -> dict:
    node = document
    for key in keys:
        node = node[key]
    return node


def _allows_null(schema: dict) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if None in schema.get("enum", ()):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))


@pytest.fixture(scope="module")
def interfaces() -> dict[str, dict[str, TsProperty]]:
    return read_interfaces(CONTRACT_TS.read_text(encoding="utf-8"))


def _openapi() -> dict:
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


def _cases() -> list:
    openapi = _openapi()
    cases = [
        pytest.param(openapi["components"]["schemas"][name], interface, set(), id=name)
        for name, interface in COMPONENT_INTERFACES.items()
    ]
    cases += [
        pytest.param(_dig(openapi, keys), interface, set(), id=interface)
        for keys, interface in INLINE_INTERFACES.items()
    ]
    event = yaml.safe_load(PROGRESS_EVENT.read_text(encoding="utf-8"))
    cases.append(pytest.param(event, EVENT_INTERFACE, EVENT_EXTRA, id="workspace-progress event"))
    return cases


CASES = _cases()


def test_every_component_schema_has_an_interface():
    schemas = set(_openapi()["components"]["schemas"])
    unmapped = schemas - set(COMPONENT_INTERFACES) - UNUSED_SCHEMAS
    assert not unmapped, f"map these schemas to contract.ts interfaces: {sorted(unmapped)}"
    gone = (set(COMPONENT_INTERFACES) | UNUSED_SCHEMAS) - schemas
    assert not gone, f"openapi.json no longer has these schemas: {sorted(gone)}"


def test_every_interface_of_the_contract_has_a_schema(interfaces):
    checked = {*COMPONENT_INTERFACES.values(), *INLINE_INTERFACES.values(), EVENT_INTERFACE}
    unchecked = set(interfaces) - checked
    assert not unchecked, f"map these contract.ts interfaces to their schemas: {sorted(unchecked)}"


@pytest.mark.parametrize(("schema", "interface", "extra"), CASES)
def test_interface_declares_every_schema_property(interfaces, schema, interface, extra):
    assert interface in interfaces, f"contract.ts has no interface {interface}"
    missing = set(schema["properties"]) - set(interfaces[interface])
    assert not missing, f"{interface} lacks {sorted(missing)}"


@pytest.mark.parametrize(("schema", "interface", "extra"), CASES)
def test_interface_declares_nothing_the_schema_lacks(interfaces, schema, interface, extra):
    unknown = set(interfaces.get(interface, {})) - set(schema["properties"]) - extra
    assert not unknown, f"{interface} declares {sorted(unknown)}, which the schema lacks"


@pytest.mark.parametrize(("schema", "interface", "extra"), CASES)
def test_optional_exactly_where_not_required(interfaces, schema, interface, extra):
    required = set(schema.get("required", ())) | extra
    declared = interfaces.get(interface, {})
    wrong = {
        name: ("required in the schema" if name in required else "optional in the schema")
        for name, prop in declared.items()
        if name in schema["properties"] or name in extra
        if prop.optional == (name in required)
    }
    assert not wrong, f"{interface}: fix the `?` of {wrong}"


@pytest.mark.parametrize(("schema", "interface", "extra"), CASES)
def test_null_exactly_where_the_schema_allows_it(interfaces, schema, interface, extra):
    declared = interfaces.get(interface, {})
    wrong = {
        name: ("the schema allows null" if _allows_null(spec) else "the schema does not allow null")
        for name, spec in schema["properties"].items()
        if name in declared and declared[name].nullable != _allows_null(spec)
    }
    assert not wrong, f"{interface}: fix the `| null` of {wrong}"


def test_the_reader_reads_simple_interfaces_and_refuses_others():
    source = """
    /** doc */
    export interface IA {
      /** a comment */
      id: string;
      name?: string | null; // trailing comment
      gpus: number | 'all' | string[];
    }
    export const X = 1;
    """
    assert read_interfaces(source.replace("\n    ", "\n")) == {
        "IA": {
            "id": TsProperty(False, "string"),
            "name": TsProperty(True, "string | null"),
            "gpus": TsProperty(False, "number | 'all' | string[]"),
        }
    }
    assert TsProperty(True, "string | null").nullable
    assert not TsProperty(False, "nullish").nullable
    with pytest.raises(AssertionError, match="cannot read"):
        read_interfaces("export interface IB {\n  method(): void;\n}\n")
