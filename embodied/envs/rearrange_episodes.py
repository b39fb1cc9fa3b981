"""Rearrangement episode datasets: splits of procedural rooms, each episode a goal state, a
shuffle of it, and a start pose.

As ObjectNav's datasets (`objectnav_episodes`), an experiment names a split (`train`, `val`,
`test`) or a dataset JSON file written by `embodied episodes generate`. Splits are deterministic
from their name: each draws its rooms from its own seed range (`SPLITS`), so no two splits share a
room, and an episode is regenerated from (split, index) alone. Generated splits are cached on disk
(`$EMBODIED_CACHE`, default ~/.cache/embodied), keyed by a hash of the generator's code.

How an episode is drawn (`generate_episode`, following ai2thor-rearrangement's dataset):

1. Goal state (the walkthrough): the room as generated, each openable part open (openness
   uniform in [0.3, 1]) with probability 0.3, closed otherwise (an opening that would cut into
   something stays closed).
2. The number of changes is uniform over 1..5; with probability 0.475 (the 2022 dataset's share)
   one of them is an openness change of one part (both drawn once per episode slot, before any
   redraw, so that redraws of hard cases do not skew them), to a value more than 0.2 (AI2-THOR's
   `OPENNESS_THRESHOLD`) from its goal. The others move distinct pickupable objects to a random
   pose (position and yaw) on a receptacle, area-weighted over the receptacles that have room
   above for them. A moved object's new box never overlaps its goal box (so its pose energy is
   > 0: it is misplaced) nor any moved object's goal box (goal spots stay free, so any order of
   fixing works), and cuts into nothing. Shuffles never put things on the floor, so they never
   block the agent's way.
3. Start: an agent pose (axis-aligned heading, as the challenge's forced axis-aligned starts)
   free in both states, from which, moving on the 0.25 m lattice the actions keep it on:
   every moved object can be picked up (a lattice point within 1.5 m -- checked at 1.4 m, to
   leave a margin -- with a clear line of sight
   to its box centre), its goal pose can be snapped to (within 1.5 m, clear line of sight to the
   empty goal box, object in hand), the goal pose can be seen in the walkthrough, and the changed
   part can be reached and opened to its goal without hitting the agent. Drawn until all hold.
   (Line of sight to a box centre stands in for the env's pixel-based visibility, and the
   checks do not make sure that a moved object can be the *nearest* visible one of its type
   when the room has two; the test suite's scripted oracle, which uses the env's rules, fixes
   every one of the 100 val episodes with the env's actions.)

A room slot whose room has fewer than 5 pickupables or no openable part, or that cannot host its
episodes in 8 draws each, takes the next room of its seed sequence (seed + 100000 k).

Episode record (JSON-safe dict):
    episode_id, split, room_seed, start [x, y, yaw], goal_openness {part name: openness > 0},
    changes [{"name", "kind": "move", "pose": [x, y, z, yaw]} | {"name", "kind": "open",
    "openness"}]
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from embodied.config import ConfigError
from embodied.envs.rearrange_room import RoomSpec, cached_room
from embodied.envs.rearrange_world import (RearrangeWorld, WorldState, distances_2d, lattice_bfs,
                                           room_state)

DATASET_VERSION = 1
FORMAT = "embodied.rearrange"
OPENNESS_THRESHOLD = 0.2          # AI2-THOR's: openness differences above this count
GOAL_OPEN_PROBABILITY = 0.3
OPEN_CHANGE_PROBABILITY = 0.475   # share of 2022 episodes with an openness change
MAX_CHANGES = 5
INTERACT_DISTANCE = 1.5
CHECK_MARGIN = 0.1                # generation checks reach with 1.4 m, so 1.5 m rules hold
STEP_SIZE = 0.25
MIN_PICKUPABLES = MAX_CHANGES
MIN_LATTICE = 40                  # lattice points the start must reach
PLACE_ATTEMPTS = 60
START_ATTEMPTS = 30
EPISODE_ATTEMPTS = 8


@dataclass(frozen=True)
class SplitInfo:
    """How a named split is drawn: its own seed range and size."""

    seed_base: int
    rooms: int
    episodes_per_room: int = 2

    @property
    def size(self) -> int:
        return self.rooms * self.episodes_per_room


SPLITS: dict[str, SplitInfo] = {
    "train": SplitInfo(seed_base=4_000_000, rooms=2000),
    "val": SplitInfo(seed_base=5_000_000, rooms=50),
    "test": SplitInfo(seed_base=6_000_000, rooms=50),
}
RESEED_STRIDE = 100_000     # a room that cannot host its episodes is redrawn at seed + stride
MAX_RESEEDS = 9


def room_seed(split: str, room_index: int, attempt: int = 0) -> int:
    """The seed of a split's room slot: disjoint ranges per split (see SPLITS)."""
    return SPLITS[split].seed_base + room_index + attempt * RESEED_STRIDE


# --------------------------------------------------------------------------------- states
def episode_states(room: RoomSpec, episode: dict[str, Any]) -> tuple[WorldState, WorldState]:
    """(goal state, unshuffle-start state) of an episode: the walkthrough's room, and the same
    room after the episode's changes."""
    goal = room_state(room)
    for name, value in episode.get("goal_openness", {}).items():
        if name not in goal.openness:
            raise ValueError(f"episode {episode.get('episode_id')}: room {room.seed} has no "
                             f"openable {name!r}")
        goal.openness[name] = float(value)
    shuffled = goal.copy()
    for change in episode["changes"]:
        name = change["name"]
        if change["kind"] == "move":
            if name not in shuffled.poses:
                raise ValueError(f"episode {episode.get('episode_id')}: no pickupable {name!r}")
            shuffled.poses[name] = tuple(float(v) for v in change["pose"])  # type: ignore
        elif change["kind"] == "open":
            if name not in shuffled.openness:
                raise ValueError(f"episode {episode.get('episode_id')}: no openable {name!r}")
            shuffled.openness[name] = float(change["openness"])
        else:
            raise ValueError(f"episode {episode.get('episode_id')}: unknown change {change!r}")
    return goal, shuffled


# --------------------------------------------------------------------------------- generation
_GEN_WORLD: RearrangeWorld | None = None


def generation_world() -> RearrangeWorld:
    """One small world per process for generating episodes (its camera is never used)."""
    global _GEN_WORLD
    if _GEN_WORLD is None:
        _GEN_WORLD = RearrangeWorld(16, 16, renderer="tiny")
    return _GEN_WORLD


def _r(v: float) -> float:
    return round(float(v), 4)


def _overlap(a_lo: np.ndarray, a_hi: np.ndarray, b_lo: np.ndarray, b_hi: np.ndarray,
             margin: float) -> bool:
    return bool(np.all(a_lo < b_hi + margin) and np.all(b_lo < a_hi + margin))


def _draw_goal_openness(world: RearrangeWorld, rng: np.random.Generator) -> dict[str, float]:
    room = world.room
    assert room is not None
    goal = {}
    for o in room.openables:
        if rng.random() < GOAL_OPEN_PROBABILITY:
            value = _r(rng.uniform(0.3, 1.0))
            world.set_openness(o.name, value)
            if world.openable_collides(o.name):
                world.set_openness(o.name, 0.0)
            else:
                goal[o.name] = value
    return goal


def _draw_move(world: RearrangeWorld, rng: np.random.Generator, name: str,
               reserved: list[tuple[np.ndarray, np.ndarray]]) -> list[float] | None:
    """A new pose for `name` on a receptacle (see the module docstring), set in the world."""
    room = world.room
    assert room is not None and world.state is not None
    q = room.pickupable(name)
    goal_pose = world.state.poses[name]
    g = world.corners(name, goal_pose)
    g_lo, g_hi = g.min(0), g.max(0)
    options = [r for r in room.receptacles if r.clearance >= q.height + 0.02]
    if not options:
        return None
    weights = np.array([r.area for r in options])
    for _ in range(PLACE_ATTEMPTS):
        rec = options[int(rng.choice(len(options), p=weights / weights.sum()))]
        yaw = float(rng.uniform(-math.pi, math.pi))
        local = world.corners(name, (0.0, 0.0, 0.0, yaw))
        lo, hi = local.min(0), local.max(0)
        x0, y0, x1, y1 = rec.rect
        m = 0.01
        if x1 - m - hi[0] < x0 + m - lo[0] or y1 - m - hi[1] < y0 + m - lo[1]:
            continue
        pose = [_r(rng.uniform(x0 + m - lo[0], x1 - m - hi[0])),
                _r(rng.uniform(y0 + m - lo[1], y1 - m - hi[1])), _r(rec.z), _r(yaw)]
        c = world.corners(name, pose)
        c_lo, c_hi = c.min(0), c.max(0)
        if _overlap(c_lo[:2], c_hi[:2], g_lo[:2], g_hi[:2], 0.02):
            continue                                   # must not overlap its own goal box
        if any(_overlap(c_lo, c_hi, r_lo, r_hi, 0.02) for r_lo, r_hi in reserved):
            continue                                   # nor another moved object's goal spot
        world.set_pose(name, pose)
        if world.pickupable_collides(name):
            world.set_pose(name, goal_pose)
            continue
        return pose
    return None


def _line_of_sight(world: RearrangeWorld, cells: np.ndarray, target: np.ndarray,
                   instance: int | None) -> np.ndarray:
    """(K,) bool: from a camera at each cell the ray to `target` hits `instance` first (or,
    with instance None, hits nothing before it)."""
    origins = np.column_stack([cells, np.full(len(cells), world.camera_height)])
    targets = np.broadcast_to(target, origins.shape)
    ids, frac = world.ray_hits(origins, targets)
    if instance is not None:
        return ids == instance
    length = np.linalg.norm(targets - origins, axis=1)
    return frac >= 1.0 - 0.02 / np.maximum(length, 1e-6)


def _reachable_view(world: RearrangeWorld, cells: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    instance: int | None) -> np.ndarray:
    """Cells within reach of the box [lo, hi] that see its centre (see `_line_of_sight`)."""
    near = distances_2d(cells, lo, hi) <= INTERACT_DISTANCE - CHECK_MARGIN
    ok = np.zeros(len(cells), dtype=bool)
    if near.any():
        ok[near] = _line_of_sight(world, cells[near], (lo + hi) / 2.0, instance)
    return ok


def _start_ok(world: RearrangeWorld, goal: WorldState, shuffled: WorldState,
              start: np.ndarray, yaw: float, moved: list[str], opened: str | None) -> bool:
    """The solvability checks of the module docstring, for one start pose."""
    room = world.room
    assert room is not None
    world.apply(goal)
    if world.agent_collides(start):
        return False
    goal_cells = np.array(list(lattice_bfs(world, start, yaw, STEP_SIZE)[0].values()))
    for name in moved:                       # the walkthrough can see every goal pose
        lo, hi = world.aabb(name)
        if not _reachable_view(world, goal_cells, lo, hi, room.pickupable(name).instance_id).any():
            return False
    world.apply(shuffled)
    if world.agent_collides(start):
        return False
    cells = np.array(list(lattice_bfs(world, start, yaw, STEP_SIZE)[0].values()))
    if len(cells) < MIN_LATTICE:
        return False
    for name in moved:
        lo, hi = world.aabb(name)            # pick it up where it is now
        if not _reachable_view(world, cells, lo, hi, room.pickupable(name).instance_id).any():
            return False
        c = world.corners(name, goal.poses[name])
        world.hold(name)                     # snap it back: the empty goal box must be in view
        ok = _reachable_view(world, cells, c.min(0), c.max(0), None).any()
        world.apply(shuffled)
        if not ok:
            return False
    if opened is not None:
        o = room.openable(opened)
        lo, hi = world.aabb(opened)
        view = _reachable_view(world, cells, lo, hi, o.instance_id)
        world.set_openness(opened, goal.openness[opened])
        free = np.array([not world.agent_collides(c) for c in cells[view]], dtype=bool)
        world.apply(shuffled)
        if not free.any():
            return False
    return True


def draw_plan(rng: np.random.Generator, room: RoomSpec) -> tuple[int, bool]:
    """(number of changes, whether one is an openness change): uniform over 1..5, and an
    openness change with probability 0.475 (when the room has openables)."""
    n_changes = int(rng.integers(1, MAX_CHANGES + 1))
    open_change = bool(rng.random() < OPEN_CHANGE_PROBABILITY) and bool(room.openables)
    return n_changes, open_change


def generate_episode(room: RoomSpec, rng: np.random.Generator, episode_id: str, split: str,
                     plan: tuple[int, bool], world: RearrangeWorld | None = None
                     ) -> dict[str, Any] | None:
    """One episode of `room` with `plan` (`draw_plan`) drawn with `rng` (see the module
    docstring), or None if this draw cannot be made solvable (the caller draws again with
    another generator, keeping the plan, so that redraws do not bias the plans' distribution
    towards the easier ones)."""
    world = world or generation_world()
    world.load(room)
    world.apply(room_state(room))
    goal_openness = _draw_goal_openness(world, rng)
    goal = world.state.copy()                                       # type: ignore[union-attr]
    n_changes, open_change = plan
    n_moves = min(n_changes - int(open_change), len(room.pickupables))
    names = [q.name for q in room.pickupables]
    moved = [names[i] for i in rng.choice(len(names), size=n_moves, replace=False)]
    changes: list[dict[str, Any]] = []
    reserved: list[tuple[np.ndarray, np.ndarray]] = []
    for name in moved:
        c = world.corners(name, goal.poses[name])
        reserved.append((c.min(0), c.max(0)))
    for k, name in enumerate(moved):
        pose = _draw_move(world, rng, name, reserved[:k] + reserved[k + 1:])
        if pose is None:
            return None
        changes.append({"name": name, "kind": "move", "pose": pose})
    opened = None
    if open_change:
        o = room.openables[int(rng.integers(len(room.openables)))]
        target = goal.openness[o.name]
        for _ in range(20):
            value = _r(rng.uniform(0.0, 1.0))
            if abs(value - target) <= OPENNESS_THRESHOLD + 0.05:
                continue
            world.set_openness(o.name, value)
            if world.openable_collides(o.name):
                continue
            world.set_openness(o.name, target)      # its goal must stay reachable
            blocked = world.openable_collides(o.name)
            world.set_openness(o.name, value)
            if not blocked:
                opened = o.name
                break
        if opened is None:
            world.set_openness(o.name, target)
            return None
        changes.append({"name": opened, "kind": "open", "openness": value})
    shuffled = world.state.copy()                                   # type: ignore[union-attr]
    x0, y0, x1, y1 = room.bounds
    for _ in range(START_ATTEMPTS):
        start = np.array([_r(rng.uniform(x0 + 0.3, x1 - 0.3)), _r(rng.uniform(y0 + 0.3, y1 - 0.3))])
        yaw = _r(math.radians(90.0 * int(rng.integers(4))))
        if _start_ok(world, goal, shuffled, start, yaw, moved, opened):
            return {"episode_id": episode_id, "split": split, "room_seed": int(room.seed),
                    "start": [float(start[0]), float(start[1]), yaw],
                    "goal_openness": goal_openness, "changes": changes}
    return None


@lru_cache(maxsize=16)
def _room_episodes(split: str, room_index: int) -> list[dict[str, Any]]:
    """The episodes of room slot `room_index`; a room that cannot host them is redrawn. Cached
    (a reset draws from a few rooms again and again): callers copy before changing anything."""
    info = SPLITS[split]
    for attempt in range(MAX_RESEEDS + 1):
        seed = room_seed(split, room_index, attempt)
        room = cached_room(seed)
        if len(room.pickupables) < MIN_PICKUPABLES or not room.openables:
            continue
        episodes = []
        for k in range(info.episodes_per_room):
            plan = draw_plan(np.random.default_rng([seed, k, DATASET_VERSION]), room)
            for draw in range(EPISODE_ATTEMPTS):
                rng = np.random.default_rng([seed, k, draw, DATASET_VERSION])
                ep = generate_episode(room, rng, f"{split}-{room_index:04d}-{k}", split, plan)
                if ep is not None:
                    episodes.append(ep)
                    break
            else:
                break
        if len(episodes) == info.episodes_per_room:
            return episodes
    raise RuntimeError(f"no room for slot {room_index} of split {split!r} hosts its episodes")


def _generator_fingerprint() -> str:
    """Hash of the code that decides what a split contains: a changed generator never reuses a
    stale cache."""
    import embodied.envs.articulated.objects as art_mod
    import embodied.envs.pybullet.house as house_mod
    import embodied.envs.pybullet.objects as objects_mod
    import embodied.envs.rearrange_room as room_mod
    import embodied.envs.rearrange_world as world_mod

    digest = hashlib.sha1(str(DATASET_VERSION).encode())
    for mod in (house_mod, objects_mod, art_mod, room_mod, world_mod):
        digest.update(Path(mod.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _cache_path(split: str) -> Path:
    root = Path(os.environ.get("EMBODIED_CACHE", Path.home() / ".cache" / "embodied"))
    return root / "rearrange" / f"{split}-{_generator_fingerprint()}.json"


def split_episodes(split: str, count: int | None = None) -> list[dict[str, Any]]:
    """The first `count` episodes of a named split (all by default), generated on demand
    (~0.3-1 s a room) and cached on disk."""
    if split not in SPLITS:
        raise KeyError(split)
    info = SPLITS[split]
    count = info.size if count is None else count
    path = _cache_path(split)
    try:
        episodes = json.loads(path.read_text())["episodes"]
    except (OSError, ValueError, KeyError, TypeError):
        episodes = []
    if len(episodes) >= count:
        return episodes[:count]
    room_index = len(episodes) // info.episodes_per_room
    episodes = episodes[: room_index * info.episodes_per_room]
    while len(episodes) < count and room_index < info.rooms:
        episodes.extend(copy.deepcopy(_room_episodes(split, room_index)))
        room_index += 1
    try:
        write_dataset(path, episodes, {"split": split, "cache": True})
    except OSError:
        pass  # a read-only home only costs the regeneration next time
    return episodes[:count]


def split_episode(split: str, index: int) -> dict[str, Any]:
    """Random access to one episode of a split without generating the ones before it."""
    info = SPLITS[split]
    room_index, k = divmod(index % info.size, info.episodes_per_room)
    return copy.deepcopy(_room_episodes(split, room_index)[k])


def write_dataset(path: str | os.PathLike, episodes: list[dict[str, Any]],
                  meta: dict[str, Any]) -> None:
    """Write a dataset file atomically, so a killed generator never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "version": DATASET_VERSION, **meta, "episodes": episodes}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


REQUIRED_KEYS = ("episode_id", "room_seed", "start", "changes")


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
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{key}: {str(path)!r} is not a rearrangement dataset "
                          f"(expected a JSON object with \"format\": \"{FORMAT}\")")
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
