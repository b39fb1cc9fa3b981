"""habitat-lab's ObjectNav episode files: the tiny hand-made one in tests/data/habitat, both
layouts habitat-lab uses (one file; a split file with content/<scene>.json.gz), older files with
goals inside the episodes, and the errors (naming env.split and where the datasets come from)."""
from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

from embodied.config import ConfigError
from embodied.envs.habitat import episodes, fake

DATA = Path(__file__).parent / "data" / "habitat" / "objectnav_fake.json.gz"


def test_the_test_file_is_habitats_format_and_matches_the_fake() -> None:
    """The file is what `fake.dataset()` writes (the fake world and its episodes never drift)."""
    raw = json.loads(gzip.open(DATA, "rt").read())
    assert raw == json.loads(json.dumps(fake.dataset()))
    assert set(raw) >= {"episodes", "category_to_task_category_id", "goals_by_category"}
    ep = raw["episodes"][0]
    assert set(ep) >= {"episode_id", "scene_id", "start_position", "start_rotation",
                       "object_category", "info"}
    goal = raw["goals_by_category"]["two_rooms.glb_sofa"][0]
    assert goal["object_id"] == 41 and goal["view_points"][0]["agent_state"]["position"][1] == fake.FLOOR_Y


def test_round_trip_through_a_file(tmp_path) -> None:
    specs = episodes.read_episodes(DATA)
    assert [s["episode_id"] for s in specs] == [f"two_rooms-{i:04d}" for i in range(4)]
    assert [s["category"] for s in specs] == ["sofa", "bed", "chair", "plant"]
    first = specs[0]
    assert first["start_position"] == [2.3, fake.FLOOR_Y, 2.9] and first["start_rotation"] == [0, 0, 0, 1]
    assert first["goals_key"] == "two_rooms.glb_sofa" and first["geodesic_distance"] == pytest.approx(0.9)
    out = episodes.write_dataset(tmp_path / "copy" / "val.json.gz", json.loads(gzip.open(DATA, "rt").read()))
    again = episodes.read_episodes(out)
    assert [{k: v for k, v in s.items() if k != "dataset"} for s in again] == \
        [{k: v for k, v in s.items() if k != "dataset"} for s in specs]
    goals, task_ids = episodes.read_goals(out)
    assert task_ids == fake.CATEGORIES and len(goals["two_rooms.glb_chair"]) == 2


def test_split_file_with_per_scene_content_files(tmp_path) -> None:
    """HM3D/MP3D layout: {split}/{split}.json.gz has no episodes; content/<scene>.json.gz do."""
    data = fake.dataset()
    split_dir = tmp_path / "objectnav" / "hm3d" / "v1" / "val"
    episodes.write_dataset(split_dir / "val.json.gz", {**copy.deepcopy(data), "episodes": [],
                                                       "goals_by_category": {}})
    other = copy.deepcopy(data)
    for ep in other["episodes"]:
        ep["scene_id"] = "fake/other_rooms.glb"
    other["goals_by_category"] = {k.replace("two_rooms", "other_rooms"): v
                                  for k, v in other["goals_by_category"].items()}
    episodes.write_dataset(split_dir / "content" / "two_rooms.json.gz", data)
    episodes.write_dataset(split_dir / "content" / "other_rooms.json.gz", other)
    path = episodes.split_path("val", str(tmp_path / "objectnav/hm3d/v1/{split}/{split}.json.gz"))
    specs = episodes.read_episodes(path)
    ids = [s["episode_id"] for s in specs]
    assert len(ids) == 8 == len(set(ids)) and ids[0] == "other_rooms-0000"   # sorted by file name
    assert specs[0]["dataset"].endswith("content/other_rooms.json.gz")


def test_older_files_with_goals_inside_the_episodes(tmp_path) -> None:
    data = fake.dataset()
    goals = data.pop("goals_by_category")
    for ep in data["episodes"]:
        ep["goals"] = goals[f"two_rooms.glb_{ep['object_category']}"]
        del ep["object_category"]
    path = episodes.write_dataset(tmp_path / "old.json", data)
    specs = episodes.read_episodes(path)
    assert [s["category"] for s in specs] == ["sofa", "bed", "chair", "plant"]
    assert episodes.read_goals(path)[0]["two_rooms.glb_bed"][0]["object_id"] == 44


def test_a_missing_dataset_says_where_to_get_it(tmp_path) -> None:
    missing = episodes.split_path("val", "data/datasets/objectnav/hm3d/v1/{split}/{split}.json.gz")
    assert missing == Path("data/datasets/objectnav/hm3d/v1/val/val.json.gz")
    with pytest.raises(ConfigError) as err:
        episodes.read_episodes(tmp_path / "val.json.gz")
    text = str(err.value)
    assert text.startswith("env.split: ") and "does not exist" in text
    assert "objectnav_hm3d_v1.zip" in text and "objectnav_mp3d_v1.zip" in text
    assert "datasets_download" in text


def test_broken_files_are_config_errors(tmp_path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a habitat ObjectNav dataset file"):
        episodes.read_episodes(tmp_path / "bad.json")
    data = fake.dataset()
    data["goals_by_category"].pop("two_rooms.glb_bed")
    path = episodes.write_dataset(tmp_path / "nogoals.json", data)
    with pytest.raises(ConfigError, match=r"episode #1 is malformed .*two_rooms.glb_bed"):
        episodes.read_episodes(path)
    with pytest.raises(ConfigError, match="^env.data_path:"):
        episodes.split_path("val", "data/objectnav.json.gz")
