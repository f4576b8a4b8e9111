"""Settings: a TOML file plus environment overrides, validated into one `Settings` object.

Public API: `load_config(path=None, environ=None) -> Settings`, `config_path(cli_value)`,
`Settings` and its section models. Every problem found is reported at once as a `ConfigError`
whose lines read `FILE: key.path: what is wrong (what is expected)`.

Where values come from, first wins: environment (`SLA_CONNECTOR__SECTION__KEY`), then the TOML
file, then secrets read from `*_file` keys. pydantic-settings ignores a TOML file unless a source
for it is returned from `settings_customise_sources`; we parse the file ourselves (to report
syntax errors with the file name) and hand its content in as the init source, placed *after* the
environment so that the environment overrides it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Discriminator, Tag, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from connector.config.sections import (
    ApiSection,
    CalendarSection,
    ConnectorSection,
    ContractSection,
    EscalationSection,
    LevelSection,
    ReportsSection,
    RuleSection,
)
from connector.config.sources import EmailSection, OsticketSection, SmtpSection, SourceSection, ZammadSection
from connector.config.values import Section, config_dir
from connector.core.errors import ConfigError

ENV_PREFIX = "SLA_CONNECTOR__"
ENV_CONFIG_PATH = "SLA_CONNECTOR_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")
ADAPTER_SECTIONS = ("email", "zammad", "osticket")
INSTANCE_SECTIONS = ("zammad",)  # sections that may be given several times, each with a name
_SECTION_MODELS = {"zammad": ZammadSection}
T = TypeVar("T")


def _one_or_many(value: Any) -> str:
    return "many" if isinstance(value, list) else "one"


# a section given once ([zammad]) or several times ([[zammad]]); the discriminator keeps a
# mistake's message to the form that was written
OneOrMany = (
    Annotated[
        Annotated[T, Tag("one")] | Annotated[list[T], Tag("many")],
        Discriminator(_one_or_many),
    ]
    | None
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    connector: ConnectorSection = ConnectorSection()
    calendars: list[CalendarSection] = []
    levels: list[LevelSection] = []
    rules: list[RuleSection] = []
    escalation: EscalationSection = EscalationSection()
    contracts: list[ContractSection] = []
    reports: ReportsSection = ReportsSection()
    api: ApiSection = ApiSection()
    email: EmailSection | None = None
    zammad: OneOrMany[ZammadSection] = None  # [zammad], or several [[zammad]]
    osticket: OsticketSection | None = None
    smtp: SmtpSection | None = None  # notices of every source without an SMTP section of its own

    @model_validator(mode="after")
    def _shared_smtp(self) -> Settings:
        for section in self.sources():
            if getattr(section, "smtp", False) is None and self.smtp is not None:
                section.smtp = self.smtp
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        instances = _InstanceEnvironment(settings_cls, init_settings)
        if isinstance(env_settings, EnvSettingsSource):
            # variables naming an instance are that instance's, not keys of the section
            env_settings.env_vars = {k: v for k, v in env_settings.env_vars.items() if k not in instances.claimed}
        return (instances, env_settings, init_settings)

    def sources(self) -> list[SourceSection]:
        """The enabled adapter sections, in a stable order."""
        found = []
        for name in ADAPTER_SECTIONS:
            value = getattr(self, name)
            found += value if isinstance(value, list) else [value]
        return [section for section in found if section is not None and section.enabled]

    def calendar(self, name: str) -> CalendarSection:
        return next(c for c in self.calendars if c.name == name)

    def level(self, name: str) -> LevelSection:
        return next(level for level in self.levels if level.name == name)


def env_name(section: str, instance: str) -> str:
    """The environment's name for one instance of a source: upper case, other characters `_`."""
    return f"{ENV_PREFIX}{section.upper()}__{re.sub(r'[^A-Z0-9]', '_', instance.upper())}__"


class _InstanceEnvironment(PydanticBaseSettingsSource):
    """`SLA_CONNECTOR__ZAMMAD__<NAME>__<KEY>`: a key of the `[[zammad]]` (or `[zammad]`) section
    whose `name` is NAME, e.g. each instance's token. A variable naming no instance is an error:
    a token meant for an instance must never be dropped silently."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.data: dict[str, Any] = {}
        self.claimed: set[str] = set()
        given = getattr(init_settings, "init_kwargs", {})
        for section in INSTANCE_SECTIONS:
            if given.get(section) is not None:
                self._section(section, given[section])

    def _section(self, section: str, value: Any) -> None:
        many = isinstance(value, list)
        entries = value if many else [value]
        if not all(isinstance(entry, dict) for entry in entries):
            return  # the validation names what is wrong with it
        prefix = f"{ENV_PREFIX}{section.upper()}__"
        keys = set(_SECTION_MODELS[section].model_fields)
        names = {env_name(section, str(e.get("name") or section)): i for i, e in enumerate(entries)}
        if not many:  # one [zammad]: SLA_CONNECTOR__ZAMMAD__TOKEN as before; an instance name that
            names = {n: i for n, i in names.items() if n[len(prefix) : -2].lower() not in keys}  # is a key stays one
        updated = [dict(entry) for entry in entries]
        for variable, text in os.environ.items():
            upper = variable.upper()
            if not upper.startswith(prefix):
                continue
            match = next((n for n in names if upper.startswith(n) and len(upper) > len(n)), None)
            if match is not None:
                key, entry = upper[len(match) :].lower(), updated[names[match]]
                *tables, last = key.split("__")  # SLA_CONNECTOR__ZAMMAD__ACME__SMTP__HOST
                target = entry
                for table in tables:
                    target[table] = dict(target[table]) if isinstance(target.get(table), dict) else {}
                    target = target[table]
                target[last] = text
                # the environment overrides the file: a token given there replaces a token_file
                other = key.removesuffix("_file") if key.endswith("_file") else f"{key}_file"
                if other in keys:
                    entry.pop(other, None)
                self.claimed.add(variable.lower())
            elif many:
                listing = ", ".join(n[len(prefix) : -2] for n in names)
                raise ConfigError(
                    [
                        f"${variable}: names no [[{section}]] instance (give ${prefix}<NAME>__<KEY>, "
                        f"NAME one of: {listing})"
                    ]
                )
        if self.claimed:
            self.data[section] = updated if many else updated[0]

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def config_path(cli_value: str | os.PathLike | None, environ: dict[str, str] | None = None) -> Path:
    """`--config PATH`, else `$SLA_CONNECTOR_CONFIG`, else `./config.toml`."""
    environ = os.environ if environ is None else environ
    if cli_value:
        return Path(cli_value)
    if environ.get(ENV_CONFIG_PATH):
        return Path(environ[ENV_CONFIG_PATH])
    return DEFAULT_CONFIG_PATH


MAX_PROBLEMS = 50  # lines of a config error: a pasted-in file with thousands of bad keys stays readable


def _at_most(limit: int, problems: list[str]) -> list[str]:
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit:,} more problems"]


def load_config(path: str | os.PathLike) -> Settings:
    """Read, validate and cross-check the config; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such config file (copy config.example.toml to start)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None

    token = config_dir.set(path.resolve().parent)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(
            _at_most(MAX_PROBLEMS, [_describe(path, error, data) for error in exc.errors(include_url=False)])
        ) from None
    finally:
        config_dir.reset(token)

    problems = [f"{path}: {problem}" for problem in cross_check(settings)]
    if problems:
        raise ConfigError(_at_most(MAX_PROBLEMS, problems))
    return settings


def cross_check(settings: Settings) -> list[str]:
    """Problems that span sections: unknown or duplicate names (and step points)."""
    problems: list[str] = []
    problems += _duplicates("calendars", [c.name for c in settings.calendars])
    problems += _duplicates("levels", [level.name for level in settings.levels])
    problems += _duplicates("contracts", [c.customer for c in settings.contracts], key="customer")
    problems += _duplicates("sources", [s.name for s in settings.sources()])
    # a step's point names it (its events and writes), so one ladder has each point once
    problems += _duplicates("escalation.steps", [step.at for step in settings.escalation.steps], key="at")
    for i, level in enumerate(settings.levels):
        problems += _duplicates(f"levels[{i}].steps", [step.at for step in level.steps or ()], key="at")
    calendars = {c.name for c in settings.calendars}
    levels = {level.name for level in settings.levels}

    def unknown(where: str, kind: str, name: str, known: set[str]) -> str:
        listing = ", ".join(repr(k) for k in sorted(known)) or "none defined"
        return f"{where}: unknown {kind} {name!r} (defined: {listing})"

    for i, level in enumerate(settings.levels):
        if level.calendar not in calendars:
            problems.append(unknown(f"levels[{i}].calendar", "calendar", level.calendar, calendars))
    for i, rule in enumerate(settings.rules):
        if rule.set_level is not None and rule.set_level not in levels:
            problems.append(unknown(f"rules[{i}].set_level", "level", rule.set_level, levels))
    for i, contract in enumerate(settings.contracts):
        if contract.level is not None and contract.level not in levels:
            problems.append(unknown(f"contracts[{i}].level", "level", contract.level, levels))
    default = settings.connector.default_level
    if default is not None and default not in levels:
        problems.append(unknown("connector.default_level", "level", default, levels))
    return problems


def _duplicates(section: str, names: list[str], key: str = "name") -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(f"{section}[{i}].{key}: {name!r} is already used by {section}[{seen[name]}]")
        seen.setdefault(name, i)
    return problems


_SECRET_WORDS = ("token", "password", "secret")


def _describe(path: Path, error: dict[str, Any], data: dict[str, Any]) -> str:
    """One line for one pydantic error: where, the bad value, and what is expected."""
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    key = _format_loc(loc)
    variables = [ENV_PREFIX + "__".join(str(p) for p in loc).upper()]
    if len(loc) > 1 and loc[0] in INSTANCE_SECTIONS:  # an instance's own: SLA_CONNECTOR__ZAMMAD__ACME__TOKEN
        given = data.get(loc[0])
        entry = given[loc[1]] if isinstance(given, list) and isinstance(loc[1], int) else given
        rest = loc[2:] if isinstance(given, list) else loc[1:]
        if isinstance(entry, dict) and rest:
            name = env_name(str(loc[0]), str(entry.get("name") or loc[0]))
            variables.append(name + "__".join(str(p) for p in rest).upper())
    found = [v for v in variables if v in {k.upper() for k in os.environ}]
    origin = f"${found[-1]}" if found else str(path)
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    secret = any(word in key.lower() for word in _SECRET_WORDS)
    if kind == "extra_forbidden":
        text = "unknown key (check the spelling against config.example.toml)"
    elif kind == "missing":
        text = "missing (this key is required)"
    elif kind == "value_error" or secret:
        text = message
        # a section's validator may name the key it is about: "token_file: cannot read ..."
        named = re.match(r"([a-z_]+): (.*)", message, re.S)
        if named:
            key, text = f"{key}.{named.group(1)}" if key else named.group(1), named.group(2)
    else:
        text = f"{error['input']!r}: {message[0].lower()}{message[1:]}"
    return f"{origin}: {key}: {text}" if key else f"{origin}: {text}"


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the union member's type name to the location, e.g. 'function-after[...]'
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "list[str]", "one", "many"})


def _format_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


__all__ = ["Settings", "Section", "load_config", "config_path", "cross_check", "config_dir"]
