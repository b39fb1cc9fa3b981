"""`embodied run` / `episodes generate` end to end on the real PyBullet ObjectNav env."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embodied.config import ConfigError
from embodied.envs import objectnav_episodes as eps

REPO = Path(__file__).resolve().parents[1]
CONTRACT_KEYS = {"episode_id", "success", "spl", "soft_spl", "distance_to_goal", "path_length",
                 "shortest_path_length", "steps", "seconds", "error", "category", "renderer"}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "embodied.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_generated_dataset_file_runs_like_the_split(tmp_path: Path) -> None:
    out = tmp_path / "val4.json"
    r = cli("episodes", "generate", "--env", "embodied/ObjectNav-PyBullet-v0", "--split", "val",
            "--episodes", "4", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["episodes"] == eps.split_episodes("val", 4)

    r = cli("run", str(REPO / "experiments/objectnav_oracle.yaml"), f"env.split={out}",
            "env.episodes=2", "run.workers=1", f"run.output={tmp_path / 'run'}", "run.progress=false",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in (tmp_path / "run/episodes.jsonl").read_text().splitlines()]
    assert [rec["episode_id"] for rec in records] == ["val-0000-0", "val-0000-1"]
    for rec in records:
        assert CONTRACT_KEYS <= set(rec), CONTRACT_KEYS - set(rec)
        assert rec["error"] is None and rec["success"] is True and rec["spl"] > 0.85
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["episodes"] == 2 and summary["failed"] == 0
    assert set(summary["per_category"]) == {rec["category"] for rec in records}
    assert (tmp_path / "run/config.yaml").is_file() and (tmp_path / "run/summary.png").is_file()


@pytest.mark.parametrize("content, expected", [
    ("{not json", "is not valid JSON"),
    ('{"format": "something.else", "episodes": []}', "is not an ObjectNav dataset"),
    ('{"format": "embodied.objectnav", "episodes": [{"episode_id": "a"}]}', "lacks"),
])
def test_corrupt_dataset_file_fails_before_any_episode_with_exit_2(tmp_path: Path, content: str,
                                                                    expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = cli("run", str(REPO / "experiments/objectnav_random.yaml"), f"env.split={bad}",
            f"run.output={tmp_path / 'run'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "env.split" in r.stderr and expected in r.stderr
    assert not (tmp_path / "run/episodes.jsonl").exists()


def test_missing_dataset_file_and_unknown_split_name_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        eps.read_dataset(tmp_path / "nope.json")
    r = cli("run", str(REPO / "experiments/objectnav_random.yaml"), "env.split=valid",
            f"run.output={tmp_path / 'run'}", cwd=tmp_path)
    assert r.returncode == 2 and "env.split" in r.stderr and "'valid'" in r.stderr


def test_splits_never_share_houses_and_are_deterministic() -> None:
    seeds = {split: {e["house_seed"] for e in eps.split_episodes(split, 10)} for split in ("train", "val", "test")}
    assert not seeds["train"] & seeds["val"] and not seeds["val"] & seeds["test"]
    assert not seeds["train"] & seeds["test"]
    assert eps.split_episodes("val", 6) == eps.split_episodes("val", 6)
    assert eps.split_episode("val", 5) == eps.split_episodes("val", 6)[5]
    # Seed ranges are disjoint by construction, whatever the re-draws (see SPLITS).
    ranges = sorted((s.seed_base, s.seed_base + s.houses + eps.MAX_RESEEDS * eps.RESEED_STRIDE)
                    for s in eps.SPLITS.values())
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))


def test_every_episode_start_is_far_enough_and_its_goal_present() -> None:
    for ep in eps.split_episodes("val", 10):
        house = eps.cached_house(ep["house_seed"])
        assert house.goal_instances(ep["category"])
        assert ep["shortest_path_length"] >= eps.MIN_GEODESIC


def test_split_cache_serves_exactly_what_generation_gives(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EMBODIED_CACHE", str(tmp_path))
    fresh = [ep for k in range(3) for ep in eps._house_episodes("val", k, 1.0)]
    assert eps.split_episodes("val", 4) == fresh[:4]          # generated, then cached
    cached = list(tmp_path.glob("objectnav/val-*.json"))
    assert len(cached) == 1
    assert eps.split_episodes("val", 6) == fresh[:6]          # extends the cached prefix
    assert eps.split_episodes("val", 3) == fresh[:3]          # served from the cache
    cached[0].write_text("{truncated")                        # a corrupt cache is regenerated
    assert eps.split_episodes("val", 2) == fresh[:2]


def test_one_and_two_workers_give_identical_records_on_the_real_env(tmp_path: Path) -> None:
    from embodied.config import load_config
    from embodied.runner import run_experiment

    records = {}
    for workers in (1, 2):
        cfg = load_config(str(REPO / "experiments/objectnav_random.yaml"),
                          ["env.episodes=4", f"run.workers={workers}", "run.progress=false",
                           "agent.stop_probability=0.02", "env.max_steps=40",
                           f"run.output={tmp_path / str(workers)}"])
        run_experiment(cfg)
        lines = (tmp_path / str(workers) / "episodes.jsonl").read_text().splitlines()
        records[workers] = sorted(({k: v for k, v in json.loads(x).items() if k != "seconds"}
                                   for x in lines), key=lambda r: r["episode_id"])
    assert len(records[1]) == 4 and records[1] == records[2]
    assert any(r["path_length"] > 0 for r in records[1])  # the agents did move
