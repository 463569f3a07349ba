"""A tool function's JSON Schemas, from its type hints (pydantic), and the conversions both ways.

Arguments travel to the guard as JSON (what the agent sent, pydantic models dumped), and back
into the function's own types only after the guard allowed them. Patterns a user writes
(``Field(pattern=...)``) are JSON Schema patterns, hence ECMA-262: the registry refuses a
Python-only construct when it is built, not at the first call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic_core import PydanticSerializationError, to_jsonable_python

from guardrails.errors import ConfigError

#: A parameter of this name receives the call id, never a value from the agent.
IDEMPOTENCY_PARAM = "idempotency_key"


class ArgumentsInvalid(ValueError):
    """Arguments the guard allowed but the function's own types refuse (pydantic is stricter)."""


@dataclass(frozen=True)
class ToolSignature:
    name: str
    params: tuple[str, ...]  # in declaration order, without the idempotency key
    args_model: type[BaseModel]
    returns: TypeAdapter[Any] | None
    takes_idempotency_key: bool

    @classmethod
    def of(cls, fn: Callable[..., Any], name: str) -> ToolSignature:
        try:
            hints = get_type_hints(fn, include_extras=True)
        except (NameError, TypeError) as exc:
            raise ConfigError(f"tool {name!r}: cannot resolve its type hints: {exc}") from None
        fields: dict[str, Any] = {}
        params: list[str] = []
        takes_key = False
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigError(f"tool {name!r}: declare each argument; *{param.name} has no schema")
            if param.name == IDEMPOTENCY_PARAM:
                takes_key = True
                continue
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (hints.get(param.name, Any), default)
            params.append(param.name)
        model = create_model(f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields)
        returns = TypeAdapter(hints["return"]) if "return" in hints else None
        return cls(name, tuple(params), model, returns, takes_key)

    def args_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()

    def output_schema(self) -> dict[str, Any] | None:
        return None if self.returns is None else self.returns.json_schema(mode="serialization")

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The call's arguments as the agent-facing JSON object: positionals named, models dumped.
        Unknown keywords are kept: the guard's schema check refuses them, on the record."""
        if len(args) > len(self.params):
            raise TypeError(f"{self.name}() takes {len(self.params)} positional arguments, {len(args)} given")
        named = dict(zip(self.params, args, strict=False))
        for key in kwargs:
            if key in named:
                raise TypeError(f"{self.name}() got multiple values for argument {key!r}")
        bound: dict[str, Any] = jsonable({**named, **kwargs}, f"arguments of {self.name}()")
        return bound

    def arguments(self, args: Mapping[str, Any], call_id: str) -> dict[str, Any]:
        """The keyword arguments the function runs with: the allowed JSON, in its declared types."""
        try:
            model = self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            raise ArgumentsInvalid(f"arguments of {self.name}() do not fit its types: {exc}") from None
        kwargs = {p: getattr(model, p) for p in self.params}
        if self.takes_idempotency_key:
            kwargs[IDEMPOTENCY_PARAM] = call_id
        return kwargs

    def output_value(self, value: Any) -> Any:
        """A checked (JSON) output back in the declared return type, for Python callers."""
        return value if self.returns is None else self.returns.validate_python(value)


def jsonable(value: Any, what: str) -> Any:
    """``value`` as JSON data (pydantic models, dataclasses, dates dumped); TypeError when it cannot be."""
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise TypeError(f"{what}: not JSON data: {exc}") from None


def description_of(fn: Callable[..., Any]) -> str | None:
    doc = inspect.getdoc(fn)
    return doc.split("\n\n", 1)[0].strip() if doc else None
