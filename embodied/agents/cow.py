"""CoW — CLIP on Wheels (Gadre et al., "CoWs on Pasture", CVPR 2023), zero-shot ObjectNav.

The method, as the paper describes it, top to bottom:

1. **Map.** Every frame, depth is lifted to 3-D with the camera intrinsics and the GPS+compass
   pose and splatted into a top-down grid (0.125 m cells): floor returns mark free space, returns
   between the floor band and a 1.9 m ceiling mark obstacles, inflated by the robot's radius. A
   MoveAhead that did not move the robot marks the cell ahead as an obstacle its camera missed.
2. **Localize.** A localizer (`agent.localizer.id`: the ground-truth upper bound, CLIP gradient
   relevance, CLIP patches, CLIP referring expressions, OWL-ViT) turns (rgb, goal text) into a
   relevance map and a detection mask. Detected pixels are lifted through depth onto the map
   (pixels at floor height are the floor, not the goal, and are left out); each cell keeps its
   best score and counts the frames that detected it; a cell becomes a target once
   `confirm_frames` frames did (1: at once, as the paper; more filters a weak localizer's
   one-frame false positives).
3. **Explore.** Until a target cell exists: an initial 360° spin, then classical frontier
   exploration — go to the nearest frontier (geodesic distance on the map), re-planned every step
   as the map grows; frontiers that cannot be reached are blacklisted.
4. **Exploit.** Once a target cell exists, plan to within `stop_distance` of it, turn to face it,
   and call Stop when the goal is detected in view *at the target* (detected points within
   `drop_radius` of it, not anywhere in the frame). A target that is not detected when the robot
   stands in front of it was a false positive: it is dropped and exploration resumes.

The agent sees only rgb, depth, pose and the goal text (plus `instance`/`semantic` for the
ground-truth localizer), so the same agent runs on every backend and on a robot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodied.agents.base import Agent
from embodied.config import AgentConfig, ConfigError, LocalizerConfig
from embodied.interfaces import DiscreteNavigationAction as Action
from embodied.perception.frontier import Blacklist, find_frontiers, select_frontier
from embodied.perception.geometry import Intrinsics, depth_to_points
from embodied.perception.localization import GroundTruthConfig, localizer_class, make_localizer
from embodied.perception.mapping import FREE as FREE_CELL
from embodied.perception.mapping import DeadReckoning, MapConfig, TopDownMap
from embodied.perception.planner import face_action, geodesic_field, next_action, plan

ARRIVE_SLACK = 0.25  # m: how far short of stop_distance a finished path may leave the agent


@dataclass
class CowConfig(AgentConfig):
    """CoW's settings; `map` holds the mapping ones (resolution, ceiling, floor band, ...)."""

    id: str = "cow"
    localizer: LocalizerConfig = field(default_factory=GroundTruthConfig)
    map: MapConfig = field(default_factory=MapConfig)
    spin: bool = True
    frontier_strategy: str = "nearest"
    stop_distance: float = 0.7
    min_target_pixels: int = 10
    target_max_depth: float = 4.0
    far_target_depth: float = 10.0
    drop_radius: float = 0.5
    pose_source: str = "env"
    confirm_frames: int = 1

    def __post_init__(self) -> None:
        if self.frontier_strategy not in ("nearest", "euclidean", "largest"):
            raise ConfigError(f"agent.frontier_strategy: got {self.frontier_strategy!r}, expected "
                              "one of nearest, euclidean, largest")
        if self.pose_source not in ("env", "dead_reckoning"):
            raise ConfigError(f"agent.pose_source: got {self.pose_source!r}, expected env "
                              "(GPS+compass) or dead_reckoning (integrate actions)")
        if not 0.0 < self.stop_distance:
            raise ConfigError(f"agent.stop_distance: got {self.stop_distance}, expected > 0 (m)")
        # zero or negative would make the agent stop on nothing (pixels) or see nothing (depths)
        if self.min_target_pixels < 1:
            raise ConfigError(f"got {self.min_target_pixels}, expected an integer >= 1", key="min_target_pixels")
        if not 0.0 < self.target_max_depth <= self.far_target_depth:
            raise ConfigError(f"got target_max_depth {self.target_max_depth}, far_target_depth "
                              f"{self.far_target_depth}, expected 0 < target_max_depth <= far_target_depth (m)",
                              key="target_max_depth")
        if self.confirm_frames < 1:
            raise ConfigError(f"got {self.confirm_frames}, expected an integer >= 1 (frames)", key="confirm_frames")
        if self.drop_radius < 0.0:
            raise ConfigError(f"got {self.drop_radius}, expected >= 0 (m)", key="drop_radius")


class CowAgent(Agent[Action]):
    """Frontier exploration until the localizer finds the goal, then go there, face it, Stop."""

    @classmethod
    def needs_privileged(cls, config: CowConfig) -> bool:
        return bool(getattr(localizer_class(config.localizer), "privileged", False))

    def __init__(self, config: CowConfig, device: str = "cpu") -> None:
        super().__init__(config, device)
        self.localizer = make_localizer(config.localizer, device=device)

    # ------------------------------------------------------------------------------ episode
    def reset(self, info: dict[str, Any]) -> None:
        self.goal = str(info["goal"])
        self.intrinsics = Intrinsics.from_info(info["camera"])
        self.map = TopDownMap(self.config.map, self.intrinsics)
        self.score = np.zeros(self.map.shape, np.float32)      # best relevance per cell
        self.far_score = np.zeros(self.map.shape, np.float32)  # the same, seen from afar
        self.height = np.zeros(self.map.shape, np.float32)     # height of that best point
        self.suppressed = np.zeros(self.map.shape, bool)       # dropped false positives
        self.hits = np.zeros(self.map.shape, np.int32)         # frames that detected the goal there
        self.blacklist = Blacklist()
        self.localizer.reset(info)
        self.spin_left = int(round(2 * math.pi / math.radians(30))) if self.config.spin else 0
        self.dead_reckoning = (DeadReckoning(self.intrinsics)
                               if self.config.pose_source == "dead_reckoning" else None)
        self.idle_turns = 0
        self.last_action: Action | None = None
        self.last_xy: np.ndarray | None = None
        self.frontier_goal: np.ndarray | None = None
        self.path: np.ndarray | None = None
        self.relevance: np.ndarray | None = None
        self.rgb: np.ndarray | None = None
        self.pose = np.zeros(4)
        self.target: np.ndarray | None = None
        self.frame_points = np.zeros((0, 3))  # this frame's detected points (world), for the stop check

    def _pose(self, obs: dict[str, Any]) -> np.ndarray:
        if self.dead_reckoning is None:
            return np.asarray(obs["pose"], dtype=float)
        if self.last_action is None:
            return np.asarray(self.dead_reckoning.reset(obs["depth"]), dtype=float)
        return np.asarray(self.dead_reckoning.update(self.last_action, obs["depth"]), dtype=float)

    def act(self, obs: dict[str, Any]) -> Action:
        pose = self.pose = self._pose(obs)
        if self.last_action == Action.MOVE_AHEAD and self.last_xy is not None \
                and np.hypot(*(pose[:2] - self.last_xy)) < 1e-3:
            self.map.mark_blocked(self.last_xy, pose[2])       # an obstacle the camera missed
        self.map.update(obs["depth"], pose)
        seen = self._localize(obs, pose)
        action = self._exploit(pose, seen)
        if action is None:
            action = self._spin_or_explore(pose)
        self.last_action, self.last_xy = action, pose[:2].copy()
        return action

    # ------------------------------------------------------------------------------ 2. localize
    def _localize(self, obs: dict[str, Any], pose: np.ndarray) -> int:
        """Detect the goal, lift detected pixels onto the map; returns how many pixels it covers."""
        self.rgb = obs["rgb"]
        self.relevance, mask = self.localizer.detect(obs, self.goal)
        self.frame_points = np.zeros((0, 3))
        n_pixels = int(np.count_nonzero(mask))
        if n_pixels == 0:
            return 0
        points, rc = depth_to_points(obs["depth"], self.intrinsics, pose, stride=1,
                                     max_depth=self.config.far_target_depth)
        # Detected pixels at floor height are the floor, not the goal: a coarse mask (a tile, a
        # blob) that spills onto the floor in front of the robot would otherwise put a target
        # at its feet.
        keep = mask[rc[:, 0], rc[:, 1]] & (points[:, 2] > self.map.config.floor_tolerance)
        points, rc = points[keep], rc[keep]
        scores = self.relevance[rc[:, 0], rc[:, 1]].astype(np.float32)
        ij = self.map.world_to_cell(points[:, :2])
        ok = self.map.in_bounds(ij)
        ij, scores, points = ij[ok], scores[ok], points[ok]
        self.frame_points = points
        ok = ~self.suppressed[ij[:, 0], ij[:, 1]]
        ij, scores, points = ij[ok], scores[ok], points[ok]
        # Near detections become targets at once; far ones (less reliable, often a glimpse
        # through a doorway) are kept aside and used only when exploration runs out.
        near = np.hypot(points[:, 0] - pose[0], points[:, 1] - pose[1]) <= self.config.target_max_depth
        if len(ij):
            cells = np.unique(ij[:, 0] * self.map.shape[1] + ij[:, 1])
            self.hits.flat[cells] += 1
        self._splat(self.score, ij[near], scores[near], points[near, 2])
        self._splat(self.far_score, ij[~near], scores[~near], points[~near, 2])
        return n_pixels

    def _splat(self, grid: np.ndarray, ij: np.ndarray, scores: np.ndarray, z: np.ndarray) -> None:
        """Each cell keeps its best score (and the height of that point)."""
        order = np.argsort(scores)          # ascending: the best point of a cell is written last
        flat = ij[order, 0] * self.map.shape[1] + ij[order, 1]
        better = scores[order] >= grid.flat[flat]
        grid.flat[flat[better]] = scores[order][better]
        self.height.flat[flat[better]] = z[order][better].astype(np.float32)

    def _target(self, pose: np.ndarray) -> np.ndarray | None:
        """The nearest map cell whose score passes the localizer's threshold, as (x, y, z)."""
        cells = np.argwhere((self.score >= max(self.config.localizer.threshold, 1e-6))
                            & (self.hits >= self.config.confirm_frames))
        if len(cells) == 0:
            return None
        xy = self.map.cell_to_world(cells)
        k = int(np.argmin(np.hypot(xy[:, 0] - pose[0], xy[:, 1] - pose[1])))
        return np.array([xy[k, 0], xy[k, 1], self.height[cells[k, 0], cells[k, 1]]])

    def _seen_at(self, target: np.ndarray) -> int:
        """How many of this frame's detected points lie within `drop_radius` (2-D) of the target:
        Stop needs the goal in view *there*, not a detection anywhere in the frame."""
        if not len(self.frame_points):
            return 0
        d = np.hypot(self.frame_points[:, 0] - target[0], self.frame_points[:, 1] - target[1])
        return int(np.count_nonzero(d <= max(self.config.drop_radius, self.map.resolution)))

    def _drop_target(self, target: np.ndarray) -> None:
        """A false positive (or unreachable): forget it and ignore detections there from now on."""
        centres = self.map.cell_to_world(np.argwhere(np.ones(self.map.shape, bool)))
        near = (np.hypot(centres[:, 0] - target[0], centres[:, 1] - target[1])
                <= self.config.drop_radius).reshape(self.map.shape)
        self.score[near] = 0.0
        self.far_score[near] = 0.0
        self.suppressed |= near

    # ------------------------------------------------------------------------------ 4. exploit
    def _exploit(self, pose: np.ndarray, seen_pixels: int) -> Action | None:
        target = self._target(pose)
        self.target = target
        if target is None:
            return None
        distance = float(np.hypot(target[0] - pose[0], target[1] - pose[1]))
        seen_pixels = self._seen_at(target) if seen_pixels else 0
        if distance <= self.config.stop_distance:
            if seen_pixels >= self.config.min_target_pixels:
                return Action.STOP
            turn = face_action(pose, target, self.intrinsics.camera_height)
            if turn is not None:
                return turn
            self._drop_target(target)  # facing it and it is not there
            return None
        reach = self._within(target, self.config.stop_distance)
        self.path = plan(self.map, pose[:2], goal_mask=reach & self.map.traversable)
        action = next_action(self.path, pose, tmap=self.map)
        if self.path is None:
            self._drop_target(target)  # unreachable on what we know
            return None
        if action is None:
            # At the end of the path, yet farther than stop_distance (the path ends within a cell
            # or two of it): stop if the goal is in view from here, else face it, else drop it.
            if seen_pixels >= self.config.min_target_pixels \
                    and distance <= self.config.stop_distance + ARRIVE_SLACK:
                return Action.STOP
            turn = face_action(pose, target, self.intrinsics.camera_height)
            if turn is None:
                self._drop_target(target)
            return turn
        return self._level(pose) or action

    def _within(self, xy: np.ndarray, radius: float) -> np.ndarray:
        i0, j0 = self.map.world_to_cell(np.asarray(xy[:2], float))
        ii, jj = np.indices(self.map.shape)
        return (ii - i0) ** 2 + (jj - j0) ** 2 <= (radius / self.map.resolution) ** 2

    # ------------------------------------------------------------------------------ 3. explore
    def _level(self, pose: np.ndarray) -> Action | None:
        """Camera back to horizontal before driving: the map and the localizer see most then."""
        if pose[3] > math.radians(15):
            return Action.LOOK_DOWN
        if pose[3] < -math.radians(15):
            return Action.LOOK_UP
        return None

    def _spin_or_explore(self, pose: np.ndarray) -> Action:
        level = self._level(pose)
        if level is not None:
            return level
        if self.spin_left > 0:
            self.spin_left -= 1
            return Action.ROTATE_LEFT
        # The inflated map first; if it leaves no reachable frontier (a corridor that 0.125 m
        # cells plus inflation close), squeeze: plan on known-free cells without inflation and let
        # the env's collision check (and mark_blocked) settle what the map cannot resolve.
        for traversable in (None, self.map.state == FREE_CELL):
            action = self._explore(pose, traversable)
            if action is not None:
                self.idle_turns = 0
                return action
        # Nothing left to explore that we can reach: go and check what was only seen from afar.
        if (self.far_score > 0).any() and not (self.score > 0).any():
            self.score = np.maximum(self.score, self.far_score)
            self.far_score[:] = 0.0
            action = self._exploit(pose, 0)
            if action is not None:
                return action
        # Still nothing: look around once more, then give up.
        self.path = None
        self.idle_turns += 1
        return Action.ROTATE_LEFT if self.idle_turns <= 12 else Action.STOP

    def _explore(self, pose: np.ndarray, traversable: np.ndarray | None) -> Action | None:
        """Drive towards the chosen frontier; None if no frontier can be reached this way."""
        tmap = self.map if traversable is None else None
        for _ in range(3):
            field = geodesic_field(self.map, pose[:2], traversable=traversable)
            if field is None:
                return None
            frontier = select_frontier(self.map, find_frontiers(self.map), pose[:2],
                                       strategy=self.config.frontier_strategy, field=field,
                                       blacklist=self.blacklist)
            if frontier is None:
                return None
            self.frontier_goal = frontier.target_xy
            if frontier.goal_cell is None:
                self.path = plan(self.map, pose[:2], goal_xy=frontier.target_xy, field=field)
            else:
                self.path = field.path_to(frontier.goal_cell)
            action = next_action(self.path, pose, tmap=tmap)
            if action is not None:
                return action
            self.blacklist.add(frontier.target_xy)  # reached (or unreachable) yet still a frontier
        return None

    # ------------------------------------------------------------------------------ pictures
    def debug_frame(self) -> np.ndarray | None:
        """The agent's own map: free/occupied/unknown, path, target cells, relevance overlay."""
        from embodied import viz

        if not hasattr(self, "map"):
            return None
        return viz.cow_frame(self)
