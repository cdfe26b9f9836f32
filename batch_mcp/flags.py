"""`Settings` fields as command-line flags: each setting is defined once, as a field, and every
command that uses it gets the same flag from here (`--api-version` for `api_version`).

A field's flag belongs to `serve`, `call` and `doctor` unless its `json_schema_extra` names other
commands (`settings.used_by`), and a secret marked `NO_FLAG` has none. Flags default to "not given"
(`argparse.SUPPRESS`), so a parsed namespace holds exactly what the command line said, and
`Settings` fills the rest from the environment and its defaults. Values reach `Settings` as the
strings typed, so one validator (pydantic's) checks a value whether it came from a flag or from
the environment, and its error can name where the value came from.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from batch_mcp.settings import ENGINE_COMMANDS, Settings, environment_names, source_of


@dataclass(frozen=True)
class SettingFlag:
    name: str  # the Settings field
    flag: str  # --api-version
    commands: tuple[str, ...]
    field: FieldInfo

    @property
    def is_switch(self) -> bool:
        return base_type(self.field.annotation) is bool

    @property
    def choices(self) -> tuple[str, ...] | None:
        base = base_type(self.field.annotation)
        return tuple(str(c) for c in typing.get_args(base)) if typing.get_origin(base) is Literal else None


def base_type(annotation: Any) -> Any:
    """`int | None` → int; `Annotated[list[str], ...]` → list[str]."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return base_type(args[0])
    return annotation


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def setting_flags() -> Iterator[SettingFlag]:
    for name, field in Settings.model_fields.items():
        extra = _extra(field)
        if extra.get("flag", True) is False:
            continue
        commands = tuple(extra.get("commands", ENGINE_COMMANDS))  # type: ignore[arg-type]
        yield SettingFlag(name=name, flag=flag_of(name), commands=commands, field=field)


def shown_default(name: str) -> str:
    """A field's default as a user would type it (per-user folders as ~/...)."""
    default = Settings.model_fields[name].get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(default)
    if isinstance(default, Path):
        home = str(Path.home())
        default = "~" + str(default)[len(home) :] if str(default).startswith(home) else str(default)
    return "" if default in (None, "", False) else str(default)


def add_setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of every setting `command` uses, in the order of `Settings`."""
    group = parser.add_argument_group("settings (a flag wins over its environment variable)")
    for spec in setting_flags():
        if command not in spec.commands:
            continue
        envs = " or ".join(environment_names(spec.name))
        default = shown_default(spec.name)
        note = f"env {envs}" + (f"; default {default}" if default else "")
        kwargs: dict[str, Any] = {
            "dest": spec.name,
            "default": argparse.SUPPRESS,
            "help": f"{spec.field.description or ''} [{note}]".replace("%", "%%"),
        }
        if spec.is_switch:
            kwargs["action"] = "store_true"
        elif spec.choices:
            kwargs["choices"] = spec.choices
        else:
            kwargs["metavar"] = spec.name.upper()
        group.add_argument(spec.flag, **kwargs)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line gave (flags are SUPPRESSed when absent)."""
    return {name: getattr(args, name) for name in Settings.model_fields if hasattr(args, name)}


def _by_variable() -> dict[str, str]:
    return {variable.upper(): name for name in Settings.model_fields for variable in environment_names(name)}


def describe_validation_error(exc: ValidationError, given: dict[str, Any]) -> str:
    """One line for all bad settings, naming the flag or environment variable to fix (never a secret)."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        name = _by_variable().get(name.upper(), name)  # a value from the environment is located by its variable
        if name not in Settings.model_fields:
            lines.append(error["msg"])
            continue
        # numbers and choices are echoed; text may be a secret or a URL with credentials in it
        base = base_type(Settings.model_fields[name].annotation)
        echo = base in (int, float, bool) or typing.get_origin(base) is Literal
        value = f" ({error['input']!s})" if echo else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{source_of(name, given)}{value}: {message}")
    return "; ".join(lines)
