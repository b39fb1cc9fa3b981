"""Typed experiment configs: YAML + dotted `key=value` overrides, validated into dataclasses.

Why typed dataclasses and not free dicts (or Hydra): a typo or a wrong type must fail *before* the
first episode, with one message naming the key path, what was given and what was expected. Every
section is an ordinary dataclass, so the settings of an env or agent read at the top of its module
(CleanRL style) and nothing is composed behind the reader's back.

Dispatch by id: a field annotated with a config base class that declares `registry_kind` (EnvConfig,
AgentConfig, LocalizerConfig, or any dataclass with an `id` field and that ClassVar) is validated by
the dataclass *registered* under the section's `id` in that registry kind. So `env.id` picks the env's
config class, `agent.localizer.id` picks the localizer's, and a new nested component needs no code
here: declare a base class with `registry_kind = "mykind"` and register implementations under it.

Overrides: `a.b.c=value`, the value parsed with `yaml.safe_load` (so `5`, `0.5`, `true`, `null`,
`[a, b]` mean what they say) and then coerced to the annotated type; a `str` field keeps the text
as typed (`name=007` stays "007"). An override that changes a section's `id` switches the section to
another class: keys from the YAML file that the new class lacks are dropped (keys given as overrides
are always checked).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import enum
import math
import os
import re
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Literal, Mapping, Union

import yaml

__all__ = [
    "ConfigError", "EnvConfig", "AgentConfig", "LocalizerConfig", "RunConfig", "ExperimentConfig",
    "load_config", "from_dict", "validate_section", "apply_overrides", "to_dict", "dump_yaml", "config_diff",
    "split_is_file", "atomic_write",
]


class ConfigError(Exception):
    """A user-facing configuration problem: one line naming the key path, the value and the expectation.

    `key` (optional) is a path *relative to the section being validated*: a config class's
    `__post_init__` may raise `ConfigError("must be >= 1, got 0", key="workers")` and the loader
    prefixes the section's path (`run.workers: must be >= 1, got 0`). Without `key` the message is
    used as is.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.detail = message


# ----------------------------------------------------------------------------------------- schema
@dataclass(kw_only=True)
class EnvConfig:
    """Base of every env's config. `split` is a split name or a path to a dataset .json file.

    kw_only so that subclasses may add fields with or without defaults in any order.
    `episodes` None means every episode of the split; otherwise the first N.
    """

    registry_kind: ClassVar[str] = "env"
    id: str
    split: str
    episodes: int | None = None


@dataclass(kw_only=True)
class AgentConfig:
    """Base of every agent's config; the agent's registered subclass adds its own settings."""

    registry_kind: ClassVar[str] = "agent"
    id: str


@dataclass(kw_only=True)
class LocalizerConfig:
    """Base of every object localizer's config (CoW's CLIP/OWL/ground-truth localizers)."""

    registry_kind: ClassVar[str] = "localizer"
    id: str


#: The torch devices `run.device` may name (torch's own spelling; no "auto": a run says where it runs).
DEVICE_PATTERN = re.compile(r"cpu|mps|cuda(:[0-9]+)?")
DEVICE_CHOICES = "cpu, cuda, cuda:N (N = 0, 1, ...) or mps"


@dataclass
class RunConfig:
    """How an experiment runs; none of these change the episodes or (except retries) the metrics.

    `imports` lists extra Python modules to import before the config is validated, in the CLI and in
    every worker process: the way to register envs/agents that live outside `embodied` (plugins,
    test fixtures). `retries` is how many times a crashing episode is retried with a fresh env+agent.
    `device` is the torch device agents put their networks on: `cpu`, `cuda`, `cuda:N` or `mps`.
    Only its spelling is checked here (a config is data and may be written on a machine without the
    device); whether this machine has it is checked when a run starts (`preflight.check_device`).

    `backend` is where the workers run: `local` processes, or `ray` actors on a Ray cluster
    (`ray_address`: `auto`, `HOST:PORT`, or null to start a Ray instance on this machine), each
    reserving `cpus_per_worker` CPUs and `gpus_per_worker` GPUs; the records are the same either way.
    """

    workers: int = 1
    output: str | None = None
    seed: int = 0
    save_video: bool = False
    device: str = "cpu"
    retries: int = 1
    progress: bool = True
    imports: list[str] = field(default_factory=list)
    backend: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cpus_per_worker) and self.cpus_per_worker > 0):
            raise ConfigError(f"expected a number > 0, got {self.cpus_per_worker}", key="cpus_per_worker")
        if not (math.isfinite(self.gpus_per_worker) and self.gpus_per_worker >= 0):
            raise ConfigError(f"expected a number >= 0, got {self.gpus_per_worker}", key="gpus_per_worker")
        if self.workers < 1:
            raise ConfigError(f"expected an integer >= 1, got {self.workers}", key="workers")
        if self.retries < 0:
            raise ConfigError(f"expected an integer >= 0, got {self.retries}", key="retries")
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise ConfigError(f"expected {DEVICE_CHOICES}, got {self.device!r}", key="device")


@dataclass
class ExperimentConfig:
    """One experiment: which env (and split), which agent, how to run. `run.output` defaults to runs/<name>."""

    name: str
    env: EnvConfig
    agent: AgentConfig
    run: RunConfig = field(default_factory=RunConfig)


# ------------------------------------------------------------------------------------ overrides
@dataclass(frozen=True)
class _Override:
    """A value set on the command line: the text as typed and its YAML reading.

    Kept apart from file values so that `str` fields get the text verbatim, and so that keys given
    on the command line are never silently dropped when a section's id switches.
    """

    text: str
    value: Any


def _from_override(value: Any) -> bool:
    if isinstance(value, _Override):
        return True
    if isinstance(value, Mapping):
        return any(_from_override(v) for v in value.values())
    if isinstance(value, list):
        return any(_from_override(v) for v in value)
    return False


def _parse_override(item: str) -> tuple[list[str], _Override]:
    key, sep, text = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or any(not p for p in parts):
        raise ConfigError(f"override {item!r}: expected key=value with a dotted key, e.g. env.episodes=5")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text  # not YAML: take the text; the type check below says if that is wrong
    return parts, _Override(text, value)


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> set[str]:
    """Set dotted `key=value` overrides into a raw config dict (in place), creating sections as needed.

    Returns the paths of sections whose `id` an override changed (see module docstring).
    """
    switched: set[str] = set()
    for item in overrides:
        parts, value = _parse_override(item)
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"{where}: cannot set {'.'.join(parts)}: {where} is "
                                  f"{_show(child)}, not a section")
            node = child
        last = parts[-1]
        old = node.get(last)
        old = old.value if isinstance(old, _Override) else old
        if last == "id" and old is not None and old != value.value:
            switched.add(".".join(parts[:-1]))
        node[last] = value
    return switched


# ----------------------------------------------------------------------------------- validation
_MISSING = object()


def _show(value: Any) -> str:
    """A value as the user wrote it, with its type: `'five' (str)`."""
    if isinstance(value, _Override):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a section (mapping)"
    return f"{value!r} ({type(value).__name__})"


def _type_name(tp: Any) -> str:
    """A type as the user reads it in an error: `int | None`, `list[str]`, `one of 'a', 'b'`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if dataclasses.is_dataclass(tp):
        return f"a section ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _mismatch(path: str, value: Any, tp: Any, extra: str = "") -> ConfigError:
    return ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}{extra}")


def _suggest(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _unknown(head: str, word: Any, choices: Iterable[str], listing: str) -> str:
    """`head`, the closest names (if any) and `listing` as one line that reads as sentences.

    Why a helper: the listing follows either a question ("...; did you mean 'episodes'? Valid keys
    ...") or the head itself ("...: unknown key; valid keys ..."); gluing them without a separator
    ran two sentences together.
    """
    hint = _suggest(word, choices)
    if hint:
        return f"{head}{hint} {listing[:1].upper()}{listing[1:]}"
    return f"{head}; {listing}"


class _Ctx:
    """Validation state threaded through the recursion: where ids were switched by overrides."""

    def __init__(self, switched: set[str] | None = None) -> None:
        self.switched = switched or set()


def _coerce(value: Any, tp: Any, path: str, ctx: _Ctx, default: Any = _MISSING) -> Any:
    """Check (and where lossless, convert) one raw value against its annotation."""
    text = None
    if isinstance(value, _Override):
        text, value = value.text, value.value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return _plain(value)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        wrapped = _Override(text, value) if text is not None else value
        for arg in arms:
            try:
                return _coerce(wrapped, arg, path, ctx, default)
            except ConfigError as exc:
                shallow = f"{path}: expected {_type_name(arg)}, "
                if not str(exc).startswith(shallow):
                    raise  # the value had this arm's shape; what is wrong is inside it
                if len(arms) == 1:  # Optional[X]: keep X's hints (did you mean ...), name the full type
                    raise ConfigError(f"{path}: expected {_type_name(tp)}, {str(exc)[len(shallow):]}") from None
        raise _mismatch(path, value, tp)
    if origin is Literal:
        for choice in args:
            if type(value) is type(choice) and value == choice:
                return value
        raise _mismatch(path, value, tp, _suggest(value, [str(a) for a in args]))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _mismatch(path, value, tp, " (write true or false)")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _mismatch(path, value, tp)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(path, value, tp)
    if tp is str:
        if isinstance(value, str):
            return value
        if text is not None and isinstance(value, (int, float, bool)):
            return text.strip()  # `name=007` on the command line means the text "007"
        raise _mismatch(path, value, tp)
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, value, tp)
        item_tp = args[0] if args else Any
        return [_coerce(v, item_tp, _join(path, i), ctx) for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise _mismatch(path, value, tp)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item_tp = args[0] if args else Any
            return tuple(_coerce(v, item_tp, _join(path, i), ctx) for i, v in enumerate(value))
        if len(value) != len(args):
            raise _mismatch(path, value, tp, f" ({len(value)} items, expected {len(args)})")
        return tuple(_coerce(v, a, _join(path, i), ctx) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _mismatch(path, value, tp)
        key_tp, val_tp = args if args else (Any, Any)
        return {_coerce(k, key_tp, path, ctx): _coerce(v, val_tp, _join(path, str(k)), ctx)
                for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, path, ctx, default)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _mismatch(path, value, f"one of {[m.value for m in tp]}") from None
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if tp is Path and isinstance(value, str):
            return Path(value)
        raise _mismatch(path, value, tp)
    return _plain(value)  # an annotation we cannot check (TypeVar, Callable, ...): take it as given


def _plain(value: Any) -> Any:
    """Strip override markers from an unchecked value."""
    if isinstance(value, _Override):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dispatch(base: type, raw: Mapping, path: str, default: Any) -> tuple[type, Any]:
    """Pick the registered config class named by the section's `id` (see module docstring)."""
    from embodied import registry  # late: registry imports this module

    kind = base.registry_kind
    id_path = _join(path, "id")
    if "id" in raw:
        ident = raw["id"].value if isinstance(raw["id"], _Override) else raw["id"]
        if not isinstance(ident, str):
            raise _mismatch(id_path, ident, str)
    elif default is not None and getattr(default, "id", None):
        ident = default.id
    else:
        raise ConfigError(f"{id_path}: missing; expected the id of a registered {kind} "
                          f"({registry.describe_ids(kind)})")
    entry = registry.find(kind, ident)
    if entry is None:
        raise ConfigError(_unknown(f"{id_path}: unknown {kind} id {ident!r}", ident, registry.ids(kind),
                                   f"registered {kind}s: {registry.describe_ids(kind)}"))
    cls = entry.config_cls
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{id_path}: {kind} {ident!r} is registered with config class "
                          f"{getattr(cls, '__name__', cls)}, which is not a {base.__name__} as "
                          f"{path or 'this section'} requires")
    if default is not None and (type(default) is not cls or getattr(default, "id", None) != ident):
        default = None  # a different component: start from its own defaults
    return cls, default


def _build(cls: type, raw: Any, path: str, ctx: _Ctx, default: Any = _MISSING) -> Any:
    """Validate a mapping into dataclass `cls` (dispatching by id where the class has a registry kind)."""
    if default is _MISSING:
        default = None
    if isinstance(raw, _Override):
        raw = raw.value
    if isinstance(raw, cls) and not getattr(cls, "registry_kind", None):
        return raw
    if not isinstance(raw, Mapping):
        raise _mismatch(path or "config", raw, cls)
    if getattr(cls, "registry_kind", None):
        cls, default = _dispatch(cls, raw, path, default)
    if default is not None and not isinstance(default, cls):
        default = None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable forward reference: check what we can
        hints = {f.name: (Any if isinstance(f.type, str) else f.type) for f in dataclasses.fields(cls)}
    init_fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in raw:
        if key in init_fields:
            continue
        if path in ctx.switched and not _from_override(raw[key]):
            continue  # belonged to the section's previous id (switched on the command line)
        where = _join(path, str(key))
        what = f"{cls.__name__}" + (f" ({cls.registry_kind} {raw.get('id')!r})"
                                    if getattr(cls, "registry_kind", None) and "id" in raw else "")
        raise ConfigError(_unknown(f"{where}: unknown key", key, init_fields,
                                   f"valid keys for {what}: {', '.join(init_fields)}"))
    kwargs: dict[str, Any] = {}
    for name, f in init_fields.items():
        key = _join(path, name)
        field_default = _MISSING
        if default is not None:
            field_default = getattr(default, name)
        elif f.default is not dataclasses.MISSING:
            field_default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            field_default = f.default_factory()
        if name in raw:
            kwargs[name] = _coerce(raw[name], hints.get(name, Any), key, ctx, field_default)
        elif field_default is not _MISSING:
            kwargs[name] = copy.deepcopy(field_default)
        else:
            raise ConfigError(f"{key}: missing required value (expected {_type_name(hints.get(name, Any))})")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if exc.key:
            raise ConfigError(exc.detail, key=_join(path, exc.key)) from None
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path or cls.__name__}: {exc}") from None


def from_dict(data: Mapping[str, Any], switched: set[str] | None = None) -> ExperimentConfig:
    """Validate a plain dict (a parsed YAML file, or a run's config.yaml) into an ExperimentConfig.

    The registry must already hold the ids the dict names (`registry.load_builtin()`).
    """
    return _build(ExperimentConfig, data, "", _Ctx(switched))


def validate_section(cls: type, raw: Mapping[str, Any], path: str) -> Any:
    """Validate one section on its own (e.g. the env section `embodied episodes generate` builds)."""
    return _build(cls, raw, path, _Ctx())


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found"
                          + (" (it is a directory)" if path.is_dir() else ""))
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{line}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (name, env, agent, run), got {_show(raw)}")
    return raw


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Read an experiment YAML, apply dotted overrides, validate everything, resolve defaults.

    Imports the built-in envs/agents and `run.imports` first, so ids resolve. `name` defaults to the
    file's stem and `run.output` to `runs/<name>`, so the returned config is fully resolved (what
    `config.yaml` of the run records).
    """
    from embodied import registry

    raw = _read_yaml(path)
    switched = apply_overrides(raw, list(overrides))
    raw.setdefault("name", Path(path).stem)
    run_raw = raw.get("run")
    imports = []
    if isinstance(run_raw, Mapping) and "imports" in run_raw:
        imports = _coerce(run_raw["imports"], list[str], "run.imports", _Ctx())
    registry.load_builtin()
    registry.import_modules(imports, key="run.imports")
    cfg = from_dict(raw, switched)
    return resolve(cfg)


def resolve(cfg: ExperimentConfig) -> ExperimentConfig:
    """Fill defaults that depend on other fields (today: run.output = runs/<name>)."""
    if cfg.run.output is None:
        cfg.run.output = str(Path("runs") / cfg.name)
    return cfg


# ----------------------------------------------------------------------------------- writing
def to_dict(cfg: Any) -> Any:
    """A config as plain YAML/JSON-safe data (tuples become lists, enums and paths their values)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, enum.Enum):
        return to_dict(cfg.value)
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def dump_yaml(cfg: Any, path: str | os.PathLike | None = None) -> str:
    """The config as YAML text, in field order; written atomically to `path` when given."""
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)
    if path is not None:
        atomic_write(path, text)
    return text


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Write via a temp file + fsync + rename, so a crash leaves the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; results should read like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, _join(prefix, str(k))))
        return out if out or not prefix else {prefix: {}}
    return {prefix: data}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two config dicts, as `key: old -> new` lines."""
    a, b = _flatten(old), _flatten(new)
    skip = set(ignore)
    lines = []
    for key in list(a) + [k for k in b if k not in a]:
        if key in skip:
            continue
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if va != vb:
            lines.append(f"{key}: {va!r} -> {vb!r}")
    return lines


def split_is_file(split: str) -> bool:
    """Whether `env.split` names a dataset file (a .json path) rather than a split name."""
    return split.endswith(".json") or os.sep in split or "/" in split



def with_overrides(config: Any, overrides: dict[str, Any], owner: str) -> Any:
    """`config` with keyword overrides applied (`gymnasium.make(id, width=320)`), refusing unknown
    names: a typo in a keyword must not be silently ignored."""
    if not overrides:
        return config
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"{owner} got unknown settings {unknown}; known: {sorted(known)}")
    return dataclasses.replace(config, **overrides)


def refuse_sexagesimal(value: Any, key: str, example: str) -> None:
    """A range written unquoted (`0:40`) reaches us as the int YAML 1.1 reads it (base 60): say so,
    naming `key`, instead of a baffling type error. Job configs share this check."""
    if type(value) is int:
        raise ConfigError(f'{key}: got the number {value}; write the range quoted, e.g. "{example}" '
                          "(YAML reads an unquoted a:b as a base-60 number)")
