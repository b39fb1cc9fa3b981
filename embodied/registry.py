"""One small registry: (kind, id) -> class + config class (+ per-kind extras such as episodes_fn).

Why a registry at all: an experiment YAML names its env, agent and localizer by id, and the id picks
the dataclass that validates the section (see config.py). Registration is explicit — a module calls
`register_env(...)` at import time — and `load_builtin()` imports the packages that do so. There is
no entry-point scanning or decorator magic: grep for `register_` to see everything.

Envs are *also* Gymnasium envs, under the same id: `embodied/__init__.py` registers every built-in
Gym id (cheaply, by entry-point string), so `gymnasium.make(id)` works too. This registry never
calls `gymnasium.register`, so the two never fight over an id.

Per-kind extras:
    env:   episodes_fn(env_cfg) -> list[dict] (each with a str "episode_id"), required;
           generate_fn(env_cfg, out_path) -> int (episodes written), optional, for
           `embodied episodes generate`.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from embodied.config import AgentConfig, ConfigError, EnvConfig, LocalizerConfig

__all__ = [
    "Entry", "register", "register_env", "register_agent", "register_localizer", "get", "find",
    "ids", "kinds", "describe_ids", "make_env", "make_agent", "agent_class", "list_episodes",
    "load_builtin", "load_errors", "import_modules", "modules_for",
]

#: The config base class each built-in kind's config classes must extend.
KIND_BASES: dict[str, type] = {"env": EnvConfig, "agent": AgentConfig, "localizer": LocalizerConfig}

#: Packages whose modules register the built-in components (imported by `load_builtin`).
BUILTIN_PACKAGES = ("embodied.envs", "embodied.agents", "embodied.perception.localization")


@dataclass(frozen=True)
class Entry:
    """One registered component. `registered_by` is the module that called register (workers import it)."""

    kind: str
    id: str
    cls: Any
    config_cls: type
    extra: dict[str, Any] = field(default_factory=dict)
    registered_by: str | None = None

    @property
    def doc(self) -> str:
        """First line of the class docstring: what `embodied list` shows."""
        for obj in (self.cls, self.config_cls):
            doc = (getattr(obj, "__doc__", None) or "").strip()
            if doc and not doc.startswith(f"{getattr(obj, '__name__', '')}("):  # skip dataclass repr docs
                return doc.splitlines()[0].strip()
        return ""


_REGISTRY: dict[str, dict[str, Entry]] = {}
_LOAD_ERRORS: dict[str, str] = {}
_builtin_loaded = False


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _caller_module() -> str | None:
    """The first module up the stack outside this one: who is registering."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    return frame.f_globals.get("__name__") if frame is not None else None


def register(kind: str, id: str, cls: Any, config_cls: type, **extra: Any) -> Entry:
    """Register `cls` under (kind, id) with the dataclass that validates its config section.

    Registering the same id again with the same class (a module imported twice, e.g. by a spawned
    worker) replaces the entry; a *different* class under a taken id is an error, because two
    components silently sharing a name would make experiments mean different things.
    """
    if not isinstance(id, str) or not id:
        raise ValueError(f"register({kind!r}, ...): id must be a non-empty string, got {id!r}")
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise TypeError(f"register({kind!r}, {id!r}): config_cls must be a dataclass, got {config_cls!r}")
    if "id" not in {f.name for f in dataclasses.fields(config_cls)}:
        raise TypeError(f"register({kind!r}, {id!r}): {config_cls.__name__} has no `id` field")
    base = KIND_BASES.get(kind)
    if base is not None and not issubclass(config_cls, base):
        raise TypeError(f"register({kind!r}, {id!r}): {config_cls.__name__} must subclass {base.__name__}")
    table = _REGISTRY.setdefault(kind, {})
    old = table.get(id)
    if old is not None and _qualname(old.cls) != _qualname(cls):
        raise ValueError(f"{kind} id {id!r} is already registered to {_qualname(old.cls)}; "
                         f"cannot register {_qualname(cls)} under it")
    by = old.registered_by if old is not None else _caller_module()  # first registrant stays importable
    entry = Entry(kind, id, cls, config_cls, dict(extra), by)
    table[id] = entry
    return entry


def register_env(id: str, cls: Any, config_cls: type, episodes_fn: Callable[[Any], list[dict]],
                 **extra: Any) -> Entry:
    """Register an env class (built as `cls(env_cfg, **kwargs)`) and the function listing its episodes."""
    if not callable(episodes_fn):
        raise TypeError(f"register_env({id!r}): episodes_fn must be callable")
    return register("env", id, cls, config_cls, episodes_fn=episodes_fn, **extra)


def register_agent(id: str, cls: Any, config_cls: type, **extra: Any) -> Entry:
    """Register an agent class, built as `cls(agent_cfg, device=...)`."""
    return register("agent", id, cls, config_cls, **extra)


def register_localizer(id: str, cls: Any, config_cls: type, **extra: Any) -> Entry:
    """Register an object localizer, selected by `agent.localizer.id`."""
    return register("localizer", id, cls, config_cls, **extra)


def find(kind: str, id: str) -> Entry | None:
    """The entry, or None (config validation turns that into a ConfigError listing the ids)."""
    return _REGISTRY.get(kind, {}).get(id)


def get(kind: str, id: str) -> Entry:
    """The entry for (kind, id); a ConfigError listing the registered ids if there is none."""
    entry = find(kind, id)
    if entry is None:
        raise ConfigError(f"unknown {kind} id {id!r}; registered {kind}s: {describe_ids(kind)}")
    return entry


def ids(kind: str) -> list[str]:
    """Registered ids of a kind, sorted."""
    return sorted(_REGISTRY.get(kind, {}))


def kinds() -> list[str]:
    """Kinds that have at least one registration (built-in kinds first)."""
    return [k for k in KIND_BASES if k in _REGISTRY] + sorted(k for k in _REGISTRY if k not in KIND_BASES)


def describe_ids(kind: str) -> str:
    """`a, b, c` — plus which built-in modules failed to import, since that is why an id may be missing."""
    text = ", ".join(ids(kind)) or "(none)"
    if _LOAD_ERRORS:
        failed = "; ".join(f"{m}: {e}" for m, e in sorted(_LOAD_ERRORS.items()))
        text += f" (modules that failed to import: {failed})"
    return text


# ----------------------------------------------------------------------------------- building
def agent_class(agent_cfg: Any) -> Any:
    """The class registered for `agent_cfg.id` (the runner reads its `privileged` flag)."""
    return get("agent", agent_cfg.id).cls


def agent_needs_privileged(agent_cfg: Any) -> bool:
    """Whether this agent, as configured, reads ground truth: the class's `privileged` flag, or
    its `needs_privileged(config)` classmethod when that depends on settings (CoW with the
    ground-truth localizer is privileged, CoW with CLIP is not)."""
    cls = agent_class(agent_cfg)
    decide = getattr(cls, "needs_privileged", None)
    if callable(decide):
        return bool(decide(agent_cfg))
    return bool(getattr(cls, "privileged", False))


def make_env(env_cfg: Any, **kwargs: Any) -> Any:
    """Build the env registered under `env_cfg.id` (kwargs: render_mode, privileged, ...)."""
    return get("env", env_cfg.id).cls(env_cfg, **kwargs)


def make_agent(agent_cfg: Any, run_cfg: Any = None) -> Any:
    """Build the agent registered under `agent_cfg.id` on `run_cfg.device` (cpu without a run config)."""
    device = getattr(run_cfg, "device", "cpu") if run_cfg is not None else "cpu"
    return get("agent", agent_cfg.id).cls(agent_cfg, device=device)


def list_episodes(env_cfg: Any) -> list[dict[str, Any]]:
    """The episodes an experiment runs: the env's episodes_fn, checked, truncated to `env.episodes`.

    Episode ids must be unique strings: resume and per-episode seeds are keyed by them. Problems
    reading a dataset surface as ConfigError naming `env.split`, before any episode starts.
    """
    entry = get("env", env_cfg.id)
    count = getattr(env_cfg, "episodes", None)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ConfigError(f"env.episodes: expected a positive integer or null (all), got {count!r}")
    try:
        episodes = list(entry.extra["episodes_fn"](env_cfg))
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"env.split: cannot list the episodes of {env_cfg.split!r} for env "
                          f"{env_cfg.id!r} ({type(exc).__name__}: {exc})") from None
    seen: set[str] = set()
    for n, spec in enumerate(episodes):
        ident = spec.get("episode_id") if isinstance(spec, dict) else None
        if not isinstance(ident, str) or not ident:
            raise ConfigError(f"env.split: episode #{n} of {env_cfg.split!r} has no string "
                              f"\"episode_id\" (got {spec!r:.80})")
        if ident in seen:
            raise ConfigError(f"env.split: {env_cfg.split!r} repeats episode_id {ident!r}")
        seen.add(ident)
    if count is not None:
        if count > len(episodes):
            raise ConfigError(f"env.episodes: asked for {count} episodes, but split {env_cfg.split!r} "
                              f"has {len(episodes)}")
        episodes = episodes[:count]
    return episodes


# ------------------------------------------------------------------------------------ loading
def import_modules(names: Iterable[str], key: str = "run.imports") -> None:
    """Import modules that register components; a failure is a ConfigError naming `key`."""
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's to see, in one line
            raise ConfigError(f"{key}: cannot import {name!r} ({type(exc).__name__}: {exc}); "
                              "is it on PYTHONPATH?") from None


def load_builtin() -> dict[str, str]:
    """Import the built-in env/agent/localizer modules so their ids are registered. Idempotent.

    A module that fails to import (an optional backend whose dependency is absent, or code still
    being written) is skipped and remembered: `load_errors()` and unknown-id messages show why.
    Returns those failures. A package's `LAZY_MODULES` (names) are not imported here: the
    package registers their components through light stand-ins that import them when one is
    built (CSR's agent imports torch), so that loading the registry, and a config error, stay
    fast.
    """
    global _builtin_loaded
    if _builtin_loaded:
        return dict(_LOAD_ERRORS)
    _builtin_loaded = True
    for package_name in BUILTIN_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as exc:
            if exc.name and package_name.startswith(exc.name):
                continue  # the package does not exist (yet): nothing to register
            _LOAD_ERRORS[package_name] = f"{type(exc).__name__}: {exc}"
            continue
        except Exception as exc:  # noqa: BLE001
            _LOAD_ERRORS[package_name] = f"{type(exc).__name__}: {exc}"
            continue
        lazy = set(getattr(package, "LAZY_MODULES", ()))
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if info.name.startswith("_") or info.name in lazy:
                continue
            name = f"{package_name}.{info.name}"
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001
                _LOAD_ERRORS[name] = f"{type(exc).__name__}: {exc}"
    return dict(_LOAD_ERRORS)


def load_errors() -> dict[str, str]:
    """Built-in modules that failed to import in `load_builtin`, with the error."""
    return dict(_LOAD_ERRORS)


def modules_for(cfg: Any) -> list[str]:
    """The modules whose import registers every component a config uses (env, agent, nested ids).

    A spawned worker imports just these instead of every built-in module, so it starts fast.
    """
    found: list[str] = []

    def walk(node: Any) -> None:
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            kind = getattr(type(node), "registry_kind", None)
            entry = find(kind, getattr(node, "id", None)) if kind else None
            if entry is not None:
                for mod in (entry.registered_by, entry.cls.__module__, entry.config_cls.__module__):
                    if mod and mod not in ("__main__", "__mp_main__") and mod not in found:
                        found.append(mod)
            for f in dataclasses.fields(node):
                walk(getattr(node, f.name))
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    walk(cfg)
    return found
