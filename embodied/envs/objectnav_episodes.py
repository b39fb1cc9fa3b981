"""ObjectNav episode datasets for the embedded PyBullet houses.

Like Habitat's episode datasets, an experiment names either a split (`train`, `val`, `test`) or a
dataset JSON file written by `embodied episodes generate`. Splits are deterministic from their name:
each split draws its houses from its own seed range, so no two splits share a house. An episode is
cheap to regenerate from `(split, index)` alone, so a run lists only the episodes it needs.

Episode record (JSON-safe dict):
    episode_id, split, house_seed, category, start [x, y, yaw], shortest_path_length (m),
    success_distance (m)
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from shapely.geometry import box as shapely_box

from embodied.config import ConfigError
from embodied.envs.pybullet.house import HouseSpec, generate_house
from embodied.perception.geodesic import FreeSpace, Target
from embodied.perception.navgrid import NavGrid, distance_field

DATASET_VERSION = 1
ROTATE_DEG = 30.0


@dataclass(frozen=True)
class SplitInfo:
    """How a named split is drawn: its own seed range and size."""

    seed_base: int
    houses: int
    episodes_per_house: int = 2

    @property
    def size(self) -> int:
        return self.houses * self.episodes_per_house


SPLITS: dict[str, SplitInfo] = {
    "train": SplitInfo(seed_base=1_000_000, houses=500),
    "val": SplitInfo(seed_base=2_000_000, houses=25),
    "test": SplitInfo(seed_base=3_000_000, houses=25),
}

MIN_GEODESIC = 4.5  # metres from the start to the success region, at least
START_DRAWS = 20    # starts tried per goal before the category is skipped
CAMERA_HEIGHT = 0.88
RayFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
AGENT_RADIUS = 0.18
AGENT_HEIGHT = 1.0
GRID_RESOLUTION = 0.05


RESEED_STRIDE = 100_000  # a house that cannot host its episodes is redrawn at seed + stride
MAX_RESEEDS = 9          # seed_base + house_index + 9 * stride stays inside the split's range


def house_seed(split: str, house_index: int, attempt: int = 0) -> int:
    """The seed of a split's house: disjoint ranges per split (see SPLITS)."""
    return SPLITS[split].seed_base + house_index + attempt * RESEED_STRIDE


@lru_cache(maxsize=8)
def cached_house(seed: int) -> HouseSpec:
    """Houses are pure functions of their seed; keep the last few to avoid regenerating."""
    return generate_house(seed)


def house_footprints(house: HouseSpec, height: float = AGENT_HEIGHT) -> list[np.ndarray]:
    """2-D footprints of every part the agent's body can hit (its height band; not the floor)."""
    polygons = []
    for obj in house.objects:
        if obj.kind == "structure" and obj.category == "Floor":
            continue
        polygons.extend(obj.footprints(0.03, height))
    return polygons


def house_navgrid(house: HouseSpec, resolution: float = GRID_RESOLUTION,
                  radius: float = AGENT_RADIUS, height: float = AGENT_HEIGHT) -> NavGrid:
    """The navigability grid of a house: every footprint in the agent's height band, inflated."""
    return NavGrid.from_footprints(house_footprints(house, height), house.bounds,
                                   resolution=resolution, inflation=radius)


def goal_boxes(house: HouseSpec, category: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """2-D bounding boxes (min_xy, max_xy, instance_id) of every instance of a category."""
    boxes = []
    for obj in house.goal_instances(category):
        lo, hi = obj.world_aabb()
        boxes.append((np.asarray(lo[:2], float), np.asarray(hi[:2], float), obj.instance_id))
    return boxes


def goal_region(grid: NavGrid, boxes: list[tuple[np.ndarray, np.ndarray, int]],
                success_distance: float) -> np.ndarray:
    """Free cells whose centre is within `success_distance` (2-D) of a goal instance's box."""
    h, w = grid.free.shape
    xs = grid.origin[0] + (np.arange(w) + 0.5) * grid.resolution
    ys = grid.origin[1] + (np.arange(h) + 0.5) * grid.resolution
    best = np.full((h, w), np.inf)
    for lo, hi, _ in boxes:
        dx = np.maximum(np.maximum(lo[0] - xs, xs - hi[0]), 0.0)
        dy = np.maximum(np.maximum(lo[1] - ys, ys - hi[1]), 0.0)
        best = np.minimum(best, np.hypot(dy[:, None], dx[None, :]))
    return grid.free & (best <= success_distance)


def success_region(grid: NavGrid, house: HouseSpec, boxes: list[tuple[np.ndarray, np.ndarray, int]],
                   success_distance: float, ray_hits: RayFn | None = None,
                   camera_height: float = CAMERA_HEIGHT) -> np.ndarray:
    """Free cells where Stop can succeed: within `success_distance` of a goal instance's box and,
    when `ray_hits` is given (the task requires visibility), with that instance in line of sight
    from the camera there (a ray to the centre of one of its parts hits it first: an open
    laptop's box centre is empty air, its screen's centre is not).

    A spot 0.9 m from a mug but behind a wall satisfies the distance condition, yet no agent can
    succeed there, so it is not part of the region. This is the grid's version (cell centres), for
    planning; SPL's l is measured to the exact region of ``goal_targets``.
    """
    if ray_hits is None:
        return goal_region(grid, boxes, success_distance)
    by_id = {o.instance_id: o for o in house.objects}
    region = np.zeros_like(grid.free)
    for lo, hi, iid in boxes:
        cells = np.argwhere(goal_region(grid, [(lo, hi, iid)], success_distance))
        if len(cells) == 0:
            continue
        xy = grid.cell_to_world(cells)
        origins = np.column_stack([xy, np.full(len(xy), camera_height)])
        seen = np.zeros(len(cells), bool)
        for _, centre in by_id[iid].part_poses():   # a ray to the centre of each of its parts
            seen |= ray_hits(origins, np.broadcast_to(centre, origins.shape)) == iid
        region[cells[seen, 0], cells[seen, 1]] = True
    return region


def goal_field(grid: NavGrid, house: HouseSpec, boxes: list[tuple[np.ndarray, np.ndarray, int]],
               success_distance: float, ray_hits: RayFn | None = None) -> np.ndarray:
    """Grid distance (m) from every free cell to the nearest cell of the success region: what an
    oracle plans with. Scoring uses the exact ``goal_targets`` instead."""
    return distance_field(grid, success_region(grid, house, boxes, success_distance, ray_hits))


def house_free_space(house: HouseSpec, radius: float = AGENT_RADIUS,
                     height: float = AGENT_HEIGHT) -> FreeSpace:
    """Where the agent's centre may be, as a polygon with exact shortest paths (SPL's l)."""
    return FreeSpace(house_footprints(house, height), house.bounds, radius)


def line_of_sight(ray_hits: RayFn, house: HouseSpec, instance_id: int,
                  camera_height: float = CAMERA_HEIGHT) -> Callable[[np.ndarray], np.ndarray]:
    """(K, 2) floor points -> (K,) bool: from a camera there the instance is in line of sight (a
    ray to the centre of one of its parts hits it first), the visibility part of success."""
    centres = [centre for _, centre in house.object_by_id(instance_id).part_poses()]

    def accept(points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        origins = np.column_stack([pts, np.full(len(pts), camera_height)])
        seen = np.zeros(len(pts), dtype=bool)
        for centre in centres:
            seen |= ray_hits(origins, np.broadcast_to(centre, origins.shape)) == instance_id
        return seen

    return accept


LOS_SPACING = 0.06
"""Sample spacing (m) at which the edge of the line-of-sight region is searched (then bisected to
0.1 mm); on the val split 1, 2, 4 and 6 cm give the same l to within 0.3 mm."""


def goal_targets(free: FreeSpace, house: HouseSpec, boxes: list[tuple[np.ndarray, np.ndarray, int]],
                 success_distance: float, ray_hits: RayFn | None = None) -> list[Target]:
    """The success region as exact targets, one per goal instance: the free points within
    `success_distance` (2-D) of its box and, when `ray_hits` is given (visibility required), with
    the instance in line of sight. SPL's l and the final distance to goal are measured to these.
    The box is grown with 64 chords per quarter circle (0.08 mm inside the true circle)."""
    targets = []
    for lo, hi, iid in boxes:
        region = shapely_box(lo[0], lo[1], hi[0], hi[1]).buffer(success_distance, quad_segs=64)
        accept = None if ray_hits is None else line_of_sight(ray_hits, house, iid)
        targets.append(Target(free, region, accept, spacing=LOS_SPACING))
    return targets


_GEN_SCENE: Any = None


def generation_ray_hits(house: HouseSpec) -> RayFn:
    """Line-of-sight queries for dataset generation, through one small scene kept per process."""
    global _GEN_SCENE
    from embodied.envs.pybullet.scene import PyBulletScene

    if _GEN_SCENE is None:
        _GEN_SCENE = PyBulletScene(width=16, height=16, renderer="tiny")
    if _GEN_SCENE.house is not house:
        _GEN_SCENE.load(house)
    return _GEN_SCENE.ray_hits


def _house_episodes(split: str, house_index: int, success_distance: float) -> list[dict[str, Any]]:
    """The episodes of house slot `house_index`; a house too small for them is redrawn."""
    for attempt in range(MAX_RESEEDS + 1):
        found = _episodes_in_house(split, house_index, house_seed(split, house_index, attempt),
                                   success_distance)
        if found is not None:
            return found
    raise RuntimeError(f"no house for slot {house_index} of split {split!r} hosts its episodes")


def _episodes_in_house(split: str, house_index: int, seed: int,
                       success_distance: float) -> list[dict[str, Any]] | None:
    """A goal category present in the house and a start far enough away, per episode.

    Starts are drawn among the free cells whose grid distance is at least MIN_GEODESIC, then
    kept only if the exact shortest path is too (the grid overestimates by up to ~3 %)."""
    info = SPLITS[split]
    house = cached_house(seed)
    grid = house_navgrid(house)
    free = house_free_space(house)
    rng = np.random.default_rng([seed, DATASET_VERSION])
    categories = sorted({o.category for o in house.objects if o.kind == "object"})
    rng.shuffle(categories)
    episodes: list[dict[str, Any]] = []
    for category in categories:
        if len(episodes) == info.episodes_per_house:
            break
        boxes = goal_boxes(house, category)
        rays = generation_ray_hits(house)
        field = goal_field(grid, house, boxes, success_distance, rays)
        candidates = np.argwhere(np.isfinite(field) & (field >= MIN_GEODESIC))
        if len(candidates) == 0:
            continue
        targets = goal_targets(free, house, boxes, success_distance, rays)
        for _ in range(START_DRAWS):
            i, j = candidates[rng.integers(len(candidates))]
            x, y = grid.cell_to_world(np.array([i, j]))
            start_l = free.distance_to(targets, np.array([x, y]))
            if MIN_GEODESIC <= start_l < math.inf:
                break
        else:
            continue
        yaw = float(np.deg2rad(ROTATE_DEG * rng.integers(0, int(360 / ROTATE_DEG))))
        episodes.append({
            "episode_id": f"{split}-{house_index:04d}-{len(episodes)}",
            "split": split,
            "house_seed": int(seed),
            "category": category,
            "start": [round(float(x), 4), round(float(y), 4), round(yaw, 6)],
            "shortest_path_length": round(float(start_l), 4),
            "success_distance": success_distance,
        })
    return episodes if len(episodes) == info.episodes_per_house else None


def _generator_fingerprint() -> str:
    """Hash of the code that decides what a split contains: a changed generator never reuses a
    stale cache."""
    import embodied.envs.pybullet.house as house_mod
    import embodied.envs.pybullet.objects as objects_mod
    import embodied.perception.geodesic as geodesic_mod

    digest = hashlib.sha1(str(DATASET_VERSION).encode())
    for source in (house_mod.__file__, objects_mod.__file__, geodesic_mod.__file__, __file__):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(split: str, success_distance: float) -> Path:
    root = Path(os.environ.get("EMBODIED_CACHE", Path.home() / ".cache" / "embodied"))
    return root / "objectnav" / f"{split}-sd{success_distance:g}-{_generator_fingerprint()}.json"


def split_episodes(split: str, count: int | None = None,
                   success_distance: float = 1.0) -> list[dict[str, Any]]:
    """The first `count` episodes of a named split (all by default).

    Generated on demand (~0.2 s a house) and cached on disk (`$EMBODIED_CACHE`, default
    ~/.cache/embodied), keyed by a hash of the generator's code, so a run starts at once the
    second time and a changed generator never serves stale episodes.
    """
    if split not in SPLITS:
        raise KeyError(split)
    info = SPLITS[split]
    count = info.size if count is None else count
    path = _cache_path(split, success_distance)
    episodes: list[dict[str, Any]] = []
    try:
        episodes = json.loads(path.read_text())["episodes"]
    except (OSError, ValueError, KeyError, TypeError):
        episodes = []
    if len(episodes) >= count:
        return episodes[:count]
    house_index = len(episodes) // info.episodes_per_house
    episodes = episodes[: house_index * info.episodes_per_house]
    while len(episodes) < count and house_index < info.houses:
        episodes.extend(_house_episodes(split, house_index, success_distance))
        house_index += 1
    try:
        write_dataset(path, episodes, {"split": split, "cache": True})
    except OSError:
        pass  # a read-only home only costs the regeneration next time
    return episodes[:count]


def split_episode(split: str, index: int, success_distance: float = 1.0) -> dict[str, Any]:
    """Random access to one episode of a split without generating the ones before it."""
    info = SPLITS[split]
    house_index, k = divmod(index % info.size, info.episodes_per_house)
    return _house_episodes(split, house_index, success_distance)[k]


def write_dataset(path: str | os.PathLike, episodes: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Write a dataset file atomically, so a killed generator never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": "embodied.objectnav", "version": DATASET_VERSION, **meta, "episodes": episodes}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


REQUIRED_KEYS = ("episode_id", "house_seed", "category", "start")


def read_dataset(path: str | os.PathLike, key: str = "env.split") -> list[dict[str, Any]]:
    """Load and validate a dataset file; any problem is a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{key}: dataset file {str(path)!r} does not exist "
                          f"(expected a split name {sorted(SPLITS)} or a dataset .json file)")
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{key}: dataset file {str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != "embodied.objectnav":
        raise ConfigError(f"{key}: {str(path)!r} is not an ObjectNav dataset "
                          "(expected a JSON object with \"format\": \"embodied.objectnav\")")
    episodes = doc.get("episodes")
    if not isinstance(episodes, list) or not episodes:
        raise ConfigError(f"{key}: {str(path)!r} has no \"episodes\" list")
    seen = set()
    for n, ep in enumerate(episodes):
        missing = [k for k in REQUIRED_KEYS if not isinstance(ep, dict) or k not in ep]
        if missing:
            raise ConfigError(f"{key}: {str(path)!r} episode #{n} lacks {missing} "
                              f"(each episode needs {list(REQUIRED_KEYS)})")
        if ep["episode_id"] in seen:
            raise ConfigError(f"{key}: {str(path)!r} repeats episode_id {ep['episode_id']!r}")
        seen.add(ep["episode_id"])
        if not (isinstance(ep["start"], list) and len(ep["start"]) == 3):
            raise ConfigError(f"{key}: {str(path)!r} episode {ep['episode_id']!r}: start must be "
                              f"[x, y, yaw], got {ep['start']!r}")
    return episodes
