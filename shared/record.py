"""Frozen records: the canonical events, ``Money`` and the CRM models as standard-library dataclasses.

Why not pydantic models: every webhook builds and publishes canonical events, and importing pydantic and
building its models cost a webhook's cold start more than a third of its floor (``bench/README.md``). So a
record is a plain frozen dataclass, and pydantic is used only where a record is *read* from outside the
function (``Record.parse``: the consumers, the API, the CLI) and where the JSON Schemas are generated
(``shared.events.schemas``) — pydantic validates and describes standard dataclasses from their fields, their
``metadata`` (``description``, ``json_schema_extra``, ``strict``) and ``Constraint``'s hooks, so the schemas
keep one source.

What pydantic did on construction, ``Record.__post_init__`` still does: each field's value must be of its
declared type (``check_fields``). It knows the few kinds of field the records use (str, int, bool, datetime,
date, records and other classes, ``X | None``, ``Literal``, ``list[X]``, ``tuple[X, ...]``,
``Annotated[X, Constraint(...)]``) and raises ``TypeError`` for any other at the class's first use;
``tests/unit/test_records.py`` holds it to pydantic's verdict on the same values.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal, Self, Union, get_args, get_origin

_T = typing.TypeVar("_T")


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_T]) -> type[_T]:
    """``@record``: a frozen, keyword-only dataclass whose ``__eq__``, ``__hash__`` and ``__repr__`` are
    ``Record``'s. ``dataclasses`` writes each method it generates as source and compiles it when the class
    is created: at about 1 ms a class for the full set, the canonical events cost a Stripe webhook's cold
    start 20+ ms; the three shared methods halve that (``bench/README.md``)."""
    return dataclasses.dataclass(frozen=True, kw_only=True, eq=False, repr=False)(cls)


def doc(description: str, **extra: Any) -> dict[str, Any]:
    """A field's metadata as pydantic reads it for the JSON Schema: ``doc("...")``."""
    return {"description": description, **extra}


@record
class Record:
    """Base of the hub's frozen records. Subclasses are ``@record`` too."""

    #: what pydantic applies when it validates or describes the record: no field it does not declare
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def __post_init__(self) -> None:
        check_fields(self)

    @classmethod
    def parse(cls, data: Any) -> Self:
        """The record from its JSON form (a dict, as ``dump`` gives it), validated by pydantic; pydantic's
        ``ValidationError`` (a ``ValueError``) names what does not fit."""
        return typing.cast(Self, _adapter(cls).validate_python(data))

    def dump(self) -> dict[str, Any]:
        """The record as JSON-ready values (every field, ``None`` included; datetimes ISO 8601, UTC as Z)."""
        return typing.cast(dict[str, Any], to_json_value(self))

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _field_names(type(self)))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == typing.cast(Record, other)._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _field_names(type(self)))
        return f"{type(self).__name__}({shown})"


_ADAPTERS: dict[type, Any] = {}


def _adapter(cls: type) -> Any:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        from pydantic import TypeAdapter  # off the webhooks' path: only readers of records import pydantic

        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def to_json_value(value: Any) -> Any:
    """``value`` as ``json.dumps`` takes it, the way pydantic's JSON mode dumps it."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_json_value(getattr(value, name)) for name in _field_names(kind)}
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    return value


class Constraint:
    """A field's bound or pattern, as ``Annotated[int, Constraint(minimum=1)]``: checked when a record is built,
    and handed to pydantic (its validation and JSON Schema) through pydantic's own hooks, without importing it:
    ``minimum`` is pydantic's ``ge``, ``pattern`` its ``pattern``; ``description`` lands where pydantic puts a
    description given in ``Annotated`` (on that branch of an ``X | None``)."""

    def __init__(
        self, *, minimum: int | None = None, pattern: str | None = None, description: str = ""
    ) -> None:
        self.minimum, self.pattern, self.description = minimum, pattern, description
        self._regex = re.compile(pattern) if pattern is not None else None

    def ok(self, value: Any) -> bool:
        if self.minimum is not None and value < self.minimum:
            return False
        return self._regex is None or self._regex.search(value) is not None

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        schema = handler(source)
        if self.minimum is not None:
            schema["ge"] = self.minimum
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Callable[[Any], Any]) -> Any:
        schema = handler(core_schema)
        if self.description:
            schema["description"] = self.description
        return schema

    def __repr__(self) -> str:
        return f"Constraint(minimum={self.minimum!r}, pattern={self.pattern!r})"


# -- the construction check -------------------------------------------------------------------------------

Check = Callable[[Any], bool]


class FieldTypeError(ValueError, TypeError):
    """A record built with a value that is not of its field's type: a ``ValueError`` like pydantic's
    ``ValidationError`` (the callers that map a payload catch that), and a ``TypeError`` (what it is)."""


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_date(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _checker(tp: Any) -> Check:
    origin = get_origin(tp)
    if origin is Annotated:
        base, *extras = get_args(tp)
        if not all(isinstance(extra, Constraint) for extra in extras):
            raise TypeError(
                f"a record field's Annotated metadata is a shared.record.Constraint, not {extras!r}"
            )
        of_type = _checker(base)
        return lambda value: of_type(value) and all(c.ok(value) for c in extras)
    if tp is Any:
        return lambda value: True
    if tp is None or tp is types.NoneType:
        return lambda value: value is None
    if origin in (Union, types.UnionType):
        parts = tuple(_checker(arg) for arg in get_args(tp))
        return lambda value: any(part(value) for part in parts)
    if origin is Literal:
        choices = frozenset((type(c), c) for c in get_args(tp))
        kinds = frozenset(type(c) for c in get_args(tp))  # str, int, bool: hashable
        return lambda value: type(value) in kinds and (type(value), value) in choices
    if origin is list or origin is tuple:
        args = get_args(tp)
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            raise TypeError(f"a record's tuple field is tuple[X, ...], not {tp!r}")
        item = _checker(args[0])
        kind = origin
        return lambda value: isinstance(value, kind) and all(item(v) for v in value)
    if tp is int:
        return _is_int
    if tp is bool or tp is str:
        return lambda value: type(value) is tp
    if tp is date:
        return _is_date
    if origin is None and isinstance(tp, type) and tp not in (float, dict, list, tuple, set, bytes):
        return lambda value: isinstance(value, tp)
    raise TypeError(f"a record field of type {tp!r} is not checked: add it to shared.record._checker")


_CHECKS: dict[type, tuple[tuple[str, Check], ...]] = {}


def _field_checks(cls: type) -> tuple[tuple[str, Check], ...]:
    checks = _CHECKS.get(cls)
    if checks is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        checks = _CHECKS[cls] = tuple((f.name, _checker(hints[f.name])) for f in dataclasses.fields(cls))
    return checks


def check_fields(record: Any) -> None:
    """``FieldTypeError`` naming the first field whose value is not of its declared type."""
    for name, ok in _field_checks(type(record)):
        value = getattr(record, name)
        if not ok(value):
            raise FieldTypeError(
                f"{type(record).__name__}.{name}: {type(value).__name__} is not what the field declares"
            )
