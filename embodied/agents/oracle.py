"""The oracle: privileged shortest paths, then face the goal and Stop.

It is the sanity check of the whole metric stack: with perfect knowledge it must score Success ~1
and SPL close to 1, so a low number here means a bug in the env, the geodesics or the metrics —
not in an agent. It plans in the agent's own action space (MoveAhead in one of the 12 headings a
30-degree turn can reach), with A* guided by the task's geodesic distance field, because following a
grid path with those actions would zig-zag and waste path length.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from embodied.agents.base import Agent
from embodied.config import AgentConfig, ConfigError
from embodied.interfaces import DiscreteNavigationAction as Action
from embodied.perception.navgrid import NavGrid, distance_field


@dataclass
class OracleConfig(AgentConfig):
    """`goal_margin` keeps the planned end point strictly inside the success distance."""

    id: str = "oracle"
    goal_margin: float = 0.005
    resolution: float = 0.025
    clearance: float = 0.005
    max_expansions: int = 40_000
    heuristic_weight: float = 1.0
    merge_distance: float = 0.01
    max_goal_attempts: int = 4

    def __post_init__(self) -> None:
        """Zero or negative sizes would divide by zero (merge_distance) or plan on no grid at all."""
        for name in ("resolution", "merge_distance"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"got {getattr(self, name)}, expected > 0 (m)", key=name)
        for name in ("goal_margin", "clearance", "heuristic_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"got {getattr(self, name)}, expected >= 0", key=name)
        for name in ("max_expansions", "max_goal_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)


def _angle_diff(a: float, b: float) -> float:
    return math.atan2(math.sin(a - b), math.cos(a - b))


def _box_distance(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    d = np.maximum(np.maximum(lo - xy, xy - hi), 0.0)
    return float(np.hypot(d[0], d[1]))


class OracleAgent(Agent[Action]):
    """Plans once per goal attempt; re-plans when a move is refused or the goal is not in view."""

    privileged = True

    # ------------------------------------------------------------------------------- episode
    def reset(self, info: dict[str, Any]) -> None:
        p = info["privileged"]
        res = self.config.resolution
        # A finer grid, inflated by `clearance` more than the agent. A point off a cell centre can
        # still be up to half a cell diagonal too close to geometry: the env then refuses the
        # move, the oracle remembers that move and plans around it (rare; shorter paths overall).
        self.grid = NavGrid.from_footprints(p["footprints"], p["bounds"], resolution=res,
                                            inflation=p["agent_radius"] + self.config.clearance)
        self.safe = self.grid.free
        self.targets = self._fine_targets(p["navgrid"], p["goal_field"])
        self.field = distance_field(self.grid, self.targets)
        self.boxes = p["goal_boxes"]
        self.heights = p["goal_heights"]
        self.start = p["start_world"]
        self.sd = float(p["success_distance"])
        self.min_pixels = int(p["min_visible_pixels"])
        self.step = float(p["step_size"])
        self.turn = math.radians(p["rotate_degrees"])
        self.look = math.radians(p["look_degrees"])
        self.camera_height = float(info["camera"]["height_m"])
        self.bad_goals: list[np.ndarray] = []
        self.refused: set[tuple[int, int, int, int]] = set()
        self.plan: list[np.ndarray] = []
        self.last_xy: np.ndarray | None = None
        self.expected_xy: np.ndarray | None = None
        self.phase = "navigate"
        self.face_tries: list[tuple[float, float]] = []
        self.attempts = 0

    def _fine_targets(self, coarse: NavGrid, field: np.ndarray) -> np.ndarray:
        """Fine cells whose coarse cell is in (or next to) the task's success region, where the
        field is 0. The region is sampled at coarse cell centres; `_at_goal` applies the exact
        distance test, so the one-cell margin only lets the plan stop at the true boundary."""
        region = ndimage.binary_dilation(field == 0, structure=np.ones((3, 3), bool))
        ij = np.argwhere(self.grid.free)
        cij = coarse.world_to_cell(self.grid.cell_to_world(ij))
        ok = coarse.in_grid(cij)
        hit = np.zeros(len(ij), bool)
        hit[ok] = region[cij[ok, 0], cij[ok, 1]]
        targets = np.zeros_like(self.grid.free)
        targets[ij[hit, 0], ij[hit, 1]] = True
        return targets

    def _world(self, pose: np.ndarray) -> tuple[np.ndarray, float, float]:
        x0, y0, yaw0 = self.start
        c, s = math.cos(yaw0), math.sin(yaw0)
        x = x0 + c * pose[0] - s * pose[1]
        y = y0 + s * pose[0] + c * pose[1]
        return np.array([x, y]), yaw0 + float(pose[2]), float(pose[3])

    # ------------------------------------------------------------------------------- acting
    def act(self, obs: dict[str, Any]) -> Action:
        xy, yaw, pitch = self._world(obs["pose"])
        if self.expected_xy is not None and np.linalg.norm(xy - self.expected_xy) > 1e-3:
            # A refused move: remember it and plan again from where we are.
            self.refused.add(self._move_key(xy, self.expected_xy))
            self.plan = []
        self.expected_xy = None
        if self.phase == "navigate":
            if self._at_goal(xy):
                self.phase = "face"
                self.face_tries = self._face_candidates(xy)
            else:
                if not self.plan:
                    # Near-optimal first; if that search runs out of budget (very long episodes),
                    # settle for a greedier, slightly longer plan rather than none.
                    for weight in (self.config.heuristic_weight, 1.2, 2.0):
                        self.plan = self._astar(xy, weight)
                        if self.plan:
                            break
                    if not self.plan:
                        return Action.STOP
                return self._follow(xy, yaw)
        return self._face(obs, xy, yaw, pitch)

    def _follow(self, xy: np.ndarray, yaw: float) -> Action:
        target = self.plan[0]
        heading = math.atan2(target[1] - xy[1], target[0] - xy[0])
        diff = _angle_diff(heading, yaw)
        if abs(diff) > self.turn / 2:
            return Action.ROTATE_LEFT if diff > 0 else Action.ROTATE_RIGHT
        self.plan.pop(0)
        self.expected_xy = target
        return Action.MOVE_AHEAD

    def _face(self, obs: dict[str, Any], xy: np.ndarray, yaw: float, pitch: float) -> Action:
        ids = [iid for lo, hi, iid in self.boxes if _box_distance(xy, lo, hi) <= self.sd]
        inst = obs["instance"]
        if any(np.count_nonzero(inst == iid) >= self.min_pixels for iid in ids):
            return Action.STOP
        while self.face_tries:
            want_yaw, want_pitch = self.face_tries[0]
            dyaw = _angle_diff(want_yaw, yaw)
            if abs(dyaw) > self.turn / 2:
                return Action.ROTATE_LEFT if dyaw > 0 else Action.ROTATE_RIGHT
            if want_pitch > pitch + self.look / 2:
                return Action.LOOK_UP
            if want_pitch < pitch - self.look / 2:
                return Action.LOOK_DOWN
            self.face_tries.pop(0)  # this view is reached and the goal is not in it
        # Nothing in view from here: try another goal position, or give up.
        self.attempts += 1
        if self.attempts >= self.config.max_goal_attempts:
            return Action.STOP
        self.bad_goals.append(xy.copy())
        self.phase, self.plan = "navigate", []
        return self._reset_pitch(pitch)

    def _reset_pitch(self, pitch: float) -> Action:
        if pitch > self.look / 2:
            return Action.LOOK_DOWN
        if pitch < -self.look / 2:
            return Action.LOOK_UP
        return Action.ROTATE_LEFT  # harmless: the next call re-plans and turns as needed

    def _face_candidates(self, xy: np.ndarray) -> list[tuple[float, float]]:
        """Views to try, best first: towards each goal box in reach, at the pitch that frames it."""
        views = []
        reach = [(lo, hi, iid) for lo, hi, iid in self.boxes if _box_distance(xy, lo, hi) <= self.sd]
        reach.sort(key=lambda b: _box_distance(xy, b[0], b[1]))
        for lo, hi, iid in reach:
            centre = (lo + hi) / 2
            heading = math.atan2(centre[1] - xy[1], centre[0] - xy[0])
            yaw = self.start[2] + round(_angle_diff(heading, self.start[2]) / self.turn) * self.turn
            z_lo, z_hi = self.heights[iid]
            horizontal = max(float(np.linalg.norm(centre - xy)), 1e-3)
            elevation = math.atan2((z_lo + z_hi) / 2 - self.camera_height, horizontal)
            pitches = sorted((k * self.look for k in range(-2, 2)), key=lambda q: abs(q - elevation))
            for q in pitches[:2]:
                for dy in (0.0, self.turn, -self.turn):
                    views.append((yaw + dy, q))
        return views

    # ------------------------------------------------------------------------------- planning
    @staticmethod
    def _move_key(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
        return (int(round(a[0] / 0.02)), int(round(a[1] / 0.02)),
                int(round((b - a)[0] * 100)), int(round((b - a)[1] * 100)))

    def _at_goal(self, xy: np.ndarray) -> bool:
        if any(np.linalg.norm(xy - b) < 0.5 for b in self.bad_goals):
            return False
        i, j = self.grid.world_to_cell(xy)
        if not (0 <= i < self.targets.shape[0] and 0 <= j < self.targets.shape[1]) or not self.targets[i, j]:
            return False
        limit = self.sd - self.config.goal_margin
        return any(_box_distance(xy, lo, hi) <= limit for lo, hi, _ in self.boxes)

    def _field_at(self, xy: np.ndarray) -> float:
        i, j = self.grid.world_to_cell(xy)
        h, w = self.field.shape
        if 0 <= i < h and 0 <= j < w:
            return float(self.field[i, j])
        return math.inf

    def _segment_safe(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Every sample of the move a->b in a safe cell; the first 5 cm are exempt, because the
        agent may legitimately stand in the thin margin the finer grid adds (e.g. at its start)."""
        length = float(np.linalg.norm(b - a))
        n = max(2, int(math.ceil(length / (self.grid.resolution / 2))) + 1)
        t = np.linspace(0.0, 1.0, n)
        t = t[t * length >= 0.05]
        pts = a[None, :] + t[:, None] * (b - a)[None, :]
        ij = self.grid.world_to_cell(pts)
        h, w = self.safe.shape
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < h) & (ij[:, 1] >= 0) & (ij[:, 1] < w)
        if not inside.all():
            return False
        return bool(self.safe[ij[:, 0], ij[:, 1]].all())

    def _astar(self, start: np.ndarray, weight: float) -> list[np.ndarray]:
        """A* over positions reachable by MoveAhead in the 12 headings; cost = metres moved."""
        yaw0 = self.start[2]
        n_dirs = int(round(2 * math.pi / self.turn))
        moves = [self.step * np.array([math.cos(yaw0 + k * self.turn), math.sin(yaw0 + k * self.turn)])
                 for k in range(n_dirs)]
        key = lambda p: (int(round(p[0] / self.config.merge_distance)), int(round(p[1] / self.config.merge_distance)))  # noqa: E731
        nodes: list[tuple[np.ndarray, int]] = [(start.copy(), -1)]
        frontier = [(self._field_at(start), 0.0, 0)]
        closed: set[tuple[int, int]] = set()
        best_seen: dict[tuple[int, int], float] = {key(start): 0.0}
        expansions = 0
        while frontier and expansions < self.config.max_expansions:
            _, g, idx = heapq.heappop(frontier)
            pos = nodes[idx][0]
            k = key(pos)
            if k in closed:
                continue
            closed.add(k)
            if idx != 0 and self._at_goal(pos):
                path = []
                while idx > 0:
                    path.append(nodes[idx][0])
                    idx = nodes[idx][1]
                return path[::-1]
            expansions += 1
            for move in moves:
                nxt = pos + move
                nk = key(nxt)
                ng = g + self.step
                if nk in closed or best_seen.get(nk, math.inf) <= ng:
                    continue
                h = self._field_at(nxt)
                if not math.isfinite(h) or not self._segment_safe(pos, nxt) \
                        or self._move_key(pos, nxt) in self.refused:
                    continue
                best_seen[nk] = ng
                nodes.append((nxt, idx))
                heapq.heappush(frontier, (ng + weight * h, ng, len(nodes) - 1))
        return []
