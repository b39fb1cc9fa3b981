"""Two-phase room rearrangement on the embedded PyBullet rooms: `embodied/Rearrange-PyBullet-v0`.

The task is AI2-THOR's two-phase Rearrangement challenge (allenai/ai2thor-rearrangement; Weihs et
al. 2021, "Visual Room Rearrangement") on procedural rooms (`rearrange_room`), with the episodes of
`rearrange_episodes`. One Gymnasium episode covers both phases, so the runner's reset -> step
loop runs them both:

1. **Walkthrough** (at most `walkthrough_steps` = 250 steps): the room in its goal state. The phase
   ends when the agent calls `done` or runs out of steps; then the env itself switches: the room
   takes its shuffled state, the agent is put back on its start pose (camera level), and the
   observation returned by that step is the first of the unshuffle phase
   (`info["phase_switched"]`).
2. **Unshuffle** (at most `unshuffle_steps` = 500 steps): 1-5 things differ from the goal state --
   pickupable objects elsewhere (position and yaw), at most one openable part at another openness.
   `done` ends the episode (terminated), the step limit truncates it; either way `info["metrics"]`
   scores the room: each object's pose energy against its goal (`embodied.metrics.pose_energy`)
   at the start and at the end of the unshuffle phase, summarised by
   `embodied.metrics.rearrangement_metrics` (success, fixed_strict, misplaced, energy_remaining,
   ...). `info["phase"]` and the step counters are in every info.

Actions (`Discrete(23)`, names in `info["actions"]`, the vocabulary `embodied.interfaces.
REARRANGE_ACTION_NAMES` / `RearrangeAction`), the challenge's two-phase set:

- `done`; `move_ahead/left/right/back`: 0.25 m along the heading / its left / right / back,
  refused (`last_action_success` False) when the agent's cylinder would touch anything on the way
  (ObjectNav's PyBullet check); `rotate_left/right`: 90 deg; `look_up/down`: 30 deg, the camera
  pitch staying in [-60, +30] deg. Pitch > 0 looks up (the project's and ObjectNav's
  convention), so this is AI2-THOR's horizon range [-30, +60] (its horizon > 0 looks down).
- `pickup_<type>` (unshuffle only; refused with full hands): the nearest visible pickupable of
  that type within 1.5 m is taken into the hand.
- `open_by_type_<type>` (unshuffle only): the nearest visible openable part of that type within
  1.5 m that is not at its goal (openness more than 0.2 off) is set to its goal openness (the
  2021/2022 rule, which takes the first visible such part). `env.open_mode: toggle` gives the 2023
  rule instead: parts are chosen by a priority (the parts whose openness was changed first, the
  others in a random order fixed per episode) and toggle between their unshuffle-start openness
  and a second value (the goal when it differs, else a random value more than 0.2 away). Refused
  if the part would cut into the agent or anything else.
- `drop_held_object_with_snap` (unshuffle only): when the held object's goal box is within
  1.5 m and in view (its centre or one of its corners pulled 20 % towards it projects into the
  frame in front of what the last depth image shows there) and the goal spot is free, the object
  is put exactly at its goal pose and the action succeeds. Otherwise it is put, upright with the
  yaw it was picked up with, on the nearest visible receptacle within 1.5 m -- as close as
  possible to where the camera's central ray meets it -- or else on the visible floor in front;
  the action then returns False (as AI2-THOR's does when the object does not end in its goal pose).

Observations: `rgb` (H, W, 3) uint8, `depth` (H, W, 1) float32 z-depth in m (`far` = nothing),
90 deg HFOV; `pose` (4,) float32 = x, y, yaw relative to the start pose, and camera pitch (as
ObjectNav's GPS+compass); `held`: the index of the held object's type in
`REARRANGE_PICKUPABLE_TYPES`, -1 for empty hands; `phase`: 0 walkthrough, 1 unshuffle. With
`privileged=True` (the "ground-truth detection" setting, never otherwise): `instance` (H, W)
int32 instance ids, `semantic` (H, W) int32 category ids (`info["categories"]`), and `boxes`
(32, 6) int32, one row per visible pickupable or openable part, sorted by instance id:
(instance id, category id, x_min, y_min, x_max, y_max) in pixels, inclusive; unused rows -1.
A privileged env's infos also carry `info["privileged"]`: every object's goal, unshuffle-start and
current pose records (AI2-THOR's `env.poses`), the agent's world pose, the instance table, and the
episode's changes -- what an oracle needs. Everything handed out is a fresh copy.
(Added for the `rearrange_oracle` agent, which plans without touching the env:) `lattice`, the
0.25 m move lattice of the current state -- `origin` (x, y) of point (0, 0), `step`, `free`
(nx, ny) bool (the agent's cylinder fits at origin + step * (i, j)) and `passable` (nx, ny, 2)
bool (a move between (i, j) and (i + 1, j) [axis 0, world x] or (i, j + 1) [axis 1, world y]
succeeds, both ways: the env's own `try_move`) -- and `min_visible_pixels`. The lattice's axes
are the world's because starts are axis-aligned; it is recomputed only when an object or part
moved (~20 ms), else served from a cache (as copies).

How this maps to ai2thor-rearrangement, and where it deviates:

- Rooms: procedural single rooms (ObjectNav's house generator) with the SfA generator's cabinets,
  fridges and microwaves as the openables, instead of iTHOR's 120 hand-made rooms. Pickupable
  types are the 9 of ObjectNav's 12 object categories that AI2-THOR marks pickupable.
- Agent: a 0.18 m-radius, 1.6 m-tall cylinder with the camera 1.5 m up (a standing iTHOR
  agent); no `stand`/`crouch`, so 10 actions besides one `open_by_type_*` per openable type (4)
  and one `pickup_*` per pickupable type (9): 23 in all, in the challenge's order.
  Starts are axis-aligned (the challenge's FORCE_AXIS_ALIGNED_START), so the agent moves on a
  0.25 m lattice, as AI2-THOR's grid-snapped agent does.
- "Visible": at least `min_visible_pixels` (default 1) pixels of the object in the last frame;
  "within 1.5 m": the floor-plane distance from the agent's centre to the object's box (the same
  measure as ObjectNav's success distance). AI2-THOR decides both with its own visibility
  points and visibility distance, which differ in detail.
- Kinematic world (`rearrange_world`): nothing is simulated, so a put-down object stands upright
  at rest; nothing falls, rolls or breaks (`broken` is always False). Rotations of pickupables are
  about the vertical axis only -- shuffles change position and yaw, not roll or pitch.
- The held object is not drawn (AI2-THOR shows it in front of the camera) and does not collide;
  rotating never fails. Its pose, for the metrics and the privileged poses, is 0.4 m in front of
  the agent at 1.0 m height, with the yaw it was picked up with.
- A drop without snap releases the object onto a receptacle or the floor only where one is
  visible within reach and has room for it; otherwise the object stays in the hand (AI2-THOR
  then drops it ahead with physics).
- Objects are never hidden inside closed cabinets or fridges (none are put there).
"""
from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied import metrics
from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs import rearrange_episodes as episodes_lib
from embodied.envs.pybullet.house import FURNITURE_CATEGORIES, GOAL_CATEGORIES
from embodied.envs.rearrange_room import RoomSpec, cached_room
from embodied.envs.rearrange_world import RearrangeWorld, distances_2d
from embodied.envs.rearrange_contract import MAX_BOXES, observation_space, phase_step
from embodied.interfaces import (REARRANGE_ACTION_NAMES, REARRANGE_OPENABLE_TYPES,
                                 REARRANGE_PHASES, REARRANGE_PICKUPABLE_TYPES, snake_case)

ENV_ID = "embodied/Rearrange-PyBullet-v0"
ACTIONS = REARRANGE_ACTION_NAMES
PHASES = REARRANGE_PHASES
STEP_SIZE = episodes_lib.STEP_SIZE           # m: the challenge's grid
ROTATE_DEGREES = 90.0
LOOK_DEGREES = 30.0
PITCH_MIN_DEG, PITCH_MAX_DEG = -60.0, 30.0   # pitch > 0 looks up: AI2-THOR horizon in [-30, 60]
INTERACT_DISTANCE = episodes_lib.INTERACT_DISTANCE
OPENNESS_THRESHOLD = episodes_lib.OPENNESS_THRESHOLD
HAND_OFFSET, HAND_HEIGHT = 0.4, 1.0          # where a held object counts as being
SNAP_SHRINK = 0.8                            # corners pulled 20 % to the centre for the view test
DEPTH_TOLERANCE = 0.03                       # m: a point is in view if nothing is this much nearer
#: category ids of the `semantic` mask and `boxes` (index = id; 0 = nothing / sky)
CATEGORIES: tuple[str, ...] = (
    ("background",) + REARRANGE_PICKUPABLE_TYPES + REARRANGE_OPENABLE_TYPES
    + ("CabinetBody", "FridgeBody", "MicrowaveBody")
    + tuple(c for c in GOAL_CATEGORIES if c not in REARRANGE_PICKUPABLE_TYPES)
    + FURNITURE_CATEGORIES + ("Floor", "Wall"))
_CATEGORY_ID = {name: i for i, name in enumerate(CATEGORIES)}
_MOVES = {"move_ahead": 0.0, "move_left": 90.0, "move_right": -90.0, "move_back": 180.0}
_PICKUP = {f"pickup_{snake_case(t)}": t for t in REARRANGE_PICKUPABLE_TYPES}
_OPEN = {f"open_by_type_{snake_case(t)}": t for t in REARRANGE_OPENABLE_TYPES}


@dataclass
class RearrangeConfig(EnvConfig):
    """Settings of the embedded two-phase rearrangement task (the challenge's defaults)."""

    id: str = ENV_ID
    split: str = "val"
    width: int = 224
    height: int = 224
    hfov: float = 90.0
    renderer: str = "auto"
    walkthrough_steps: int = 250
    unshuffle_steps: int = 500
    #: pixels of an object in the frame for it to count as visible (pickup, open_by_type, drops)
    min_visible_pixels: int = 1
    #: "goal": open_by_type sets the goal openness (2021/2022); "toggle": the 2023 rule
    open_mode: str = "goal"

    def __post_init__(self) -> None:
        """Range checks, so a setting no episode can run with fails before the first one."""
        if self.renderer not in ("auto", "raycast", "tiny", "egl"):
            raise ConfigError(f"got {self.renderer!r}, expected one of auto, raycast, tiny, egl",
                              key="renderer")
        for name in ("width", "height", "walkthrough_steps", "unshuffle_steps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"got {getattr(self, name)}, expected a positive integer", key=name)
        if not 0.0 < self.hfov < 180.0:
            raise ConfigError(f"got {self.hfov}, expected degrees in (0, 180)", key="hfov")
        if not 1 <= self.min_visible_pixels <= self.width * self.height:
            raise ConfigError(f"got {self.min_visible_pixels}, expected a pixel count in [1, "
                              f"{self.width * self.height}] (width x height)",
                              key="min_visible_pixels")
        if self.open_mode not in ("goal", "toggle"):
            raise ConfigError(f"got {self.open_mode!r}, expected goal (2021/2022 rule) or toggle "
                              "(2023 rule)", key="open_mode")


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    return math.atan2(math.sin(a), math.cos(a))


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so metrics are JSON-safe records."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class RearrangeEnv(gym.Env):
    """Walk through a room, then put back what was moved or opened (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: RearrangeConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, **overrides: Any) -> None:
        config = with_overrides(config or RearrangeConfig(), overrides, "RearrangeEnv")
        self.config = config
        self.render_mode = render_mode
        self.privileged = bool(privileged)
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.world = RearrangeWorld(config.width, config.height, config.hfov, config.renderer)
        self.far = float(self.world.scene.far)
        self.observation_space = observation_space(config.height, config.width, self.far, self.privileged)
        self.episode: dict[str, Any] | None = None
        self.done = False
        self._file_episodes: list[dict[str, Any]] | None = None
        self._frame: dict[str, np.ndarray] = {}
        self._counts = np.zeros(1, dtype=np.int64)
        self._lattice_cache: tuple[Any, dict[str, Any]] | None = None

    # ----------------------------------------------------------------------------- episodes
    def _default_episode(self) -> dict[str, Any]:
        """An episode of the configured split, drawn with the env's RNG (reset without options)."""
        split = self.config.split
        if split in episodes_lib.SPLITS:
            index = int(self.np_random.integers(episodes_lib.SPLITS[split].size))
            return episodes_lib.split_episode(split, index)
        if self._file_episodes is None:
            self._file_episodes = episodes_lib.read_dataset(split)
        return self._file_episodes[int(self.np_random.integers(len(self._file_episodes)))]

    @property
    def room(self) -> RoomSpec:
        """The loaded room."""
        assert self.world.room is not None
        return self.world.room

    # ----------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode (`options["episode"]`, else one of the split drawn with the env's
        RNG): both phases' states are prepared here, the walkthrough's is applied."""
        super().reset(seed=seed)
        spec = (options or {}).get("episode") or self._default_episode()
        room = cached_room(int(spec["room_seed"]))
        self.world.load(room)
        self.goal_state, self.shuffled_state = episodes_lib.episode_states(room, spec)
        self.world.apply(self.goal_state)
        self.episode = copy.deepcopy(spec)
        x, y, yaw = (float(v) for v in spec["start"])
        self.start = (x, y, yaw)
        self.position = np.array([x, y])
        self.yaw, self.pitch = yaw, 0.0
        self.phase = 0
        self.steps = self.phase_steps = 0
        self.walkthrough_steps = 0
        self.done = False
        self.goal_poses = self.world.poses()
        self.unshuffle_start_poses: dict[str, dict[str, Any]] | None = None
        self._toggles: dict[str, list[float]] = {}
        self._priority: dict[str, int] = {}
        self._semantic_lut = np.zeros(max(room.categories) + 1, dtype=np.int32)
        for iid, category in room.categories.items():
            self._semantic_lut[iid] = _CATEGORY_ID.get(category, 0)
        self._detectable = np.array(sorted(
            [q.instance_id for q in room.pickupables] + [o.instance_id for o in room.openables]),
            dtype=np.int32)
        obs = self._observe()
        info: dict[str, Any] = {
            "episode_id": spec["episode_id"],
            "phase": PHASES[0],
            "steps": 0,
            "phase_steps": 0,
            "actions": ACTIONS,
            "max_steps": {"walkthrough": self.config.walkthrough_steps,
                          "unshuffle": self.config.unshuffle_steps},
            "camera": {**self.world.scene.intrinsics(), "height_m": self.world.camera_height},
            "renderer": self.world.renderer,
            "categories": dict(_CATEGORY_ID),
            "pickupable_types": REARRANGE_PICKUPABLE_TYPES,
            "openable_types": REARRANGE_OPENABLE_TYPES,
            "open_mode": self.config.open_mode,
        }
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """One action (see the module docstring). Reward is always 0: the task is scored by
        `info["metrics"]` at the end, as the challenge's leaderboard scores it."""
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        index = self._action_index(action)
        name = ACTIONS[index]
        self.steps += 1
        self.phase_steps += 1
        success = self._apply(name)
        info: dict[str, Any] = {"last_action_success": bool(success), "action": name}
        clock = phase_step(self.phase, name, self.phase_steps, self.config.walkthrough_steps,
                           self.config.unshuffle_steps)
        terminated, truncated = clock.terminated, clock.truncated
        if clock.switch:
            self._start_unshuffle()
            info["phase_switched"] = True
        obs = self._observe()
        info.update(phase=PHASES[self.phase], steps=self.steps, phase_steps=self.phase_steps)
        if terminated or truncated:
            self.done = True
            info["metrics"] = self._metrics()
            info["record"] = {"room": str(self.episode["room_seed"]),
                              "changes": len(self.episode["changes"]),
                              "renderer": self.world.renderer}
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The agent's last rgb frame (render_mode "rgb_array"), for videos."""
        if self.render_mode != "rgb_array" or not self._frame:
            return None
        return self._frame["rgb"].copy()

    def close(self) -> None:
        self.world.close()

    # ----------------------------------------------------------------------------- phases
    def _start_unshuffle(self) -> None:
        """The walkthrough is over: the shuffled room, the agent back at its start."""
        self.walkthrough_steps = self.steps
        self.phase, self.phase_steps = 1, 0
        self.world.apply(self.shuffled_state)
        x, y, yaw = self.start
        self.position = np.array([x, y])
        self.yaw, self.pitch = yaw, 0.0
        self.unshuffle_start_poses = self.world.poses()
        if self.config.open_mode == "toggle":
            self._init_toggles()

    def _init_toggles(self) -> None:
        """The 2023 rule's per-part values and priorities, seeded by the episode id (as the
        challenge seeds them by a hash of the task spec)."""
        digest = hashlib.sha256(str(self.episode["episode_id"]).encode()).digest()  # type: ignore
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        changed, others = [], []
        for o in self.room.openables:
            start = self.shuffled_state.openness[o.name]
            goal = self.goal_state.openness[o.name]
            if goal != start:
                second = goal
                changed.append(o.name)
            else:
                lo, hi = max(start - OPENNESS_THRESHOLD, 0.0), min(start + OPENNESS_THRESHOLD, 1.0)
                below, above = lo, 1.0 - hi
                second = float(rng.uniform(0.0, lo)) if rng.random() < below / (below + above) \
                    else float(rng.uniform(hi, 1.0))
                others.append(o.name)
            self._toggles[o.name] = [second, start]
        order = list(rng.permutation(sorted(changed))) + list(rng.permutation(sorted(others)))
        self._priority = {str(n): i for i, n in enumerate(order)}

    # ----------------------------------------------------------------------------- actions
    def _action_index(self, action: Any) -> int:
        """The action as an index; anything that is not one of 0..n-1 (NaN, 2.5, -1) raises."""
        try:
            value = float(action)
        except (TypeError, ValueError):
            raise ValueError(f"action {action!r} is not one of 0..{len(ACTIONS) - 1}") from None
        if not math.isfinite(value) or value != int(value) or not 0 <= value < len(ACTIONS):
            raise ValueError(f"action {action!r} is not one of 0..{len(ACTIONS) - 1} "
                             f"(names in info['actions'])")
        return int(value)

    def _apply(self, name: str) -> bool:
        if name == "done":
            return True
        if name in _MOVES:
            angle = self.yaw + math.radians(_MOVES[name])
            target = self.position + STEP_SIZE * np.array([math.cos(angle), math.sin(angle)])
            if not self.world.try_move(self.position, target):
                return False
            self.position = target
            return True
        if name in ("rotate_left", "rotate_right"):
            sign = 1.0 if name == "rotate_left" else -1.0
            self.yaw = wrap_angle(self.yaw + sign * math.radians(ROTATE_DEGREES))
            return True
        if name in ("look_up", "look_down"):
            pitch = self.pitch + (1.0 if name == "look_up" else -1.0) * math.radians(LOOK_DEGREES)
            if not math.radians(PITCH_MIN_DEG) - 1e-9 <= pitch <= math.radians(PITCH_MAX_DEG) + 1e-9:
                return False
            self.pitch = pitch
            return True
        if self.phase == 0:
            return False            # the walkthrough agent may only look (as the challenge's)
        if name in _PICKUP:
            return self._pickup(_PICKUP[name])
        if name in _OPEN:
            return self._open(_OPEN[name])
        if name == "drop_held_object_with_snap":
            return self._drop()
        raise AssertionError(name)

    def _visible(self, instance_id: int) -> bool:
        return instance_id < len(self._counts) and \
            self._counts[instance_id] >= self.config.min_visible_pixels

    def _distance(self, name: str) -> float:
        lo, hi = self.world.aabb(name)
        return float(distances_2d(self.position, lo, hi)[0])

    def _pickup(self, type_name: str) -> bool:
        """The nearest visible pickupable of the type within reach goes into the hand."""
        if self.world.state.held is not None:          # type: ignore[union-attr]
            return False
        found = [(self._distance(q.name), q.name) for q in self.room.pickupables
                 if q.type == type_name and self._visible(q.instance_id)]
        found = [f for f in found if f[0] <= INTERACT_DISTANCE]
        if not found:
            return False
        self.world.hold(min(found)[1])
        return True

    def _open(self, type_name: str) -> bool:
        """open_by_type: the chosen part to its goal openness (or toggled, in toggle mode)."""
        found = [o for o in self.room.openables
                 if o.type == type_name and self._visible(o.instance_id)
                 and self._distance(o.name) <= INTERACT_DISTANCE]
        if self.config.open_mode == "goal":     # 2021/2022: only parts not at their goal
            state = self.world.state.openness           # type: ignore[union-attr]
            found = [o for o in found if abs(state[o.name] - self.goal_state.openness[o.name])
                     > OPENNESS_THRESHOLD]
        if not found:
            return False
        if self.config.open_mode == "toggle":
            part = min(found, key=lambda o: self._priority[o.name]).name
            values = self._toggles[part]
            target = values[0]
            values.reverse()                    # the next call toggles back
        else:
            part = min(found, key=lambda o: (self._distance(o.name), o.name)).name
            target = self.goal_state.openness[part]
        before = self.world.state.openness[part]    # type: ignore[union-attr]
        self.world.set_openness(part, target)
        if self.world.openable_collides(part) or self.world.agent_collides(self.position):
            self.world.set_openness(part, before)
            return False
        return True

    def _drop(self) -> bool:
        """drop_held_object_with_snap (see the module docstring): True only for a snap."""
        name = self.world.state.held                   # type: ignore[union-attr]
        if name is None:
            return False
        goal = self.goal_state.poses[name]
        if self._goal_in_reach(name, goal):
            self.world.set_pose(name, goal)
            if not (self.world.pickupable_collides(name)
                    or self.world.agent_collides(self.position)):
                return True
            self.world.hold(name)
        self._put_down(name)
        return False

    def _goal_in_reach(self, name: str, goal: tuple[float, ...]) -> bool:
        """The goal box is within 1.5 m and in view in the last frame (see the docstring)."""
        c = self.world.corners(name, goal)
        lo, hi = c.min(0), c.max(0)
        if distances_2d(self.position, lo, hi)[0] > INTERACT_DISTANCE:
            return False
        centre = c.mean(0)
        points = np.vstack([centre, centre + SNAP_SHRINK * (c - centre)])
        u, v, z = self.world.project(points, self.position[0], self.position[1], self.yaw,
                                     self.pitch)
        col, row = np.round(u).astype(int), np.round(v).astype(int)
        h, w = self.config.height, self.config.width
        inside = (z > self.world.scene.near) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        if not inside.any():
            return False
        depth = self._frame["depth"]
        seen = depth[row[inside], col[inside]] >= z[inside] - DEPTH_TOLERANCE
        return bool(seen.any())

    def _put_down(self, name: str) -> bool:
        """Put the held object on the nearest visible receptacle (then the floor) within reach,
        upright with its held yaw, near where the camera's central ray meets it."""
        q = self.room.pickupable(name)
        yaw = self.world.state.poses[name][3]          # type: ignore[union-attr]
        local = self.world.corners(name, (0.0, 0.0, 0.0, yaw))
        lo, hi = local.min(0), local.max(0)
        surfaces = []
        for r in self.room.receptacles:
            if r.clearance < q.height + 0.01 or not self._visible(r.owner):
                continue
            d = float(distances_2d(self.position, np.array(r.rect[:2]), np.array(r.rect[2:]))[0])
            if d <= INTERACT_DISTANCE:
                surfaces.append((d, r.owner, r.rect, r.z))
        surfaces.sort()
        floor = [o.instance_id for o in self.room.house.objects if o.category == "Floor"]
        if any(self._visible(i) for i in floor):
            surfaces.append((0.0, floor[0], self.room.bounds, 0.0))
        for _, _, rect, z in surfaces:
            for x, y in self._spots(rect, z, lo, hi):
                self.world.set_pose(name, (x, y, z, yaw))
                if not (self.world.pickupable_collides(name)
                        or self.world.agent_collides(self.position)):
                    return True
            self.world.hold(name)
        return False

    def _spots(self, rect: tuple[float, ...], z: float, lo: np.ndarray, hi: np.ndarray,
               limit: int = 48) -> list[tuple[float, float]]:
        """Candidate object positions on a rectangle at height z, nearest first to where the
        camera's central ray meets its plane (or to the agent, if the ray does not)."""
        x0, y0, x1, y1 = rect[0] - lo[0] + 0.01, rect[1] - lo[1] + 0.01, \
            rect[2] - hi[0] - 0.01, rect[3] - hi[1] - 0.01
        if x1 < x0 or y1 < y0:
            return []
        cam = self.world.camera_position(*self.position)
        ray = np.array([math.cos(self.pitch) * math.cos(self.yaw),
                        math.cos(self.pitch) * math.sin(self.yaw), math.sin(self.pitch)])
        if ray[2] < -1e-6:
            aim = cam[:2] + ray[:2] * (z - cam[2]) / ray[2]
        else:
            aim = cam[:2] + ray[:2] * 0.5
        aim = np.clip(aim, [x0, y0], [x1, y1])
        offsets = np.array([(dx, dy) for dx in np.arange(-0.6, 0.61, 0.05)
                            for dy in np.arange(-0.6, 0.61, 0.05)])
        cand = aim + offsets
        ok = (cand[:, 0] >= x0) & (cand[:, 0] <= x1) & (cand[:, 1] >= y0) & (cand[:, 1] <= y1)
        cand = cand[ok]
        gap = np.maximum(np.maximum(cand + lo[:2] - self.position, self.position - cand - hi[:2]),
                         0.0)
        cand = cand[np.hypot(gap[:, 0], gap[:, 1]) <= INTERACT_DISTANCE]
        order = np.argsort(np.hypot(*(cand - aim).T), kind="stable")
        return [(round(float(a), 4), round(float(b), 4)) for a, b in cand[order][:limit]]

    # ----------------------------------------------------------------------------- observing
    def _observe(self) -> dict[str, Any]:
        frame = self.world.render(self.position[0], self.position[1], self.yaw, self.pitch)
        self._frame = frame
        self._counts = np.bincount(frame["instance"].ravel(),
                                   minlength=len(self._semantic_lut))
        held = self.world.state.held                   # type: ignore[union-attr]
        held_index = -1 if held is None else \
            REARRANGE_PICKUPABLE_TYPES.index(self.room.pickupable(held).type)
        obs: dict[str, Any] = {
            "rgb": frame["rgb"].copy(),     # the frame stays the env's (render, snap test)
            "depth": frame["depth"][..., None].astype(np.float32),
            "pose": self._relative_pose(),
            "held": np.int64(held_index),
            "phase": np.int64(self.phase),
        }
        if self.privileged:
            instance = frame["instance"].astype(np.int32)
            obs["instance"] = instance
            obs["semantic"] = self._semantic_lut[instance]
            obs["boxes"] = self._boxes(instance)
        return obs

    def _boxes(self, instance: np.ndarray) -> np.ndarray:
        """(MAX_BOXES, 6) int32 rows (id, category, x0, y0, x1, y1) of visible objects."""
        out = np.full((MAX_BOXES, 6), -1, dtype=np.int32)
        k = 0
        for iid in self._detectable:
            if k == MAX_BOXES or not self._visible(int(iid)):
                continue
            mask = instance == iid
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            out[k] = (iid, self._semantic_lut[iid], cols[0], rows[0], cols[-1], rows[-1])
            k += 1
        return out

    def _relative_pose(self) -> np.ndarray:
        """GPS+compass: position and heading in the frame of the start pose, and the pitch."""
        x0, y0, yaw0 = self.start
        dx, dy = self.position[0] - x0, self.position[1] - y0
        c, s = math.cos(-yaw0), math.sin(-yaw0)
        return np.array([c * dx - s * dy, s * dx + c * dy, wrap_angle(self.yaw - yaw0), self.pitch],
                        dtype=np.float32)

    def _hand(self) -> tuple[float, float, float, float] | None:
        """Where a held object counts as being: in front of the agent (see the docstring)."""
        held = self.world.state.held                   # type: ignore[union-attr]
        if held is None:
            return None
        yaw = self.world.state.poses[held][3]          # type: ignore[union-attr]
        return (float(self.position[0] + HAND_OFFSET * math.cos(self.yaw)),
                float(self.position[1] + HAND_OFFSET * math.sin(self.yaw)), HAND_HEIGHT, yaw)

    def current_poses(self) -> dict[str, dict[str, Any]]:
        """Every rearrangeable object's pose record now (fresh copies)."""
        return self.world.poses(self._hand())

    def _metrics(self) -> dict[str, Any]:
        """The challenge's unshuffle metrics over every object, from `embodied.metrics`."""
        assert self.unshuffle_start_poses is not None
        names = self.room.object_names
        now = self.current_poses()
        start = [metrics.pose_energy(self.goal_poses[n], self.unshuffle_start_poses[n])
                 for n in names]
        end = [metrics.pose_energy(self.goal_poses[n], now[n]) for n in names]
        out = {k: _plain(v) for k, v in metrics.rearrangement_metrics(start, end).items()}
        out.update(steps=self.steps, walkthrough_steps=self.walkthrough_steps,
                   unshuffle_steps=self.phase_steps,
                   held_at_end=self.world.state.held is not None)   # type: ignore[union-attr]
        return out

    def _privileged_info(self) -> dict[str, Any]:
        """What oracles may read (all copies: nothing an agent writes reaches the env)."""
        room = self.room
        instances = {q.instance_id: {"name": q.name, "type": q.type} for q in room.pickupables}
        instances.update({o.instance_id: {"name": o.name, "type": o.type}
                          for o in room.openables})
        return {
            "goal_poses": copy.deepcopy(self.goal_poses),
            "unshuffle_start_poses": copy.deepcopy(self.unshuffle_start_poses),
            "current_poses": self.current_poses(),
            "agent_world": (float(self.position[0]), float(self.position[1]), float(self.yaw),
                            float(self.pitch)),
            "start_world": tuple(self.start),
            "held": self.world.state.held,            # type: ignore[union-attr]
            "instances": instances,
            "changes": copy.deepcopy(self.episode["changes"]),   # type: ignore[index]
            "room_bounds": tuple(room.bounds),
            "step_size": STEP_SIZE,
            "interact_distance": INTERACT_DISTANCE,
            "min_visible_pixels": int(self.config.min_visible_pixels),
            "lattice": {k: (v.copy() if isinstance(v, np.ndarray) else v)
                        for k, v in self._lattice().items()},
        }

    def _lattice(self) -> dict[str, Any]:
        """The move lattice of the current state (see the module docstring), cached per state:
        every lattice point in the room tested with the agent's cylinder, every move between
        two free neighbours with `try_move` (which checks the target and points along the way,
        so a move and its reverse get the same answer)."""
        state = self.world.state
        assert state is not None
        key = (self.room.seed, self.start, tuple(sorted(state.poses.items())),
               tuple(sorted(state.openness.items())), state.held)
        if self._lattice_cache is not None and self._lattice_cache[0] == key:
            return self._lattice_cache[1]
        x0, y0, _ = self.start
        bx0, by0, bx1, by1 = self.room.bounds
        i0, j0 = math.floor((x0 - bx0) / STEP_SIZE), math.floor((y0 - by0) / STEP_SIZE)
        origin = (x0 - i0 * STEP_SIZE, y0 - j0 * STEP_SIZE)
        nx = i0 + math.floor((bx1 - x0) / STEP_SIZE) + 1
        ny = j0 + math.floor((by1 - y0) / STEP_SIZE) + 1
        points = np.stack(np.meshgrid(origin[0] + STEP_SIZE * np.arange(nx),
                                      origin[1] + STEP_SIZE * np.arange(ny), indexing="ij"), -1)
        free = np.array([[not self.world.agent_collides(points[i, j]) for j in range(ny)]
                         for i in range(nx)], dtype=bool)
        passable = np.zeros((nx, ny, 2), dtype=bool)
        for i, j in np.argwhere(free):
            for axis, (a, b) in enumerate(((i + 1, j), (i, j + 1))):
                if a < nx and b < ny and free[a, b]:
                    passable[i, j, axis] = self.world.try_move(points[i, j], points[a, b])
        value = {"origin": origin, "step": STEP_SIZE, "free": free, "passable": passable}
        self._lattice_cache = (key, value)
        return value
