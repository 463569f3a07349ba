"""The tool registry: per tool, the JSON Schema of its arguments and of its output.

Schemas are checked and compiled once, when the registry is built, so the per-call
path is a single ``iter_errors`` over an already-built validator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from guardrails.config import read_document
from guardrails.errors import ConfigError
from guardrails.model import Finding
from guardrails.schema_regex import check_patterns, ecma_validator

_MAX_SCHEMA_ERRORS = 20
_FLAGS = ("once_per_key", "untrusted_source", "outbound")


@dataclass(frozen=True)
class SchemaCheck:
    """A compiled JSON Schema. ``errors(value)`` lists findings, empty when it matches."""

    schema: Mapping[str, Any]
    validator: Any = field(repr=False)

    @classmethod
    def compile(cls, schema: Mapping[str, Any], where: str) -> SchemaCheck:
        if not isinstance(schema, Mapping):
            raise ConfigError(f"{where}: a JSON Schema must be an object, not {type(schema).__name__}")
        schema = dict(schema)
        try:
            # JSON Schema patterns are ECMA-262: `$` is the end of the string ("EUR\n" does not
            # match ^[A-Z]{3}$), \d is ASCII only. A Python-only construct is refused here.
            check_patterns(schema)
            validator_class = ecma_validator(jsonschema.validators.validator_for(schema))
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise ConfigError(f"{where}: invalid JSON Schema: {exc.message}") from None
        except ValueError as exc:
            raise ConfigError(f"{where}: invalid JSON Schema pattern: {exc}") from None
        return cls(schema, validator_class(schema, format_checker=validator_class.FORMAT_CHECKER))

    def errors(self, value: Any, source: str) -> tuple[Finding, ...]:
        found: list[Finding] = []
        errors: Iterator[Any] = self.validator.iter_errors(value)
        for error in errors:
            path = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found.append(Finding(kind="schema", detail=_short(error.message), path=path, source=source))
            if len(found) >= _MAX_SCHEMA_ERRORS:
                break
        return tuple(found)


def _short(text: str, limit: int = 200) -> str:
    # jsonschema quotes the offending value: a 10 MB argument must not be copied into the Decision.
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ToolSpec:
    """What Railguard knows of one tool.

    ``key_arg`` names the argument that identifies what a result is about (``fraud_check``
    is keyed by ``transaction_id``) so its verified result becomes a session fact.
    ``fact_fields`` are the fields of the output copied into that fact.
    ``once_per_key``: the tool acts once per key (one payment per transaction); an
    allowed call for a key that is pending, succeeded or of unknown outcome makes a
    second one a duplicate. ``untrusted_source``: its output taints the session whatever
    a detector says (web fetch, read email). ``outbound``: it sends something out
    (email, payment, HTTP POST). Policies read these as ``input.tool``.
    """

    name: str
    args: SchemaCheck
    output: SchemaCheck | None = None
    key_arg: str | None = None
    fact_fields: tuple[str, ...] = ("status",)
    once_per_key: bool = False
    untrusted_source: bool = False
    outbound: bool = False
    receives_pii: tuple[str, ...] = ()  # entity types whose real values Guard.reveal gives this tool

    @property
    def traits(self) -> dict[str, Any]:
        """``input.tool``: what the registry says of the tool being called."""
        return {
            "key": self.key_arg,
            "once_per_key": self.once_per_key,
            "untrusted_source": self.untrusted_source,
            "outbound": self.outbound,
        }

    @property
    def expects_json(self) -> bool:
        return self.output is not None and self.output.schema.get("type") in ("object", "array")


class ToolRegistry:
    """Tools by name. Built once from a mapping or a JSON file.

    >>> reg = ToolRegistry.from_mapping({"echo": {"args": {"type": "object"}}})
    >>> reg.get("echo").name
    'echo'
    """

    def __init__(self, tools: Mapping[str, ToolSpec]) -> None:
        self._tools = dict(tools)

    def get(self, name: str) -> ToolSpec | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    @classmethod
    def from_mapping(cls, tools: Mapping[str, Any], where: str = "tools") -> ToolRegistry:
        specs: dict[str, ToolSpec] = {}
        for name, entry in tools.items():
            here = f"{where}.{name}"
            if not isinstance(entry, Mapping) or "args" not in entry:
                raise ConfigError(f"{here}: each tool needs an 'args' JSON Schema")
            unknown = set(entry) - {"args", "output", "key", "facts", "description", "receives_pii", *_FLAGS}
            if unknown:
                raise ConfigError(f"{here}: unknown settings {sorted(unknown)}")
            flags = {flag: entry.get(flag, False) for flag in _FLAGS}
            for flag, value in flags.items():
                if not isinstance(value, bool):
                    raise ConfigError(f"{here}.{flag}: must be true or false, not {value!r}")
            output = entry.get("output")
            facts = entry.get("facts", ["status"])
            if not isinstance(facts, list) or not all(isinstance(f, str) for f in facts):
                raise ConfigError(f"{here}.facts: must be a list of output field names")
            key = entry.get("key")
            if key is not None and not isinstance(key, str):
                raise ConfigError(f"{here}.key: must be an argument name")
            receives = entry.get("receives_pii", [])
            if not isinstance(receives, list) or not all(isinstance(e, str) and e for e in receives):
                raise ConfigError(f"{here}.receives_pii: must be a list of entity types (EMAIL_ADDRESS, ...)")
            if flags["once_per_key"] and key is None:
                raise ConfigError(f"{here}.once_per_key: needs a 'key' argument to count calls by")
            specs[name] = ToolSpec(
                name=name,
                args=SchemaCheck.compile(entry["args"], f"{here}.args"),
                output=SchemaCheck.compile(output, f"{here}.output") if output is not None else None,
                key_arg=key,
                fact_fields=tuple(facts),
                receives_pii=tuple(receives),
                **flags,
            )
        return cls(specs)

    @classmethod
    def from_file(cls, path: str | Path) -> ToolRegistry:
        path = Path(path)
        data = read_document(path, "tool registry", json.loads, "JSON")
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: must be a JSON object of tool name -> spec")
        return cls.from_mapping(data, where=str(path))
