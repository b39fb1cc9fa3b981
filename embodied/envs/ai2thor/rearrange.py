"""iTHOR two-phase room rearrangement on AI2-THOR: `embodied/Rearrange-iTHOR-v0`.

The AI2-THOR Rearrangement challenge (allenai/ai2thor-rearrangement; Weihs et al. 2021, "Visual
Room Rearrangement") as the framework's two-phase task, so that the agents written for the
embedded task (`embodied/Rearrange-PyBullet-v0`: `noop`, `rearrange_oracle`, `csr`, `csr_paper`)
run here with the same code: the same kind of action list (`embodied.interfaces.
rearrange_action_names`, named in `info["actions"]`), the same observation keys, the same
reset/step infos and the same metrics functions
(`embodied.metrics.pose_energy`, `rearrangement_metrics`).

Episodes: the challenge's own dataset files (`rearrange_episodes`; env.split names a split in
env.dataset_dir or a file), one task spec each: the scene, the agent's start, every pickupable's
goal and unshuffle-start pose, the openness of the parts that differ. Or `split: fake` with
`controller: fake`: the fake controller's built-in tasks (tests; see `rearrange_fake`).

One Gymnasium episode covers both phases, as on PyBullet:

1. **Walkthrough** (at most `walkthrough_steps` = 250): the scene reset, the agent teleported to
   the task's start (rotation rounded to a multiple of 90 deg: the challenge's
   FORCE_AXIS_ALIGNED_START; horizon 0, standing), the parts of `openable_data` opened to their
   `target_openness`, the pickupables put at their `target_poses` (SetObjectPoses, the
   challenge's keywords). `done` or the step limit switches to:
2. **Unshuffle** (at most `unshuffle_steps` = 500): the agent back at its start, the parts at
   their `start_openness`, the pickupables at their `starting_poses`; the observation returned by
   the switching step is the unshuffle's first (`info["phase_switched"]`). `done` terminates, the
   limit truncates; `info["metrics"]` then scores every object the challenge scores (openable, or
   with an oriented box) by its pose energy against the walkthrough's pose, at the unshuffle's
   start and at its end (`rearrangement_metrics`: success, fixed, fixed_strict, misplaced,
   energy_remaining, ...). An object missing at the end (broken into pieces) counts as broken.

Actions (THOR calls and the challenge's target rules in `rearrange_actions`): `env.action_set:
challenge` (the default) is the challenge's action space without stand/crouch -- navigation,
`drop_held_object_with_snap`, one `open_by_type_<type>` per openable type (10) and one
`pickup_<type>` per pickupable type (62), `Discrete(82)`, in the challenge's order
(`interfaces.ITHOR_PICKUPABLE_TYPES` / `ITHOR_OPENABLE_TYPES`); `embedded` is the embedded
task's 23 (its 9 pickupable and 4 openable types). Agents find actions by name in
`info["actions"]` and types in `info["pickupable_types"]` / `info["openable_types"]`.
`info["metrics"]["unaddressable"]` counts the initially misplaced objects whose type has no action
in the set (0 with the challenge's, except for types it does not score either).

Observations, as on PyBullet: `rgb` (H, W, 3) uint8, `depth` (H, W, 1) float32 z-depth in metres
(clipped to THOR's 20 m far plane), `pose` (4,) = x, y, yaw relative to the start pose and camera
pitch (up positive), `held` (index into `info["pickupable_types"]`, -1 empty), `phase`. With
`privileged=True`: `instance` (H, W) int32 (object k of the scene's objects sorted by name is
k + 1; 0 nothing), `semantic` (H, W) int32 (ids in `info["categories"]`: the scene's types sorted,
0 background), `boxes` (32, 6) int32 rows (instance id, category id, x0, y0, x1, y1 inclusive) of
the pickupables and openables with pixels in the frame; and `info["privileged"]` in the PyBullet
env's layout (goal / unshuffle-start / current pose records, the episode's changes, the move
lattice from GetReachablePositions, ...), which the rearrangement oracle plans on.

Frames. THOR's (x, y, z) is left-handed with y up; the framework's world is (X, Y, Z) = (x, z,
y - floor) (`controller.thor_to_world`), right-handed, z up. Pose records (`pose_record`) are in
that frame: position, rotation as a quaternion (x, y, z, w), the oriented box's 8 corners, openness,
pickupable, broken -- what `metrics.pose_energy` reads. Energies do not depend on the frame
(distances and overlaps are the same), so the numbers are THOR's.

Honest limits: the Unity player needs a GPU (CloudRendering) or an X display (Linux64) and its
build in ~/.ai2thor/releases; `check_thor_available` (the backend core's) says what is missing and
how to fix it before an episode starts. Without the `ai2thor` package the error names the extra
(`pip install -e .[thor]`). Everything this module does with a real player is unverified on this
project's machines (no GPU there); the tests drive it with `rearrange_fake`, which returns real
`ai2thor.server.Event`s but simulates boxes, not THOR.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied import metrics
from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs.ai2thor import rearrange_actions as actions_lib
from embodied.envs.ai2thor import rearrange_episodes as episodes_lib
from embodied.envs.ai2thor.controller import (THOR_EXTRA, ThorSettings, agent_pose,
                                              camera_intrinsics, check_thor_available,
                                              event_observation, floor_height, make_controller,
                                              object_categories)
from embodied.envs.rearrange_contract import MAX_BOXES, observation_space, phase_step
from embodied.interfaces import (ITHOR_OPENABLE_TYPES, ITHOR_PICKUPABLE_TYPES, REARRANGE_OPENABLE_TYPES,
                                 REARRANGE_PHASES, REARRANGE_PICKUPABLE_TYPES, rearrange_action_names)

__all__ = ["ENV_ID", "IthorRearrangeConfig", "IthorRearrangeEnv", "challenge_thor_settings",
           "pose_record", "thor_quaternion", "CONTROLLERS"]

ENV_ID = "embodied/Rearrange-iTHOR-v0"
#: env.action_set -> (pickupable types, openable types)
ACTION_SETS = {"challenge": (ITHOR_PICKUPABLE_TYPES, ITHOR_OPENABLE_TYPES),
               "embedded": (REARRANGE_PICKUPABLE_TYPES, REARRANGE_OPENABLE_TYPES)}
PHASES = REARRANGE_PHASES
FAR = 20.0                     # THOR's far clipping plane (m)
STEP_SIZE = 0.25
#: env.controller values besides an import path `module:callable`
CONTROLLERS = ("ai2thor", "fake")


def challenge_thor_settings() -> ThorSettings:
    """The challenge's player settings (rearrange_base.py: THOR_CONTROLLER_KWARGS, FOV 90 from
    rearrange/constants.py, `visibilityDistance` THOR's default 1.5 m for the iTHOR agent): 224 x 224,
    fieldOfView 90 (vertical = horizontal at a square image), gridSize 0.25, rotateStepDegrees 90,
    30 deg looks, snapToGrid, the default (iTHOR) agent."""
    return ThorSettings(width=224, height=224, field_of_view=90.0, grid_size=STEP_SIZE,
                        rotate_step_degrees=90.0, horizon_step_degrees=30.0,
                        visibility_distance=1.5, agent_mode="default", snap_to_grid=True)


@dataclass
class IthorRearrangeConfig(EnvConfig):
    """Settings of the iTHOR two-phase rearrangement task (the challenge's defaults).

    `split`: a split name (train, val, test, combined, train_unseen) found in `dataset_dir`
    (default $EMBODIED_ITHOR_REARRANGE_DATA or ~/.cache/embodied/ai2thor-rearrangement/2023), a
    dataset file, or `fake` (the fake controller's tasks). `controller`: `ai2thor` (the Unity
    player, `thor` settings), `fake` (rearrange_fake: tests, no simulator) or `module:callable`
    (called with the THOR settings, returns a Controller-like object). `width`/`height` override
    `thor.width`/`thor.height`. `quality`: THOR's render quality (the challenge: "Very Low").
    """

    id: str = ENV_ID
    split: str = "val"
    dataset_dir: str | None = None
    width: int = 224
    height: int = 224
    walkthrough_steps: int = 250
    unshuffle_steps: int = 500
    #: "goal": open_by_type sets the goal openness (2021/2022); "toggle": the 2023 rule
    open_mode: str = "goal"
    #: "challenge": the challenge's pickup/open types (62 + 10, interfaces.ITHOR_*_TYPES);
    #: "embedded": the embedded task's (9 + 4, REARRANGE_ACTION_NAMES)
    action_set: str = "challenge"
    controller: str = "ai2thor"
    quality: str = "Very Low"
    thor: ThorSettings = field(default_factory=challenge_thor_settings)

    def __post_init__(self) -> None:
        for name in ("width", "height", "walkthrough_steps", "unshuffle_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) <= 0:
                raise ConfigError(f"got {getattr(self, name)!r}, expected a positive integer",
                                  key=name)
        if self.action_set not in ACTION_SETS:
            raise ConfigError(f"got {self.action_set!r}, expected challenge (the challenge's 62 "
                              "pickupable and 10 openable types) or embedded (the embedded task's 9 + 4)",
                              key="action_set")
        if self.open_mode not in ("goal", "toggle"):
            raise ConfigError(f"got {self.open_mode!r}, expected goal (2021/2022 rule) or toggle "
                              "(2023 rule)", key="open_mode")
        if self.controller not in CONTROLLERS and ":" not in self.controller:
            raise ConfigError(f"got {self.controller!r}, expected ai2thor, fake or an import path "
                              "module:callable", key="controller")
        if self.split == "fake" and self.controller != "fake":
            raise ConfigError("split fake is the fake controller's built-in tasks: use it with "
                              "controller: fake", key="split")

    def settings(self) -> ThorSettings:
        """The player settings this env starts THOR with (width/height from the env's)."""
        return dataclasses.replace(self.thor, width=self.width, height=self.height)


# ----------------------------------------------------------------------------------- frames
def _euler_matrix(rotation: dict[str, float]) -> np.ndarray:
    """Unity's Euler angles (deg; applied z, then x, then y) as a matrix in THOR's frame."""
    x, y, z = (math.radians(float(rotation.get(k, 0.0))) for k in ("x", "y", "z"))
    cx, sx, cy, sy, cz, sz = math.cos(x), math.sin(x), math.cos(y), math.sin(y), math.cos(z), math.sin(z)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return ry @ rx @ rz


_SWAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])   # (x, y, z) <-> (x, z, y)


def _quaternion(m: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix (Shepperd's method, w >= 0)."""
    t = float(np.trace(m))
    if t > 0:
        s = 2.0 * math.sqrt(1.0 + t)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1.0 + m[i, i] - m[j, j] - m[k, k], 1e-12))
        v = [0.0, 0.0, 0.0]
        v[i] = 0.25 * s
        v[j] = (m[j, i] + m[i, j]) / s
        v[k] = (m[k, i] + m[i, k]) / s
        q = (v[0], v[1], v[2], (m[k, j] - m[j, k]) / s)
    q = np.asarray(q, dtype=float)
    q = q / np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return tuple(float(v) for v in q)          # type: ignore[return-value]


def thor_quaternion(rotation: dict[str, float]) -> tuple[float, float, float, float]:
    """THOR's Euler rotation as a quaternion in the framework's frame (X, Y, Z) = (x, z, y): the
    same rotation seen through the axis swap (P R P, a proper rotation)."""
    return _quaternion(_SWAP @ _euler_matrix(rotation) @ _SWAP)


def _world(p: Any, floor: float) -> tuple[float, float, float]:
    if isinstance(p, dict):
        return float(p["x"]), float(p["z"]), float(p["y"]) - floor
    x, y, z = (float(v) for v in p)
    return x, z, y - floor


def pose_record(obj: dict[str, Any], floor: float = 0.0) -> dict[str, Any]:
    """An object's pose record in the framework's frame, from THOR metadata (what the
    challenge's `extract_obj_data` reads: openness only for openables, the oriented box's corners
    or None, `isBroken`)."""
    box = obj.get("objectOrientedBoundingBox")
    corners = None
    if box and box.get("cornerPoints"):
        corners = np.array([_world(c, floor) for c in box["cornerPoints"]], dtype=float)
    return {"name": str(obj["name"]), "type": str(obj["objectType"]),
            "position": _world(obj["position"], floor),
            "rotation": thor_quaternion(obj["rotation"]),
            "bounding_box": corners,
            "openness": float(obj["openness"]) if obj.get("openable") else None,
            "pickupable": bool(obj.get("pickupable")), "broken": bool(obj.get("isBroken"))}


def _scored(obj: dict[str, Any]) -> bool:
    """The objects the challenge scores: openable, or with an oriented box (movable)."""
    return bool(obj.get("openable")) or obj.get("objectOrientedBoundingBox") is not None


def _broken_record(goal: dict[str, Any]) -> dict[str, Any]:
    return {**goal, "broken": True, "bounding_box": None, "openness": None}


def _addressable(record: dict[str, Any], pickupable: tuple[str, ...], openable: tuple[str, ...]) -> bool:
    """Can the env's actions fix this object? (a pickup or open_by_type action exists)"""
    if record["pickupable"]:
        return record["type"] in pickupable
    return record["type"] in openable


# ----------------------------------------------------------------------------------- the env
class IthorRearrangeEnv(gym.Env):
    """Walk through an iTHOR room, then put back what was moved or opened (module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: IthorRearrangeConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, controller_factory: Callable[..., Any] | None = None,
                 **overrides: Any) -> None:
        config = with_overrides(config or IthorRearrangeConfig(), overrides, "IthorRearrangeEnv")
        self.config = config
        self.render_mode = render_mode
        self.privileged = bool(privileged)
        self.settings = config.settings()
        self._factory = controller_factory or self._factory_for(config)
        self._controller: Any = None
        self.pickupable, self.openable = ACTION_SETS[config.action_set]
        self.actions = rearrange_action_names(self.pickupable, self.openable)
        self.action_space = spaces.Discrete(len(self.actions))
        self.observation_space = observation_space(config.height, config.width, FAR, self.privileged,
                                                   pickupable=len(self.pickupable))
        self.episode: dict[str, Any] | None = None
        self.done = False
        self._episodes: list[dict[str, Any]] | None = None
        self._rgb: np.ndarray | None = None
        self._lattice_cache: tuple[Any, dict[str, Any]] | None = None

    # ------------------------------------------------------------------------------ controller
    def _factory_for(self, config: IthorRearrangeConfig) -> Callable[[ThorSettings], Any]:
        """How controllers are made. For the real player the checks run here, at construction:
        a missing package, build, GPU or display fails before any episode (ThorUnavailable)."""
        if config.controller == "fake":
            from embodied.envs.ai2thor import rearrange_fake

            def fake(s: ThorSettings) -> Any:
                return rearrange_fake.FakeRearrangeController(
                    width=s.width, height=s.height, fieldOfView=s.field_of_view,
                    gridSize=s.grid_size, rotateStepDegrees=s.rotate_step_degrees,
                    visibilityDistance=s.visibility_distance)
            return fake
        if config.controller == "ai2thor":
            check_thor_available(self.settings)
            quality = config.quality
            return lambda s: make_controller(s, quality=quality, fastActionEmit=True)
        module, _, name = config.controller.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import {config.controller!r} ({exc})", key="controller") from None

    def controller(self) -> Any:
        """The controller, started on first use."""
        if self._controller is None:
            try:
                self._controller = self._factory(self.settings)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("ai2thor"):
                    raise ConfigError(f"the ai2thor package is not installed (install the extra: "
                                      f"{THOR_EXTRA})", key="env.controller") from None
                raise
        return self._controller

    def _step(self, action: str, **kwargs: Any) -> Any:
        return self.controller().step(action=action, **kwargs)

    # ------------------------------------------------------------------------------ episodes
    def episodes(self) -> list[dict[str, Any]]:
        """The tasks `env.split` names (cached)."""
        if self._episodes is None:
            self._episodes = list_ithor_episodes(self.config, limit=False)
        return self._episodes

    def _default_episode(self) -> dict[str, Any]:
        tasks = self.episodes()
        return tasks[int(self.np_random.integers(len(tasks)))]

    # ------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Set up the task's walkthrough state (options["episode"], else one of the split drawn
        with the env's RNG) and return its first observation."""
        super().reset(seed=seed)
        spec = (options or {}).get("episode") or self._default_episode()
        self.episode = copy.deepcopy(spec)
        ctrl = self.controller()
        ctrl.reset(scene=spec["scene"])
        self._step("PausePhysicsAutoSim")
        rotation = (round(float(spec["agent_rotation"]) / 90.0) * 90) % 360
        self._start_rotation = rotation
        self._set_state(spec, "target")
        event = ctrl.last_event
        md = event.metadata
        self.floor = floor_height(md)
        self.start = agent_pose(md)[:3]
        camera_y = float(md["cameraPosition"]["y"]) if md.get("cameraPosition") else \
            float(md["agent"]["position"]["y"]) + 0.675
        self.camera = camera_intrinsics(self.settings, camera_y - self.floor, FAR)
        objects = sorted(md["objects"], key=lambda o: str(o["name"]))
        self.ids = {str(o["name"]): k + 1 for k, o in enumerate(objects)}
        self.types = {str(o["name"]): str(o["objectType"]) for o in objects}
        self.categories = object_categories(event)
        self.goal_thor = {str(o["name"]): {"position": dict(o["position"]),
                                           "rotation": dict(o["rotation"])}
                          for o in objects if _scored(o)}
        self.goal_poses = {str(o["name"]): pose_record(o, self.floor) for o in objects if _scored(o)}
        self.goal_openness = {n: r["openness"] for n, r in self.goal_poses.items()
                              if r["openness"] is not None}
        self._detectable = sorted(self.ids[str(o["name"])] for o in objects
                                  if o.get("pickupable") or o.get("openable"))
        self.phase = 0
        self.steps = self.phase_steps = self.walkthrough_steps = 0
        self.done = False
        self.unshuffle_start_poses: dict[str, dict[str, Any]] | None = None
        self._toggles: dict[str, list[float]] = {}
        self._priority: dict[str, int] = {}
        self._lattice_cache = None
        self.changes, self.unaddressable_changes = self._changes(spec)
        obs = self._observe()
        info: dict[str, Any] = {
            "episode_id": spec["episode_id"],
            "scene": spec["scene"],
            "phase": PHASES[0],
            "steps": 0,
            "phase_steps": 0,
            "actions": self.actions,
            "max_steps": {"walkthrough": self.config.walkthrough_steps,
                          "unshuffle": self.config.unshuffle_steps},
            "camera": dict(self.camera),
            "renderer": "ai2thor" if self.config.controller == "ai2thor" else self.config.controller,
            "categories": dict(self.categories),
            "pickupable_types": self.pickupable,
            "openable_types": self.openable,
            "open_mode": self.config.open_mode,
        }
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """One action (module docstring). Reward is always 0: `info["metrics"]` scores the end."""
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        name = self.actions[self._action_index(action)]
        self.steps += 1
        self.phase_steps += 1
        success = actions_lib.execute(
            self.controller(), name, self.phase, mode=self.config.open_mode,
            goal_openness=self.goal_openness, toggles=self._toggles, priority=self._priority,
            goal_pose=self.goal_thor.get, at_goal=self._at_goal)
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
            info["record"] = {"scene": str(self.episode["scene"]),
                              "changes": len(self.changes) + len(self.unaddressable_changes),
                              "renderer": info.get("renderer", self.config.controller)}
        if self.privileged:
            info["privileged"] = self._privileged_info()
        return obs, 0.0, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self._rgb is None:
            return None
        return self._rgb.copy()

    def close(self) -> None:
        if self._controller is not None:
            try:
                self._controller.stop()
            finally:
                self._controller = None

    # ------------------------------------------------------------------------------ phases
    def _set_state(self, spec: dict[str, Any], which: str) -> None:
        """Agent at the start; openables of the task at `<which>_openness`; pickupables at the
        `target_poses` (which = target) or `starting_poses` (which = start) -- the challenge's
        `_task_spec_reset` / `_task_spec_shuffle`, without reloading the scene in between."""
        p = spec["agent_position"]
        self._step("TeleportFull", x=p["x"], y=p["y"], z=p["z"],
                   rotation={"x": 0, "y": self._start_rotation, "z": 0}, horizon=0.0,
                   standing=True, forceAction=True)
        by_name = {str(o["name"]): o for o in self.controller().last_event.metadata["objects"]}
        for entry in spec["openable_data"]:
            obj = by_name.get(str(entry["name"]))
            if obj is None:
                raise RuntimeError(f"task {spec['episode_id']}: no object {entry['name']!r} in "
                                   f"scene {spec['scene']!r} (a dataset of another THOR version?)")
            self._step("OpenObject", objectId=obj["objectId"],
                       openness=float(entry[f"{which}_openness"]), forceAction=True,
                       **actions_lib.PHYSICS_KWARGS)
        poses = spec["target_poses"] if which == "target" else spec["starting_poses"]
        event = self._step("SetObjectPoses", objectPoses=copy.deepcopy(poses),
                           placeStationary=False, enablePhysicsJitter=True,
                           forceRigidbodySleep=True, skipMoveable=True)
        if not event.metadata["lastActionSuccess"]:
            raise RuntimeError(f"task {spec['episode_id']}: SetObjectPoses failed "
                               f"({event.metadata.get('errorMessage')})")

    def _start_unshuffle(self) -> None:
        self.walkthrough_steps = self.steps
        self.phase, self.phase_steps = 1, 0
        assert self.episode is not None
        self._set_state(self.episode, "start")
        self.unshuffle_start_poses = self.current_poses()
        self._lattice_cache = None
        if self.config.open_mode == "toggle":
            start = {n: r["openness"] for n, r in self.unshuffle_start_poses.items()
                     if r["openness"] is not None}
            self._toggles, self._priority = actions_lib.toggle_schedule(
                start, self.goal_openness, str(self.episode["episode_id"]))

    def _changes(self, spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The task's differences between the phases in the PyBullet env's format ({"name",
        "kind": "move", "pose": [x, y, z, yaw]} | {"name", "kind": "open", "openness"}), split
        into those the framework's actions can fix and the rest."""
        target = {str(p["name"]): p for p in spec["target_poses"]}
        out: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for p in spec["starting_poses"]:
            name = str(p["name"])
            goal = target.get(name)
            if goal is None or name not in self.goal_poses:
                continue
            if goal["position"] == p["position"] and goal["rotation"] == p["rotation"]:
                continue
            q = thor_quaternion(p["rotation"])
            change = {"name": name, "kind": "move",
                      "pose": [*_world(p["position"], self.floor), 2.0 * math.atan2(q[2], q[3])]}
            out[0 if self._fixable(name) else 1].append(change)
        for entry in spec["openable_data"]:
            name = str(entry["name"])
            if name not in self.goal_poses or entry["start_openness"] == entry["target_openness"]:
                continue
            change = {"name": name, "kind": "open", "openness": float(entry["start_openness"])}
            out[0 if self._fixable(name) else 1].append(change)
        return out

    def _fixable(self, name: str) -> bool:
        return _addressable(self.goal_poses[name], self.pickupable, self.openable)

    # ------------------------------------------------------------------------------ actions
    def _action_index(self, action: Any) -> int:
        try:
            value = float(action)
        except (TypeError, ValueError):
            raise ValueError(f"action {action!r} is not one of 0..{len(self.actions) - 1}") from None
        if not math.isfinite(value) or value != int(value) or not 0 <= value < len(self.actions):
            raise ValueError(f"action {action!r} is not one of 0..{len(self.actions) - 1} "
                             "(names in info['actions'])")
        return int(value)

    def _at_goal(self, obj: dict[str, Any]) -> bool:
        goal = self.goal_poses.get(str(obj["name"]))
        return goal is not None and metrics.pose_energy(goal, pose_record(obj, self.floor)) == 0.0

    # ------------------------------------------------------------------------------ observing
    def _observe(self) -> dict[str, Any]:
        event = self.controller().last_event
        base = event_observation(event, self.start, far=FAR)
        self._rgb = base["rgb"]
        inventory = event.metadata.get("inventoryObjects") or []
        held_type = str(inventory[0]["objectType"]) if inventory else None
        obs: dict[str, Any] = {
            "rgb": base["rgb"].copy(),
            "depth": base["depth"],
            "pose": base["pose"],
            "held": np.int64(self.pickupable.index(held_type) if held_type in self.pickupable else -1),
            "phase": np.int64(self.phase),
        }
        if self.privileged:
            instance, semantic = self._masks(event)
            obs["instance"] = instance
            obs["semantic"] = semantic
            obs["boxes"] = self._boxes(instance, semantic)
        return obs

    def _masks(self, event: Any) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.config.height, self.config.width
        instance = np.zeros((h, w), np.int32)
        semantic = np.zeros((h, w), np.int32)
        masks = event.instance_masks or {}
        for obj in event.metadata["objects"]:
            mask = masks.get(obj["objectId"]) if hasattr(masks, "get") else None
            name = str(obj["name"])
            if mask is None or name not in self.ids:
                continue
            instance[mask] = self.ids[name]
            semantic[mask] = self.categories.get(str(obj["objectType"]), 0)
        return instance, semantic

    def _boxes(self, instance: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        out = np.full((MAX_BOXES, 6), -1, dtype=np.int32)
        k = 0
        for iid in self._detectable:
            if k == MAX_BOXES:
                break
            mask = instance == iid
            if not mask.any():
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            out[k] = (iid, semantic[mask][0], cols[0], rows[0], cols[-1], rows[-1])
            k += 1
        return out

    # ------------------------------------------------------------------------------ scoring
    def current_poses(self) -> dict[str, dict[str, Any]]:
        """Every scored object's pose record now (a missing one counts as broken)."""
        now = {str(o["name"]): o for o in self.controller().last_event.metadata["objects"]}
        return {n: (pose_record(now[n], self.floor) if n in now else _broken_record(g))
                for n, g in self.goal_poses.items()}

    def _metrics(self) -> dict[str, Any]:
        assert self.unshuffle_start_poses is not None
        now = self.current_poses()
        names = list(self.goal_poses)
        start = [metrics.pose_energy(self.goal_poses[n], self.unshuffle_start_poses[n]) for n in names]
        end = [metrics.pose_energy(self.goal_poses[n], now[n]) for n in names]
        out: dict[str, Any] = dict(metrics.rearrangement_metrics(start, end))
        out["unaddressable"] = float(sum(1 for n, e in zip(names, start)
                                         if e > 0 and not self._fixable(n)))
        inventory = self.controller().last_event.metadata.get("inventoryObjects") or []
        out.update(steps=self.steps, walkthrough_steps=self.walkthrough_steps,
                   unshuffle_steps=self.phase_steps, held_at_end=bool(inventory))
        return out

    # ------------------------------------------------------------------------------ privileged
    def _privileged_info(self) -> dict[str, Any]:
        md = self.controller().last_event.metadata
        inventory = md.get("inventoryObjects") or []
        held_id = inventory[0]["objectId"] if inventory else None
        held = next((str(o["name"]) for o in md["objects"] if o["objectId"] == held_id), None)
        x, y, yaw, pitch = agent_pose(md)
        lattice = self._lattice()
        instances = {self.ids[n]: {"name": n, "type": self.types[n]} for n in self.goal_poses
                     if n in self.ids and (self.goal_poses[n]["pickupable"]
                                           or self.goal_poses[n]["openness"] is not None)}
        return {
            "goal_poses": copy.deepcopy(self.goal_poses),
            "unshuffle_start_poses": copy.deepcopy(self.unshuffle_start_poses),
            "current_poses": self.current_poses(),
            "agent_world": (x, y, yaw, pitch),
            "start_world": tuple(self.start),
            "held": held,
            "instances": instances,
            "changes": copy.deepcopy(self.changes),
            "unaddressable_changes": copy.deepcopy(self.unaddressable_changes),
            "room_bounds": lattice["bounds"],
            "step_size": STEP_SIZE,
            "interact_distance": float(self.settings.visibility_distance),
            "min_visible_pixels": 1,
            "lattice": {k: (v.copy() if isinstance(v, np.ndarray) else v)
                        for k, v in lattice.items() if k != "bounds"},
        }

    def _lattice(self) -> dict[str, Any]:
        """The move lattice from THOR's GetReachablePositions (free: reachable; passable: both
        neighbours reachable), recomputed when the phase or an object changed."""
        md = self.controller().last_event.metadata
        key = (self.phase, tuple(sorted((str(o["name"]), str(o["position"]), o.get("openness"))
                                        for o in md["objects"] if _scored(o))),
               tuple(str(i.get("objectId")) for i in md.get("inventoryObjects") or []))
        if self._lattice_cache is not None and self._lattice_cache[0] == key:
            return self._lattice_cache[1]
        event = self._step("GetReachablePositions")     # a query: nothing moves
        points = np.array([[float(p["x"]), float(p["z"])] for p in
                           (event.metadata.get("actionReturn") or [])], dtype=float).reshape(-1, 2)
        x0, y0 = self.start[0], self.start[1]
        if len(points) == 0:
            points = np.array([[x0, y0]])
        i = np.round((points[:, 0] - x0) / STEP_SIZE).astype(int)
        j = np.round((points[:, 1] - y0) / STEP_SIZE).astype(int)
        i0, j0 = min(i.min(), 0), min(j.min(), 0)
        nx, ny = max(i.max(), 0) - i0 + 1, max(j.max(), 0) - j0 + 1
        free = np.zeros((nx, ny), dtype=bool)
        free[i - i0, j - j0] = True
        passable = np.zeros((nx, ny, 2), dtype=bool)
        passable[:-1, :, 0] = free[:-1, :] & free[1:, :]
        passable[:, :-1, 1] = free[:, :-1] & free[:, 1:]
        origin = (x0 + i0 * STEP_SIZE, y0 + j0 * STEP_SIZE)
        value = {"origin": origin, "step": STEP_SIZE, "free": free, "passable": passable,
                 "bounds": (float(points[:, 0].min()), float(points[:, 1].min()),
                            float(points[:, 0].max()), float(points[:, 1].max()))}
        self._lattice_cache = (key, value)
        return value


# ----------------------------------------------------------------------------------- listing
def list_ithor_episodes(cfg: IthorRearrangeConfig, limit: bool = True) -> list[dict[str, Any]]:
    """The tasks `env.split` names (`fake`: the fake controller's), cut to `env.episodes`."""
    if cfg.split == "fake":
        from embodied.envs.ai2thor import rearrange_fake

        tasks = [{**t, "episode_id": episodes_lib.episode_id(scene, "fake", k), "scene": scene,
                  "stage": "fake", "index": k}
                 for scene, ts in rearrange_fake.fake_tasks().items() for k, t in enumerate(ts)]
    else:
        tasks = episodes_lib.read_dataset(cfg.split, cfg.dataset_dir)
    if limit and cfg.episodes is not None:
        if cfg.episodes > len(tasks):
            raise ConfigError(f"env.episodes: got {cfg.episodes}, but {cfg.split!r} has "
                              f"{len(tasks)} tasks")
        tasks = tasks[: cfg.episodes]
    return tasks
