"""The rearrangement oracle: the upper bound of `embodied/Rearrange-PyBullet-v0`.

Why it exists: with perfect knowledge of what changed it must fix (nearly) every episode, so a
low Success here means a bug in the env, its episodes or the metrics -- not in an agent. It is
also the reference a learned agent (CSR and the like) is compared with: "how many steps does a
perfect planner need".

What it reads: only what the runner hands an agent -- the reset info (with `privileged=True`:
`info["privileged"]`) and each step's observations (`pose`, `held`, `phase`, `instance`,
`depth`). It never touches the env. The reset info is the walkthrough's, so the unshuffle state
is rebuilt from it: the goal pose records plus the episode's `changes` give every object's
unshuffle-start pose record, and an object is to be fixed when `embodied.metrics.pose_energy`
(goal vs that record) is > 0 -- the challenge's own test. The reset info's `lattice` (the env's
0.25 m move lattice of the goal state, where the agent's cylinder fits and which moves succeed)
is the map. Its free points are exactly where the agent stands clear of the goal state, which is
what an interaction leaves behind (a part at its goal openness, an object at its goal pose), so
interaction spots are picked from it; moves the shuffled state refuses are learnt on the way.

What it does: `done` at once in the walkthrough. In the unshuffle phase, nearest task first
(in actions): for a moved object, plan (BFS on the lattice, then turns and camera tilts -- the
env's action space, `lattice_distances`) to a spot from which it is within 1.5 m, turn and tilt
towards it, check in the `instance` frame that `pickup_<type>` will take it (visible, nearest
visible of its type), pick it up; then the same to a spot from which its goal box is within
1.5 m and in view (the env's snap rule restated on the `depth` frame), and
`drop_held_object_with_snap`. For an openness change, go where the part is visible and (by the
depth of its own pixels) within reach, and `open_by_type_<type>`. Then `done`.

The agent does not receive step infos (the runner passes observations only), so it reads each
action's outcome off the next observation: a refused move leaves the pose unchanged (the edge is
then blocked and the path planned again), a pickup shows in `held`, a refused opening leaves the
frame unchanged (a successful one moves the part), a snap puts the object's pixels inside its
goal box (else it was put down elsewhere: it is located from its pixels and picked up again).
A failed check or action moves on to the next view, then to the next spot (at most
`max_spots` per subgoal), preferably one that sees the target from another side. With
`env.open_mode: toggle` a refused opening still flips the part's next value, so the next try
may leave it unchanged (read as a failure); the try after that sets the goal again.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from embodied import metrics
from embodied.agents.base import Agent
from embodied.config import AgentConfig, ConfigError
from embodied.interfaces import (REARRANGE_ACTION_NAMES, REARRANGE_FIXED_ACTIONS, REARRANGE_PICKUPABLE_TYPES,
                                 open_action_name, pickup_action_name)

_NAMES = REARRANGE_ACTION_NAMES
DONE = _NAMES.index("done")
DROP = _NAMES.index("drop_held_object_with_snap")
ROTATE_LEFT, ROTATE_RIGHT = _NAMES.index("rotate_left"), _NAMES.index("rotate_right")
LOOK_UP, LOOK_DOWN = _NAMES.index("look_up"), _NAMES.index("look_down")
#: move actions by (world direction - heading) mod 4, in quarter turns to the left
MOVES = (_NAMES.index("move_ahead"), _NAMES.index("move_left"), _NAMES.index("move_back"),
         _NAMES.index("move_right"))
QUARTER = math.pi / 2
LOOK_STEP = math.radians(30.0)
PITCH_STEPS = (-2, -1, 0, 1)          # camera pitch / 30 deg the env allows ([-60, +30] deg)
SNAP_SHRINK = 0.8                     # the env's snap view test: corners pulled 20 % inwards
#: lattice neighbours by world direction 0..3 = +x, +y, -x, -y
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))

Cell = tuple[int, int]


@dataclass
class RearrangeOracleConfig(AgentConfig):
    """`reach_margin` keeps planned spots this far inside the 1.5 m reach (and the in-view test
    stricter than the env's by `depth_margin`), so float round-off never decides an action;
    `max_spots` bounds the retries of one subgoal."""

    id: str = "rearrange_oracle"
    reach_margin: float = 0.05
    depth_margin: float = 0.01
    max_spots: int = 12
    #: drops that did not snap (the object then lies elsewhere) before the object is given up
    max_misdrops: int = 2
    #: extra cost (actions) of a spot seen from within `occluded_degrees` of a failed spot's
    #: bearing to the target: what hid it there (a TV in front of a clock) likely hides it again
    occlusion_penalty: float = 12.0
    occluded_degrees: float = 30.0

    def __post_init__(self) -> None:
        """Negative margins would plan spots the env refuses; no spot at all would never act."""
        for name in ("reach_margin", "depth_margin"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"got {getattr(self, name)}, expected metres in [0, 1)", key=name)
        for name in ("max_spots", "max_misdrops"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)
        if self.occlusion_penalty < 0 or not 0 <= self.occluded_degrees <= 180:
            raise ConfigError(f"got {self.occlusion_penalty}, {self.occluded_degrees}: expected a "
                              "cost >= 0 and degrees in [0, 180]", key="occlusion_penalty")


# ---------------------------------------------------------------------------------- lattice
def lattice_distances(passable: np.ndarray, start: Cell, blocked: Iterable[tuple[int, int, int]] = ()
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first search over a 4-connected lattice whose moves all cost one action.

    `passable` (nx, ny, 2) bool: axis 0 the move (i, j) <-> (i + 1, j), axis 1 (i, j) <->
    (i, j + 1) (the env's `info["privileged"]["lattice"]["passable"]`); `blocked` edges
    (i, j, axis) in the same convention are left out (moves learnt to fail). Returns the number
    of moves to every point (-1: unreachable) and each point's predecessor as a flat index
    (-1: none) for `lattice_path`. Plain BFS because moves along all four directions cost the
    same whatever the heading (the challenge's move_ahead/left/right/back), so turns only matter
    at the end of a path and are added there by the caller."""
    nx, ny = passable.shape[:2]
    dist = np.full((nx, ny), -1, dtype=np.int32)
    parent = np.full((nx, ny), -1, dtype=np.int64)
    si, sj = int(start[0]), int(start[1])
    if not (0 <= si < nx and 0 <= sj < ny):
        return dist, parent
    block = set(blocked)
    dist[si, sj] = 0
    queue = deque([(si, sj)])
    while queue:
        i, j = queue.popleft()
        d = dist[i, j] + 1
        for di, dj in DIRECTIONS:
            a, b = i + di, j + dj
            if not (0 <= a < nx and 0 <= b < ny) or dist[a, b] >= 0:
                continue
            edge = (min(i, a), min(j, b), 0 if di else 1)
            if not passable[edge] or edge in block:
                continue
            dist[a, b] = d
            parent[a, b] = i * ny + j
            queue.append((a, b))
    return dist, parent


def lattice_path(parent: np.ndarray, goal: Cell) -> list[Cell]:
    """The points from the BFS start to `goal` (both included), from `lattice_distances`."""
    ny = parent.shape[1]
    path = [(int(goal[0]), int(goal[1]))]
    while parent[path[-1]] >= 0:
        path.append(divmod(int(parent[path[-1]]), ny))
    return path[::-1]


def box_distance(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Floor-plane distances from points (N, 2) to the box [lo, hi] (0 inside): the env's
    'within 1.5 m'."""
    pts = np.asarray(xy, dtype=float).reshape(-1, 2)
    gap = np.maximum(np.maximum(np.asarray(lo)[:2] - pts, pts - np.asarray(hi)[:2]), 0.0)
    return np.hypot(gap[:, 0], gap[:, 1])


def _yaw_of(quaternion: Any) -> float:
    x, y, z, w = (float(v) for v in quaternion)
    return 2.0 * math.atan2(z, w)


def moved_pose(goal: dict[str, Any], pose: Any) -> dict[str, Any]:
    """The pose record of a pickupable moved from its goal record to `pose` (x, y, z, yaw):
    its box is the goal box carried along rigidly (shuffles only move and turn about z)."""
    x, y, z, yaw = (float(v) for v in pose)
    gx, gy, gz = (float(v) for v in goal["position"])
    turn = yaw - _yaw_of(goal["rotation"])
    c, s = math.cos(turn), math.sin(turn)
    rel = np.asarray(goal["bounding_box"], dtype=float) - (gx, gy, gz)
    box = np.stack([c * rel[:, 0] - s * rel[:, 1] + x, s * rel[:, 0] + c * rel[:, 1] + y,
                    rel[:, 2] + z], axis=1)
    out = dict(goal)
    out.update(position=(x, y, z), rotation=(0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)),
               bounding_box=box)
    return out


# ---------------------------------------------------------------------------------- the agent
@dataclass
class _Goal:
    """One subgoal: the action, the object, where it is (box or point), what to look at."""

    kind: str                              # "pickup", "drop", "open", "release"
    name: str
    action: int
    lo: np.ndarray                         # floor-plane reach box (min corner, 3D)
    hi: np.ndarray
    look_at: np.ndarray                    # 3D point the views aim at
    bad: set[Cell] = field(default_factory=set)
    tries: int = 0
    failed_bearings: list[float] = field(default_factory=list)


class RearrangeOracleAgent(Agent[int]):
    """Privileged planner in the env's action space (see the module docstring)."""

    privileged = True

    # ------------------------------------------------------------------------------- episode
    def reset(self, info: dict[str, Any]) -> None:
        """Everything the episode needs, from the walkthrough's reset info (copied in)."""
        p = info["privileged"]
        self.actions = list(info.get("actions", _NAMES))
        #: what `held` indexes (the iTHOR env's challenge types, or the embedded task's)
        self.pickupable = tuple(info.get("pickupable_types", REARRANGE_PICKUPABLE_TYPES))
        if tuple(self.actions[:len(REARRANGE_FIXED_ACTIONS)]) != REARRANGE_FIXED_ACTIONS:
            raise ValueError(f"rearrange_oracle: the env's actions do not start with {REARRANGE_FIXED_ACTIONS}")
        cam = info["camera"]
        self.fx, self.fy, self.cx, self.cy = (float(cam[k]) for k in ("fx", "fy", "cx", "cy"))
        self.width, self.height = int(cam["width"]), int(cam["height"])
        self.near, self.camera_height = float(cam["near"]), float(cam["height_m"])
        self.reach = float(p["interact_distance"])
        self.min_pixels = int(p.get("min_visible_pixels", 1))
        lattice = p["lattice"]
        self.origin = np.asarray(lattice["origin"], dtype=float)
        self.step = float(lattice["step"])
        self.free = np.array(lattice["free"], dtype=bool)
        self.passable = np.array(lattice["passable"], dtype=bool)
        x0, y0, yaw0 = (float(v) for v in p["start_world"])
        self.start = (x0, y0, yaw0)
        self.axis0 = int(round(yaw0 / QUARTER)) % 4      # world direction of heading 0
        self.goal_poses = {k: dict(v) for k, v in p["goal_poses"].items()}
        self.instance_of = {str(v["name"]): int(k) for k, v in p["instances"].items()}
        self.type_of = {str(v["name"]): str(v["type"]) for v in p["instances"].values()}
        # The unshuffle-start state: goal records with the episode's changes applied.
        self.poses = {k: dict(v) for k, v in self.goal_poses.items()}
        for change in p["changes"]:
            name = change["name"]
            if change["kind"] == "move":
                self.poses[name] = moved_pose(self.goal_poses[name], change["pose"])
            else:
                self.poses[name] = {**self.poses[name], "openness": float(change["openness"])}
        changed = [n for n in self.goal_poses
                   if metrics.pose_energy(self.goal_poses[n], self.poses[n]) > 0.0]
        # an object whose type has no action in this env's set cannot be fixed: given up at once
        self.todo = [n for n in changed if self._action_name(n) in self.actions]
        self.given_up: list[str] = [n for n in changed if n not in self.todo]
        self.blocked: set[tuple[int, int, int]] = set()
        self.goal: _Goal | None = None
        self.spot: Cell | None = None
        self.path: list[Cell] = []
        self.views: list[tuple[int, int]] = []
        self.pending: tuple[str, Any] | None = None
        self.path_from: Cell = (0, 0)
        self.misdropped: dict[str, int] = {}

    # ------------------------------------------------------------------------------- geometry
    def _state(self, obs: dict[str, Any]) -> tuple[Cell, int, int]:
        """(lattice cell, heading in quarter turns left of the start's, pitch in 30 deg steps)."""
        x0, y0, yaw0 = self.start
        px, py, dyaw, pitch = (float(v) for v in obs["pose"])
        c, s = math.cos(yaw0), math.sin(yaw0)
        xy = np.array([x0 + c * px - s * py, y0 + s * px + c * py])
        i, j = np.round((xy - self.origin) / self.step).astype(int)
        return (int(i), int(j)), int(round(dyaw / QUARTER)) % 4, int(round(pitch / LOOK_STEP))

    def _xy(self, cell: Cell) -> np.ndarray:
        return self.origin + self.step * np.asarray(cell, dtype=float)

    def _yaw(self, heading: int) -> float:
        return self.start[2] + heading * QUARTER

    def _basis(self, heading: int, pitch: int) -> np.ndarray:
        """Camera axes forward, right, up in the world (the env's pinhole convention)."""
        yaw, p = self._yaw(heading), pitch * LOOK_STEP
        cp, sp, cy, sy = math.cos(p), math.sin(p), math.cos(yaw), math.sin(yaw)
        return np.array([[cp * cy, cp * sy, sp], [sy, -cy, 0.0], [-sp * cy, -sp * sy, cp]])

    def _project(self, points: np.ndarray, cell: Cell, heading: int, pitch: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, y = self._xy(cell)
        d = np.asarray(points, dtype=float).reshape(-1, 3) - (x, y, self.camera_height)
        fwd, right, up = (d @ axis for axis in self._basis(heading, pitch))
        safe = np.where(fwd > 1e-9, fwd, 1e-9)
        return self.cx + self.fx * right / safe, self.cy - self.fy * up / safe, fwd

    def _points(self, obs: dict[str, Any], iid: int, cell: Cell, heading: int, pitch: int
                ) -> np.ndarray:
        """World points (N, 3) of an object's pixels, from the depth frame."""
        rows, cols = np.nonzero(np.asarray(obs["instance"]) == iid)
        z = np.asarray(obs["depth"], dtype=float)[rows, cols, 0]
        fwd, right, up = self._basis(heading, pitch)
        x, y = self._xy(cell)
        cam = np.array([x, y, self.camera_height])
        return (cam + z[:, None] * fwd + ((cols - self.cx) * z / self.fx)[:, None] * right
                + ((self.cy - rows) * z / self.fy)[:, None] * up)

    def _pixels(self, obs: dict[str, Any], name: str) -> int:
        return int(np.count_nonzero(np.asarray(obs["instance"]) == self.instance_of[name]))

    def _box(self, name: str, pose: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray((pose or self.poses[name])["bounding_box"], dtype=float)
        return c.min(0), c.max(0)

    # ------------------------------------------------------------------------------- checks
    def _can_pickup(self, obs: dict[str, Any], goal: _Goal, cell: Cell) -> bool:
        """`pickup_<type>` takes the nearest visible object of the type within reach: ours must
        be visible, within reach, and ahead of every other visible one of its type."""
        if self._pixels(obs, goal.name) < self.min_pixels:
            return False
        xy = self._xy(cell)
        mine = float(box_distance(xy, goal.lo, goal.hi)[0])
        if mine > self.reach - self.config.reach_margin / 2:
            return False
        kind = self.type_of[goal.name]
        for other, t in self.type_of.items():
            if t != kind or other == goal.name or self._pixels(obs, other) < self.min_pixels:
                continue
            if float(box_distance(xy, *self._box(other))[0]) <= mine + 1e-3:
                return False
        return True

    def _can_snap(self, obs: dict[str, Any], goal: _Goal, cell: Cell, heading: int,
                  pitch: int) -> bool:
        """The env's snap test restated: the goal box within reach and one of its centre or
        shrunk corners projecting into the frame in front of what the depth frame shows."""
        c = np.asarray(self.goal_poses[goal.name]["bounding_box"], dtype=float)
        if float(box_distance(self._xy(cell), c.min(0), c.max(0))[0]) > \
                self.reach - self.config.reach_margin / 2:
            return False
        centre = c.mean(0)
        u, v, z = self._project(np.vstack([centre, centre + SNAP_SHRINK * (c - centre)]),
                                cell, heading, pitch)
        col, row = np.round(u).astype(int), np.round(v).astype(int)
        inside = (z > self.near) & (col >= 0) & (col < self.width) & (row >= 0) & \
            (row < self.height)
        if not inside.any():
            return False
        depth = np.asarray(obs["depth"], dtype=float)[row[inside], col[inside], 0]
        return bool((depth >= z[inside] + self.config.depth_margin).any())

    def _can_open(self, obs: dict[str, Any], goal: _Goal, cell: Cell, heading: int,
                  pitch: int) -> bool:
        """The part is visible and, by the depth of its own pixels (points of its box), within
        reach; other parts of its type are at their goal, so `open_by_type` picks ours."""
        if self._pixels(obs, goal.name) < self.min_pixels:
            return False
        pts = self._points(obs, self.instance_of[goal.name], cell, heading, pitch)
        d = np.hypot(*(pts[:, :2] - self._xy(cell)).T)
        return float(d.min()) <= self.reach - self.config.reach_margin

    # ------------------------------------------------------------------------------- planning
    def _picked(self, name: str) -> bool:
        """Whether the object is fixed by picking it up (else by opening or closing it)."""
        pose = self.goal_poses[name]
        return bool(pose.get("pickupable", True)) and pose.get("bounding_box") is not None

    def _action_name(self, name: str) -> str:
        """The action that fixes the object: pickup_<type> or open_by_type_<type>."""
        kind = pickup_action_name if self._picked(name) else open_action_name
        return kind(self.type_of[name])

    def _make_goal(self, name: str, held: bool) -> _Goal:
        if held:
            lo, hi = self._box(name, self.goal_poses[name])
            return _Goal("drop", name, DROP, lo, hi, (lo + hi) / 2)
        action = self.actions.index(self._action_name(name))
        if self._picked(name):
            lo, hi = self._box(name)
            return _Goal("pickup", name, action, lo, hi, (lo + hi) / 2)
        origin = np.asarray(self.poses[name]["position"], dtype=float)
        return _Goal("open", name, action, origin, origin, origin)

    def _views(self, goal: _Goal, cell: Cell) -> list[tuple[int, int]]:
        """(heading, pitch) to try from `cell`, best first: towards the target, tilted to it."""
        xy = self._xy(cell)
        d = goal.look_at[:2] - xy
        bearing = math.atan2(d[1], d[0]) - self.start[2]
        k = round(bearing / QUARTER)
        off = math.atan2(math.sin(bearing - k * QUARTER), math.cos(bearing - k * QUARTER))
        headings = [k % 4] + ([(k + (1 if off > 0 else -1)) % 4]
                              if abs(off) > math.radians(25) else [])
        elevation = math.atan2(goal.look_at[2] - self.camera_height, max(np.hypot(*d), 1e-3))
        pitches = sorted(PITCH_STEPS, key=lambda q: abs(q * LOOK_STEP - elevation))[:3]
        return [(h, q) for h in headings for q in pitches]

    def _candidates(self, goal: _Goal, dist: np.ndarray) -> np.ndarray:
        """Reachable free cells within reach of the goal's box (minus the margin), not tried."""
        cells = np.argwhere(self.free & (dist >= 0))
        if len(cells) == 0:
            return cells
        near = box_distance(self.origin + self.step * cells, goal.lo, goal.hi) \
            <= self.reach - self.config.reach_margin
        cells = cells[near]
        if goal.kind == "pickup":   # prefer spots where ours is the nearest of its type
            xy = self.origin + self.step * cells
            mine = box_distance(xy, goal.lo, goal.hi)
            ok = np.ones(len(cells), dtype=bool)
            for other, t in self.type_of.items():
                if t == self.type_of[goal.name] and other != goal.name and other in self.poses \
                        and self.poses[other].get("bounding_box") is not None:
                    ok &= box_distance(xy, *self._box(other)) > mine + 0.05
            if ok.any():
                cells = cells[ok]
        return np.array([c for c in cells if tuple(c) not in goal.bad], dtype=int).reshape(-1, 2)

    def _cost(self, goal: _Goal, cell: Cell, dist: np.ndarray, heading: int, pitch: int) -> int:
        h, q = self._views(goal, cell)[0]
        turns = (h - heading) % 4
        return int(dist[cell]) + min(turns, 4 - turns) + abs(q - pitch)

    def _choose_spot(self, goal: _Goal, cell: Cell, heading: int, pitch: int
                     ) -> tuple[Cell, int] | None:
        dist, parent = lattice_distances(self.passable, cell, self.blocked)
        cands = self._candidates(goal, dist)
        if len(cands) == 0:
            return None
        costs = np.array([self._cost(goal, (int(a), int(b)), dist, heading, pitch)
                          for a, b in cands], dtype=float)
        if goal.failed_bearings:
            d = goal.look_at[:2] - (self.origin + self.step * cands)
            bearing = np.arctan2(d[:, 1], d[:, 0])
            limit = math.radians(self.config.occluded_degrees)
            for b in goal.failed_bearings:
                off = np.abs(np.arctan2(np.sin(bearing - b), np.cos(bearing - b)))
                costs += self.config.occlusion_penalty * (off < limit)
        k = int(np.argmin(costs))
        spot = (int(cands[k][0]), int(cands[k][1]))
        self.path = lattice_path(parent, spot)[1:]
        return spot, int(round(costs[k]))

    def _next_task(self, cell: Cell, heading: int, pitch: int, held: bool) -> None:
        """The remaining task whose first spot is cheapest from here (greedy in actions); with
        full hands (an object that could not be put back nor down) only openings remain."""
        best: tuple[int, _Goal] | None = None
        for name in self.todo:
            if held and self._picked(name):
                continue
            goal = self._make_goal(name, held=False)
            found = self._choose_spot(goal, cell, heading, pitch)
            if found is not None and (best is None or found[1] < best[0]):
                best = (found[1], goal)
        if best is None:
            self.given_up += self.todo
            self.todo = []
            return
        self.goal = best[1]
        self.spot = None

    # ------------------------------------------------------------------------------- acting
    def act(self, obs: dict[str, Any]) -> int:
        """One action: `done` in the walkthrough, else the next step of the current subgoal."""
        if int(obs["phase"]) == 0:
            return DONE
        cell, heading, pitch = self._state(obs)
        self._outcome(obs, cell)
        action = self._decide(obs, cell, heading, pitch)
        return DONE if action is None else action

    def _outcome(self, obs: dict[str, Any], cell: Cell) -> None:
        """Read what the last action did off this observation (see the module docstring)."""
        if self.pending is None:
            return
        kind, data = self.pending
        self.pending = None
        goal = self.goal
        held = int(obs["held"])
        if kind == "move":
            if cell != data:                 # refused: never plan this move again
                here = self.path_from
                axis = 0 if here[0] != data[0] else 1
                self.blocked.add((min(here[0], data[0]), min(here[1], data[1]), axis))
                self.path = []
            return
        assert goal is not None
        if kind == "pickup":
            if 0 <= held < len(self.pickupable) and self.pickupable[held] == self.type_of[goal.name]:
                self.goal = self._make_goal(goal.name, held=True)
                self.spot, self.path = None, []
            else:
                self._view_failed()
        elif kind == "drop":
            if held >= 0:
                self._view_failed()
                return
            cell_, heading, pitch = data
            if self._snapped(obs, goal, cell_, heading, pitch):
                self.poses[goal.name] = dict(self.goal_poses[goal.name])
                self._finish(goal.name)
            else:                             # put down elsewhere: find it, pick it up again
                self.misdropped[goal.name] = self.misdropped.get(goal.name, 0) + 1
                if self._relocate(obs, goal.name, cell_, heading, pitch) and \
                        self.misdropped[goal.name] <= self.config.max_misdrops:
                    self.goal = self._make_goal(goal.name, held=False)
                    self.spot, self.path = None, []
                else:
                    self._give_up(goal.name)
        elif kind == "release":
            if held >= 0:
                self._view_failed()
                return
            self._relocate(obs, goal.name, *data)   # for later nearest-of-type tests
            self._finish(goal.name)
        elif kind == "open":
            before = data
            if not np.array_equal(np.asarray(obs["depth"]), before):
                self.poses[goal.name] = dict(self.goal_poses[goal.name])
                self._finish(goal.name)
            else:
                self._view_failed()

    def _relocate(self, obs: dict[str, Any], name: str, cell: Cell, heading: int,
                  pitch: int) -> bool:
        """After a drop that did not snap: the object's box as its pixels show it (their
        bounding box; False when it is not in view)."""
        pts = self._points(obs, self.instance_of[name], cell, heading, pitch)
        if len(pts) == 0:
            return False
        lo, hi = pts.min(0), pts.max(0)
        box = np.array([[(hi if k & 4 else lo)[0], (hi if k & 2 else lo)[1],
                         (hi if k & 1 else lo)[2]] for k in range(8)])
        self.poses[name] = {**self.poses[name], "bounding_box": box}
        return True

    def _snapped(self, obs: dict[str, Any], goal: _Goal, cell: Cell, heading: int,
                 pitch: int) -> bool:
        """Most of the object's pixels lie inside its goal box (a snap); unseen counts as one,
        since the drop was only tried with the goal in view."""
        pts = self._points(obs, self.instance_of[goal.name], cell, heading, pitch)
        if len(pts) == 0:
            return True
        inside = np.all((pts >= goal.lo - 0.03) & (pts <= goal.hi + 0.03), axis=1)
        return bool(inside.mean() >= 0.8)

    def _finish(self, name: str) -> None:
        if name in self.todo:
            self.todo.remove(name)
        self.goal, self.spot, self.path, self.views = None, None, [], []

    def _give_up(self, name: str, holding: bool = False) -> None:
        """Stop working on `name`; an object still in hand is put down wherever it goes (the
        drop without snap), so the other objects can still be picked up."""
        self.given_up.append(name)
        goal = self.goal
        self._finish(name)
        if holding and goal is not None:
            self.goal = _Goal("release", name, DROP, goal.lo, goal.hi, goal.look_at)
            self.views = [(h, q) for h in range(4) for q in (-1, -2)]
            self.spot = None

    def _view_failed(self) -> None:
        if self.views:
            self.views.pop(0)

    def _decide(self, obs: dict[str, Any], cell: Cell, heading: int, pitch: int) -> int | None:
        held = int(obs["held"])
        for _ in range(64):                   # each pass settles one decision; never loops
            if self.goal is None:
                if not self.todo:
                    return None
                self._next_task(cell, heading, pitch, held=held >= 0)
                continue
            goal = self.goal
            if goal.kind == "release":        # put it down anywhere: any view will do
                if not self.views:
                    self.goal = None          # still in hand: only openings remain
                    continue
            elif self.spot is None or (cell != self.spot and not self.path):
                # (Re)plan: a new subgoal, a spot used up, or a refused move emptied the path.
                found = None if goal.tries >= self.config.max_spots else \
                    self._choose_spot(goal, cell, heading, pitch)
                if found is None:
                    self._give_up(goal.name, holding=goal.kind == "drop")
                    continue
                self.spot, self.views = found[0], []
            if goal.kind != "release" and cell != self.spot:
                nxt = self.path.pop(0)
                direction = DIRECTIONS.index((nxt[0] - cell[0], nxt[1] - cell[1]))
                self.pending, self.path_from = ("move", nxt), cell
                return MOVES[(direction - self.axis0 - heading) % 4]
            if goal.kind != "release" and not self.views:
                if self.spot in goal.bad:     # every view from here failed: another spot,
                    d = goal.look_at[:2] - self._xy(cell)    # preferably from another side
                    goal.failed_bearings.append(math.atan2(d[1], d[0]))
                    self.spot = None
                    continue
                self.views = self._views(goal, cell)
                goal.bad.add(self.spot)       # whatever happens, never come back here
                goal.tries += 1
            want_h, want_q = self.views[0]
            turns = (want_h - heading) % 4
            if turns:
                return ROTATE_LEFT if turns <= 2 else ROTATE_RIGHT
            if want_q != pitch:
                return LOOK_UP if want_q > pitch else LOOK_DOWN
            if goal.kind == "pickup":
                ok = held < 0 and self._can_pickup(obs, goal, cell)
            elif goal.kind == "drop":
                ok = self._can_snap(obs, goal, cell, heading, pitch)
            elif goal.kind == "release":
                ok = held >= 0
            else:
                ok = self._can_open(obs, goal, cell, heading, pitch)
            if not ok:
                self.views.pop(0)
                continue
            if goal.kind == "open":
                self.pending = ("open", np.asarray(obs["depth"]).copy())
            elif goal.kind in ("drop", "release"):
                self.pending = (goal.kind, (cell, heading, pitch))
            else:
                self.pending = ("pickup", None)
            return goal.action
        return None
