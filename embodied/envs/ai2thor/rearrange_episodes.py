"""The iTHOR Rearrangement challenge's episode files, read as they are published.

Why a reader of its own: the challenge (allenai/ai2thor-rearrangement, `data/<year>/<split>.pkl.gz`)
publishes its episodes as one mapping per file -- scene name -> list of task specs -- and the
adapter must run exactly those tasks, identified as the challenge identifies them
(`RearrangeTaskSpec.unique_id`: `<scene>__<stage>__<index>`, the index being the position in the
scene's list). Nothing here imports `ai2thor`.

One task spec (the fields the challenge's files hold; extra fields are kept):

* `agent_position` {x, y, z} and `agent_rotation` (deg, THOR's rotation.y) -- the start of both
  phases (rounded to a multiple of 90 deg by the env, the challenge's FORCE_AXIS_ALIGNED_START);
* `target_poses`: [{name, objectName, position {x, y, z}, rotation {x, y, z}}] -- every
  pickupable's pose in the walkthrough (goal) state;
* `starting_poses`: the same for the unshuffle phase's start;
* `openable_data`: [{name, objectName, objectId, start_openness, target_openness}] -- openness in
  the unshuffle start and in the goal state of the parts that differ;
* the dataset's own counts: `object_rearrangement_count`, `position_diff_count`,
  `open_diff_count`, `pose_diff_energy`.

File formats: the challenge's gzip-compressed pickle (`.pkl.gz`, what `compress_pickle` writes)
and the same mapping as gzip-compressed or plain JSON (`.json.gz`, `.json`; what the tests ship
and `write_dataset` writes). A pickle can run code when loaded: read only files you trust (the
challenge's own); JSON has no such risk.

Where the files come from: they are not in this repository (the challenge's license and size);
`env.split` names a file, or a split (`train`, `val`, `test`, `combined`, `train_unseen`) looked
up in `env.dataset_dir`, whose missing file is a ConfigError saying where to get it.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path
from typing import Any

from embodied.config import ConfigError

__all__ = ["SPLIT_NAMES", "DATA_DIR_VARIABLE", "DEFAULT_DATA_DIR", "SUFFIXES", "WHERE_TO_GET",
           "dataset_path", "read_dataset", "write_dataset", "episode_id"]

#: Split names the challenge publishes (train_unseen only in 2021).
SPLIT_NAMES = ("train", "val", "test", "combined", "train_unseen")
#: Environment variable that names the folder with the split files (when env.dataset_dir is empty).
DATA_DIR_VARIABLE = "EMBODIED_ITHOR_REARRANGE_DATA"
#: Where the split files are looked for when neither env.dataset_dir nor the variable is set.
DEFAULT_DATA_DIR = os.path.join("~", ".cache", "embodied", "ai2thor-rearrangement", "2023")
SUFFIXES = (".pkl.gz", ".json.gz", ".json")
WHERE_TO_GET = (
    "the challenge's files are data/<year>/<split>.pkl.gz in the allenai/ai2thor-rearrangement "
    "repository (2023 pairs with ai2thor 5.0, the version this project installs; 2021 and 2022 "
    "need the older THOR builds they were made with); copy "
    "one year's folder to this machine and set env.dataset_dir to it (or "
    f"${DATA_DIR_VARIABLE}), or set env.split to one file")
REQUIRED_KEYS = ("agent_position", "agent_rotation", "starting_poses", "target_poses",
                 "openable_data")


def episode_id(scene: str, stage: str, index: int) -> str:
    """The challenge's unique id of a task: `<scene>__<stage>__<index>`."""
    return f"{scene}__{stage}__{int(index)}"


def data_dir(configured: str | None) -> Path:
    """The folder split names are looked up in: env.dataset_dir, else $EMBODIED_ITHOR_REARRANGE_DATA,
    else DEFAULT_DATA_DIR."""
    chosen = configured or os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR
    return Path(os.path.expanduser(chosen))


def _is_file_name(split: str) -> bool:
    return split.endswith(SUFFIXES) or os.sep in split or "/" in split


def dataset_path(split: str, dataset_dir: str | None = None, key: str = "env.split") -> Path:
    """The file `env.split` names: a path to a dataset file, or a split name resolved in the data
    folder (the first of <split>.pkl.gz, .json.gz, .json there). A missing file is a ConfigError
    that says where to get it."""
    if _is_file_name(split):
        path = Path(os.path.expanduser(split))
        if not path.is_file():
            raise ConfigError(f"{key}: dataset file {str(path)!r} does not exist; {WHERE_TO_GET}")
        return path
    if split not in SPLIT_NAMES:
        raise ConfigError(f"{key}: got {split!r}, expected a split name {list(SPLIT_NAMES)} or a "
                          f"dataset file ({', '.join(SUFFIXES)})")
    folder = data_dir(dataset_dir)
    for suffix in SUFFIXES:
        path = folder / f"{split}{suffix}"
        if path.is_file():
            return path
    raise ConfigError(f"{key}: no {split!r} split in {str(folder)!r} (looked for "
                      f"{', '.join(split + s for s in SUFFIXES)}); {WHERE_TO_GET}")


def _load(path: Path, key: str) -> Any:
    name = path.name
    try:
        if name.endswith(".pkl.gz"):
            with gzip.open(path, "rb") as f:
                return pickle.load(f)   # the challenge's own format (see the module docstring)
        if name.endswith(".json.gz"):
            with gzip.open(path, "rt") as f:
                return json.load(f)
        return json.loads(path.read_text())
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ConfigError(f"{key}: cannot read {str(path)!r} as a rearrangement dataset "
                          f"({type(exc).__name__}: {exc})") from None


def stage_of(path: Path) -> str:
    """The stage in episode ids: the file's name without its suffix (`val.pkl.gz` -> `val`)."""
    name = path.name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_dataset(split: str, dataset_dir: str | None = None, key: str = "env.split"
                 ) -> list[dict[str, Any]]:
    """Every task of a dataset file, in file order (scenes as the file lists them, each scene's
    tasks by index), each a dict with the file's fields plus `episode_id`, `scene`, `stage` and
    `index`. Any problem is a ConfigError naming the file and the task."""
    path = dataset_path(split, dataset_dir, key)
    doc = _load(path, key)
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"{key}: {str(path)!r} is not a rearrangement dataset (expected a "
                          "non-empty mapping: scene name -> list of task specs)")
    stage = stage_of(path)
    episodes: list[dict[str, Any]] = []
    for scene, tasks in doc.items():
        if not isinstance(scene, str) or not isinstance(tasks, list):
            raise ConfigError(f"{key}: {str(path)!r}: scene {scene!r} must map to a list of task "
                              "specs")
        for index, task in enumerate(tasks):
            missing = [k for k in REQUIRED_KEYS if not isinstance(task, dict) or k not in task]
            if missing:
                raise ConfigError(f"{key}: {str(path)!r}: task {episode_id(scene, stage, index)} "
                                  f"lacks {missing} (each task needs {list(REQUIRED_KEYS)})")
            episodes.append({**task, "episode_id": episode_id(scene, stage, index),
                             "scene": scene, "stage": stage, "index": index})
    return episodes


def write_dataset(path: str | os.PathLike, tasks_by_scene: dict[str, list[dict[str, Any]]]) -> None:
    """Write scene -> tasks in the challenge's mapping, as JSON (gzip'ed for `.json.gz`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(tasks_by_scene, indent=1)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
