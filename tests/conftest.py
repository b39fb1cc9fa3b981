"""Helpers for the experiment-framework tests: toy configs, record loading, running the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.toy  # noqa: F401  (registers the toy env, agents and localizers)
from embodied.config import ExperimentConfig, load_config

REPO = Path(__file__).resolve().parents[1]

TOY_YAML = {
    "name": "toy",
    "env": {"id": "embodied/ToyWalk-v0", "split": "val"},
    "agent": {"id": "toy_greedy"},
    "run": {"imports": ["tests.toy"], "progress": False},
}


def require_extra(module: str, extra: str, variable: str) -> None:
    """Skip the calling test module when `module` (from the `extra`) is missing -- or fail it when
    the environment says it must be there (`variable`=1, as `.ci/run` sets for ros and ray)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        if os.environ.get(variable) == "1":
            pytest.fail(f"{variable}=1 but {module} is not installed (pip install -e .[{extra}])", pytrace=False)
        pytest.skip(f"{module} is not installed (pip install -e .[{extra}])", allow_module_level=True)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def toy_yaml(tmp_path: Path) -> Path:
    """An experiment file for the toy env/agent, writing to tmp_path/out."""
    data = json.loads(json.dumps(TOY_YAML))
    data["run"]["output"] = str(tmp_path / "out")
    return write_yaml(tmp_path / "toy.yaml", data)


def toy_config(path: Path, *overrides: str) -> ExperimentConfig:
    return load_config(path, list(overrides))


def records(out: str | Path) -> dict[str, dict[str, Any]]:
    """episodes.jsonl of a run by episode id (asserting no id appears twice)."""
    lines = [json.loads(line) for line in Path(out, "episodes.jsonl").read_text().splitlines()]
    by_id = {r["episode_id"]: r for r in lines}
    assert len(by_id) == len(lines), "an episode was recorded twice"
    return by_id


def without_seconds(data: Any) -> Any:
    """Records or summaries minus wall-clock timings (the only field allowed to differ between runs)."""
    if isinstance(data, dict):
        return {k: without_seconds(v) for k, v in data.items() if k != "seconds"}
    return data


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `embodied ARGS` in a fresh interpreter (how users run it)."""
    return subprocess.run([sys.executable, "-m", "embodied.cli", *args], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def client():
    """A fresh PyBullet DIRECT client, disconnected after the test."""
    import pybullet as p

    cid = p.connect(p.DIRECT)
    try:
        yield cid
    finally:
        p.disconnect(cid)
