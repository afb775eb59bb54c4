"""Each function's settings: its environment read once into a frozen dataclass, and the handler built from them.

A function's own settings sit next to its handler (``functions/<name>/settings.py``): a frozen dataclass
subclassing ``EnvSettings`` whose ``read(env)`` takes every value it needs from an ``Env``. ``from_env()``
reads ``os.environ`` once per process and keeps the result. A variable that is missing (or not a number,
not ``true``/``false``, not JSON) fails the first invocation with an error naming the variable and the
settings class, instead of a ``KeyError`` deep in a step.

Handlers take their settings and their dependencies from one factory, ``make_handler(settings, deps)``;
tests build a handler with settings and fakes of their own, no environment needed. The module-level
``lambda_handler = lazy_handler(lambda: make_handler(Settings.from_env(), ...))`` builds it on the first
invocation, so importing a handler reads no environment and creates no client.

Stdlib only (no pydantic: it stays off the webhooks' cold-start path), so any function can import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class SettingError(RuntimeError):
    """A function's environment lacks a variable its settings need, or holds one they cannot read."""

    def __init__(self, name: str, owner: str, problem: str) -> None:
        super().__init__(f"{owner}: environment variable {name} {problem}")
        self.name = name
        self.owner = owner


class Env:
    """Typed reads of one environment; ``names`` records every variable read (the topology test checks them).

    A plain class, not a dataclass: every function builds one at cold start, and a dataclass costs its
    generated methods there."""

    __slots__ = ("names", "owner", "values")

    def __init__(self, values: Mapping[str, str], owner: str = "settings") -> None:
        self.values = values
        self.owner = owner
        self.names: set[str] = set()

    def _get(self, name: str) -> str | None:
        self.names.add(name)
        return self.values.get(name)

    def required(self, name: str, *, allow_empty: bool = False) -> str:
        """The variable's value; it must be set (and, unless ``allow_empty``, not empty)."""
        value = self._get(name)
        if value is None or (not value and not allow_empty):
            raise SettingError(name, self.owner, "is not set" if value is None else "is empty")
        return value

    def text(self, name: str, default: str = "") -> str:
        """The value, or ``default`` when the variable is unset or empty."""
        return self._get(name) or default

    def integer(self, name: str, default: int) -> int:
        value = self._get(name)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise SettingError(name, self.owner, f"is not an integer: {value!r}") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """``true`` or ``false`` (the stage settings' spelling)."""
        value = (self._get(name) or "").strip().lower()
        if not value:
            return default
        if value not in ("true", "false"):
            raise SettingError(name, self.owner, f"is not true or false: {value!r}")
        return value == "true"

    def csv(self, name: str, default: str = "") -> tuple[str, ...]:
        """Comma-separated values, blanks dropped; ``default`` when the variable is unset or empty."""
        return tuple(part.strip() for part in self.text(name, default).split(",") if part.strip())

    def json(self, name: str, default: str) -> Any:
        raw = self.text(name, default)
        try:
            return json.loads(raw)
        except ValueError:
            raise SettingError(name, self.owner, f"is not JSON: {raw[:80]!r}") from None


class EnvSettings:
    """Base of a function's settings dataclass: ``read`` builds it from an ``Env``; ``from_env`` from
    ``os.environ``, once per process."""

    _loaded: ClassVar[dict[type, Any]] = {}

    @classmethod
    def read(cls, env: Env) -> Self:
        raise NotImplementedError

    @classmethod
    def from_env(cls) -> Self:
        loaded = EnvSettings._loaded.get(cls)
        if loaded is None:
            owner = f"{cls.__module__}.{cls.__qualname__}"  # functions.stripe_webhook.handler.Settings
            loaded = EnvSettings._loaded[cls] = cls.read(Env(os.environ, owner=owner))
        return loaded

    @classmethod
    def forget(cls) -> None:
        """Read the environment again on the next ``from_env`` (tests that change it)."""
        EnvSettings._loaded.pop(cls, None)


@dataclass(frozen=True)
class WebhookSettings(EnvSettings):
    """What every webhook function needs; each provider adds its own settings next to these."""

    stage: str
    idempotency_table_name: str
    event_bus_name: str
    max_body_bytes: int = 262_144
    #: Where an event too large for EventBridge is parked (``shared.claimcheck``); empty: none.
    claim_check_bucket: str = ""

    @classmethod
    def read(cls, env: Env) -> Self:
        settings = cls(
            stage=env.text("STAGE", "local"),
            idempotency_table_name=env.required("IDEMPOTENCY_TABLE_NAME"),
            event_bus_name=env.required("EVENT_BUS_NAME"),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 262_144),
            claim_check_bucket=env.text("CLAIM_CHECK_BUCKET_NAME"),
        )
        if settings.max_body_bytes <= 0:
            raise SettingError("MAX_BODY_BYTES", env.owner, "must be positive")
        return settings


def lazy_handler(build: Callable[[], LambdaHandler]) -> LambdaHandler:
    """A Lambda handler built by ``build()`` on its first invocation and reused while the environment is
    warm: importing the module reads no setting and creates no client (tests import handlers freely)."""
    built: list[LambdaHandler] = []

    def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        if not built:
            built.append(build())
        return built[0](event, context)

    return lambda_handler
