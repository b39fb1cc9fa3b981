"""CSR for two-phase room rearrangement: scene graphs of both phases, what changed, put it back.

Continuous Scene Representations (Gadre, Ehsani, Song, Mottaghi, CVPR 2022) solve the
walkthrough -> unshuffle task by building a scene graph of each phase (``embodied.perception.
csr_tracking``: contrastive object and relation features from the CSR encoders), matching the two
graphs' objects, and moving back what they find changed. Two agents share this module:

``csr`` (this project's):

1. **Walkthrough**: explore the room with the camera tilted 30 deg down (the tables and the floor
   in view, and still the map): a spin, then CoW's frontier exploration on the agent's own depth
   map (``embodied.perception.mapping``), driven on the 0.25 m lattice (``csr_navigation``); then
   a closer look at what was seen only from afar (a box too small to embed), until
   ``walkthrough_budget`` steps. Every frame feeds graph 1. Then ``done``.
2. **Unshuffle**: the walkthrough's actions are replayed (the same start pose, so the same views,
   as far as the room lets -- a refused move ends the replay) while graph 2 is built, then what
   was seen only from afar is looked at closer. This covers the room more than the release's 50
   replayed steps of a learned explorer.
3. **Decide** with ``rearrange_changes.detect_changes(rule="csr")``: matching within a category,
   3-D positions and relation (edge) features to decide what moved, openness changes from the
   parts' positions.
4. **Fix**, nearest first: for a moved object, walk to a spot in reach of where it is now, facing
   it, ``pickup_<type>``; walk to a spot in reach of where the walkthrough saw it, facing it,
   ``drop_held_object_with_snap``; a drop that did not land there is picked up again and tried
   from another spot. For an openness change, ``open_by_type_<type>`` in front of the part.
   Then ``done``.

``csr_paper`` keeps the release's rules (``rule: paper``): graph matching on features alone
(no category or distance gates), boxes under 0.8 % of the image ignored, "moved" = scene-feature
similarity of a matched pair under 0.8, openness never fixed; the same exploration and
navigation, so the two differ only in what the method decides.

Detection (``agent.detector``, ``embodied.perception.detection``): ground-truth boxes by default
(the privileged ``boxes`` observation: the "ground-truth detection" setting, stated with every
result), used as a detector's output would be -- a box and a category per object; a learned
detector plugs in as ``module:Class`` and the agent then needs no privileged env. The boxes'
instance ids are never read: objects are told apart by their features and positions only.
Everything else the agent uses is rgb, depth, pose and ``held``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from embodied.agents.base import Agent
from embodied.agents.csr_config import (DEFAULT_MODELS, LOOK, MOVES, PITCHES,  # noqa: F401 (re-exported)
                                        CSRAgentConfig, CSRPaperConfig)
from embodied.agents.csr_navigation import QUARTER, LatticeNav, move_action_offset
from embodied.interfaces import (REARRANGE_ACTION_NAMES, REARRANGE_FIXED_ACTIONS, REARRANGE_OPENABLE_TYPES,
                                 REARRANGE_PICKUPABLE_TYPES, open_action_name, pickup_action_name)
from embodied.perception.csr_encoder import CSREncoder, box_area_fraction, load_encoder
from embodied.perception.csr_tracking import GraphBuilder
from embodied.perception.detection import detector_class, make_detector
from embodied.perception.geometry import Intrinsics
from embodied.perception.mapping import TopDownMap
from embodied.perception.rearrange_changes import Change, ChangeRules, detect_changes
from embodied.perception.scene_graph import box_position

__all__ = ["CSRAgentConfig", "CSRPaperConfig", "CSRAgent", "DEFAULT_MODELS"]

_ENCODERS: dict[str, CSREncoder] = {}


def _encoder(path: str) -> CSREncoder:
    """Checkpoints are loaded once per process (an episode must not pay ~0.3 s for it)."""
    key = str(Path(path).resolve())
    if key not in _ENCODERS:
        _ENCODERS[key] = load_encoder(key)
    return _ENCODERS[key]


@dataclass
class _Task:
    change: Change
    stage: str                      # "pickup" | "drop" | "open"
    tries: int = 0
    drops: int = 0
    failed_spots: set = field(default_factory=set)


class CSRAgent(Agent[int]):
    """The ``csr`` and ``csr_paper`` agents (module docstring)."""

    privileged: ClassVar[bool] = True       # ground-truth boxes: the detection the results state

    @classmethod
    def needs_privileged(cls, config: CSRAgentConfig) -> bool:
        return bool(getattr(detector_class(config.detector), "privileged", False))

    def __init__(self, config: CSRAgentConfig, device: str = "cpu") -> None:
        super().__init__(config, device)
        self.detector = make_detector(config.detector)
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self.scene = _encoder(config.scene_model)
        self.object = _encoder(config.object_model)
        self.rules = ChangeRules(rule=config.rule)

    # ------------------------------------------------------------------------------- episode
    def reset(self, info: dict[str, Any]) -> None:
        actions = list(info.get("actions", REARRANGE_ACTION_NAMES))
        fixed = REARRANGE_ACTION_NAMES[:len(REARRANGE_FIXED_ACTIONS)]
        if tuple(actions[:len(fixed)]) != fixed:
            raise ValueError(f"{self.config.id}: the env's actions do not start with {fixed}")
        self.index = {name: i for i, name in enumerate(actions)}
        # the types this env's pickup / open actions name (the iTHOR env: the challenge's 62 + 10)
        self.pickupable = tuple(info.get("pickupable_types", REARRANGE_PICKUPABLE_TYPES))
        self.openable = tuple(info.get("openable_types", REARRANGE_OPENABLE_TYPES))
        self.camera = dict(info["camera"])
        self.intrinsics = Intrinsics.from_info(self.camera)
        self.camera_height = float(self.camera.get("height_m", self.intrinsics.camera_height))
        categories = info.get("categories", {})
        self.category_names = {int(v): str(k) for k, v in categories.items()}
        if hasattr(self.detector, "reset"):
            self.detector.reset(info)
        self.map = TopDownMap(self.config.map, self.intrinsics)
        self.nav = LatticeNav(self.map)
        self.version = 0
        self.phase = 0
        self.phase_steps = 0
        self.builders = [self._builder(), None]
        self.walk_states: list[tuple[tuple[int, int], int, int]] = []
        self.replay: list[tuple[tuple[int, int], int, int]] = []
        self.mode = "spin"
        self.spin_left = 3
        self.goal: tuple[tuple[int, int], int, int] | None = None   # (cell, heading, pitch)
        self.failed_targets: set[tuple[int, int]] = set()
        self.sightings: list[np.ndarray] = []
        self.visited_sightings: list[np.ndarray] = []
        self.changes: list[Change] = []
        self.tasks: list[_Task] = []
        self.last: str | None = None
        self.last_state: tuple[tuple[int, int], int, int] | None = None
        self.rgb: np.ndarray | None = None
        self.pose = np.zeros(4)
        self.held = -1
        self.path: list[tuple[int, int]] = []
        self.log: list[str] = []
        self.mode_steps: dict[str, int] = {}
        self.walk_views: dict[tuple, np.ndarray] = {}
        self.state: tuple | None = None

    def _builder(self) -> GraphBuilder:
        c = self.config
        return GraphBuilder(self.scene, self.object, self.camera, max_edges=c.max_edges,
                            min_box_frac=c.min_box_frac, gate=c.gate, gate_distance=c.gate_distance,
                            edge_every=c.edge_every, max_views=c.max_views)

    @property
    def graphs(self) -> list[Any]:
        return [b.graph if b is not None else None for b in self.builders]

    # ------------------------------------------------------------------------------- state
    def _state(self, pose: np.ndarray) -> tuple[tuple[int, int], int, int]:
        return (self.nav.cell(pose[:2]), int(round(pose[2] / QUARTER)) % 4,
                int(round(pose[3] / LOOK)))

    def act(self, obs: dict[str, Any]) -> int:
        pose = self.pose = np.asarray(obs["pose"], dtype=float)
        self.rgb = obs["rgb"]
        self.held = int(obs["held"])
        phase = int(obs["phase"])
        state = self.state = self._state(pose)
        if phase == 0 and state not in self.walk_views:
            self.walk_views[state] = obs["rgb"][::2, ::2].copy()   # for the videos (viz_rearrange)
        if phase != self.phase:
            self._start_unshuffle()
        elif self.last in MOVES and self.last_state is not None and state[0] == self.last_state[0]:
            cell, heading, _ = self.last_state
            self.nav.block(cell, (heading + MOVES.index(self.last)) % 4)
        self.phase_steps += 1
        self.map.update(obs["depth"], pose)
        self.version += 1
        if self.mode in ("spin", "explore", "revisit", "replay"):
            self._observe(obs, pose)
        if self.phase == 0 and (not self.walk_states or self.walk_states[-1] != state):
            self.walk_states.append(state)
        name = self._decide(obs, pose, state)
        self.last, self.last_state = name, state
        self.log.append(name)
        key = f"{self.phase}:{self.mode}"
        self.mode_steps[key] = self.mode_steps.get(key, 0) + 1
        return self.index[name]

    def _observe(self, obs: dict[str, Any], pose: np.ndarray) -> None:
        """Feed the frame's boxes (ground truth, instance ids dropped) to this phase's graph and
        keep the far sightings (boxes too small to embed) for a closer look."""
        boxes, cats = self.detector.detect(obs)
        depth = obs["depth"][..., 0]
        self.builders[self.phase].add_frame(obs["rgb"], boxes, cats, depth, pose)
        if not len(boxes):
            return
        frac = box_area_fraction(boxes, *depth.shape)
        for k in np.flatnonzero(frac < self.config.min_box_frac):
            p = box_position(depth, boxes[k], self.intrinsics, pose)
            if not np.all(np.isfinite(p)):
                continue
            if any(np.linalg.norm(p[:2] - q[:2]) < 0.5 for q in self.sightings + self.visited_sightings):
                continue
            self.sightings.append(p)

    # ------------------------------------------------------------------------------- phases
    def _start_unshuffle(self) -> None:
        self.phase = 1
        self.phase_steps = 0
        self.builders[1] = self._builder()
        self.replay = list(self.walk_states)
        self.mode = "replay"
        self.replay_tries = 0
        self.goal = None
        self.sightings, self.visited_sightings = [], []
        self.failed_targets = set()

    def _decide(self, obs: dict[str, Any], pose: np.ndarray, state: tuple) -> str:
        c = self.config
        if self.phase == 0:
            if self.phase_steps >= c.walkthrough_budget:
                return "done"
            if self.mode == "spin":
                if state[2] != c.explore_pitch:
                    return "look_down" if state[2] > c.explore_pitch else "look_up"
                if self.spin_left > 0:
                    self.spin_left -= 1
                    return "rotate_left"
                self.mode = "explore"
            if self.mode == "explore":
                name = self._explore(state)
                if name is not None:
                    return name
                self.mode, self.revisit_steps = "revisit", 0
            if self.mode == "revisit":
                name = self._revisit(state)
                if name is not None:
                    return name
            return "done"
        # unshuffle
        if self.mode == "replay":
            while self.replay:
                name = self._go(state, self.replay[0])
                if name is not None and self.replay_tries < 8:
                    self.replay_tries += 1
                    return name
                self.replay.pop(0)            # there (or out of reach: the room differs there)
                self.replay_tries = 0
            self.mode, self.revisit_steps = "revisit", 0
            self.sightings = self._missing() + self.sightings
            self.goal = None
        if self.mode == "revisit":
            name = self._revisit(state)
            if name is not None:
                return name
            self._plan_fixes()
            self.mode = "fix"
        if self.mode == "fix":
            name = self._fix(obs, pose, state)
            if name is not None:
                return name
        return "done"

    # ------------------------------------------------------------------------------- exploring
    def _explore(self, state: tuple) -> str | None:
        """CoW's frontier exploration on the lattice: the nearest reachable known-free point
        with unknown space within 0.5 m; at arrival, turn to the side with the most unknown."""
        for _ in range(4):
            if self.goal is None:
                dist, _ = self.nav.distances(state[0], self.version)
                cand = self.nav.known_free() & self.nav.unknown_near() & (dist > 0)
                for cell in self.failed_targets:
                    if 0 <= cell[0] < cand.shape[0] and 0 <= cell[1] < cand.shape[1]:
                        cand[cell] = False
                if not cand.any():
                    return None
                d = np.where(cand, dist, np.iinfo(np.int32).max)
                cell = tuple(int(v) for v in np.unravel_index(np.argmin(d), d.shape))
                self.goal = (cell, self._unknown_heading(cell), self.config.explore_pitch)
            name = self._go(state, self.goal)
            if name is not None:
                return name
            gi, gj = self.goal[0]               # reached or unreachable: never again, nor next to it
            self.failed_targets.update((gi + a, gj + b) for a in range(-2, 3) for b in range(-2, 3)
                                       if abs(a) + abs(b) <= 2)
            self.goal = None
        return None

    def _unknown_heading(self, cell: tuple[int, int]) -> int:
        """The heading whose 90 deg view from ``cell`` has the most unknown cells within 3 m."""
        xy = self.nav.xy(cell)
        i, j = self.map.world_to_cell(xy)
        r = int(3.0 / self.map.resolution)
        i0, i1, j0, j1 = max(0, i - r), min(self.map.shape[0], i + r + 1), max(0, j - r), min(self.map.shape[1], j + r + 1)
        unknown = ~self.map.known[i0:i1, j0:j1]
        ii, jj = np.nonzero(unknown)
        if len(ii) == 0:
            return 0
        ang = np.arctan2(ii + i0 - i, jj + j0 - j)            # rows are y, columns x
        heads = np.round(ang / QUARTER).astype(int) % 4
        return int(np.bincount(heads, minlength=4).argmax())

    def _revisit(self, state: tuple) -> str | None:
        """Look closer at far sightings, nearest first, within ``revisit_budget`` steps."""
        self.revisit_steps = getattr(self, "revisit_steps", 0) + 1
        if self.revisit_steps > self.config.revisit_budget:
            return None
        for _ in range(4):
            if self.goal is None:
                if not self.sightings:
                    return None
                spots = [(self._spot(p, 1.0), k) for k, p in enumerate(self.sightings)]
                spots = [(s, k) for s, k in spots if s is not None]
                if not spots:
                    self.visited_sightings += self.sightings
                    self.sightings = []
                    return None
                (spot, _), k = min(spots, key=lambda sk: sk[0][1])
                self.visited_sightings.append(self.sightings.pop(k))
                self.goal = spot
            name = self._go(state, self.goal)
            if name is not None:
                return name
            self.goal = None
        return None

    def _missing(self) -> list[np.ndarray]:
        """Where the walkthrough saw a pickupable that the unshuffle graph has nothing of its
        category near: look there again (if it is still missing, it was moved)."""
        walk, unshuffle = self.graphs
        u_pos, u_cat = unshuffle.positions(), unshuffle.categories()
        out = []
        for p, cat in zip(walk.positions(), walk.categories()):
            if cat not in self.pickupable or not np.all(np.isfinite(p)):
                continue
            near = [q for q, c in zip(u_pos, u_cat) if c == cat and np.all(np.isfinite(q))
                    and np.linalg.norm(q - p) < 0.5]
            if not near:
                out.append(p)
        return out

    # ------------------------------------------------------------------------------- moving
    def _go(self, state: tuple, goal: tuple) -> str | None:
        """The next action towards lattice ``goal`` = (cell, heading, pitch); None when there
        (or when it cannot be reached)."""
        cell, heading, pitch = state
        target, want_heading, want_pitch = goal
        if cell != target:
            dist, parent = self.nav.distances(cell, self.version)
            if dist[target] < 0:
                return None
            self.path = self.nav.path(parent, target)
            direction = self.nav.direction(self.path[0], self.path[1])
            return MOVES[move_action_offset(direction, heading)]
        self.path = []
        turn = (want_heading - heading) % 4
        if turn:
            return "rotate_left" if turn <= 2 else "rotate_right"
        if pitch != want_pitch:
            return "look_down" if pitch > want_pitch else "look_up"
        return None

    def _spot(self, p: np.ndarray, reach: float | None = None, avoid: set | None = None,
              rivals: list[np.ndarray] | None = None) -> tuple[tuple, float] | None:
        """The cheapest lattice pose from which point ``p`` (start frame, z up) is in reach
        and in view, and its cost in actions (None if none is reachable). With ``rivals`` (other
        objects of the category to pick up) only points nearer to ``p`` than to every rival by
        0.15 m qualify: ``pickup_<type>`` takes the nearest visible one."""
        reach = self.config.reach if reach is None else reach
        cell, heading, pitch = self._state(self.pose)
        dist, _ = self.nav.distances(cell, self.version)
        pts = self.nav.points_xy()
        d = np.hypot(pts[..., 0] - p[0], pts[..., 1] - p[1])
        ok = (dist >= 0) & (d <= reach) & (d >= self.config.min_reach)
        if avoid:
            for a in avoid:
                ok[a] = False
        for q in rivals or []:
            ok &= np.hypot(pts[..., 0] - q[0], pts[..., 1] - q[1]) > d + 0.15
        if not ok.any():
            return None
        best = None
        for i, j in zip(*np.nonzero(ok)):
            bearing = math.atan2(p[1] - pts[i, j, 1], p[0] - pts[i, j, 0])
            h = int(round(bearing / QUARTER)) % 4
            if abs(math.remainder(bearing - h * QUARTER, 2 * math.pi)) > math.radians(40):
                continue
            elev = math.atan2(p[2] - self.camera_height, d[i, j])
            pt = min(PITCHES, key=lambda k: abs(k * LOOK - elev))
            turns = min((h - heading) % 4, (heading - h) % 4) if (i, j) == cell else 1
            cost = float(dist[i, j]) + turns + abs(pt - pitch) + 0.5 * abs(d[i, j] - 0.9)
            if best is None or cost < best[1]:
                best = (((int(i), int(j)), h, pt), cost)
        return best

    # ------------------------------------------------------------------------------- fixing
    def _plan_fixes(self) -> None:
        walk, unshuffle = self.graphs
        pick = self.pickupable
        opens = self.openable if self.config.fix_openness else ()
        self.changes = detect_changes(walk, unshuffle, self.rules, pickupable=pick,
                                      openable=self.openable)
        self.tasks = []
        for ch in self.changes:
            if ch.kind == "move" and ch.walk_position is not None and ch.unshuffle_position is not None:
                self.tasks.append(_Task(ch, "pickup"))
            elif ch.kind == "open" and ch.category in opens and ch.unshuffle_position is not None:
                self.tasks.append(_Task(ch, "open"))
        self.goal = None

    def _fix(self, obs: dict[str, Any], pose: np.ndarray, state: tuple) -> str | None:
        while self.tasks:
            task = self.tasks[0]
            if self.last_action_was(task) is not None:
                self._after_interaction(task, obs, pose)
                continue
            if task.stage == "return":              # snaps back where it was taken from
                task.pending = True                 # type: ignore[attr-defined]
                return "drop_held_object_with_snap"
            target = np.asarray(task.change.walk_position if task.stage == "drop"
                                else task.change.unshuffle_position)
            if self.goal is None:
                rivals = self._rivals(task, target) if task.stage == "pickup" else None
                spot = self._spot(target, avoid=task.failed_spots, rivals=rivals)
                if spot is None and rivals:
                    spot = self._spot(target, avoid=task.failed_spots)
                if spot is None:
                    self._give_up(task)
                    continue
                self.goal = spot[0]
            name = self._go(state, self.goal)
            if name is not None:
                return name
            # at the spot: interact
            task.pending = True               # type: ignore[attr-defined]
            if task.stage == "pickup":
                return pickup_action_name(task.change.category)
            if task.stage == "drop":
                return "drop_held_object_with_snap"
            return open_action_name(task.change.category)
        return None

    def _rivals(self, task: _Task, target: np.ndarray) -> list[np.ndarray]:
        """Where the unshuffle graph has other objects of the task's category."""
        graph = self.graphs[1]
        return [p for p, c in zip(graph.positions(), graph.categories())
                if c == task.change.category and np.all(np.isfinite(p))
                and np.linalg.norm(p[:2] - target[:2]) > 0.3]

    def last_action_was(self, task: _Task) -> bool | None:
        return True if getattr(task, "pending", False) else None

    def _after_interaction(self, task: _Task, obs: dict[str, Any], pose: np.ndarray) -> None:
        """Check what the last interaction did and move the task on."""
        task.pending = False                  # type: ignore[attr-defined]
        spot = self.goal[0] if self.goal is not None else None
        self.goal = None
        self.log.append(f"{task.stage} {task.change.category}: held {self.held}")
        if task.stage == "pickup":
            want = self.pickupable.index(task.change.category)
            if self.held == want:
                target = np.asarray(task.change.unshuffle_position)
                if any(np.linalg.norm(p[:2] - target[:2]) < 0.15 for p in self._seen(task.change.category, obs, pose)):
                    task.stage = "return"        # another one of its kind came: put it back first
                    if spot is not None:
                        task.failed_spots.add(spot)
                    return
                task.stage, task.failed_spots, task.tries = "drop", set(), 0
                return
        elif task.stage == "return":
            task.stage = "pickup"
        elif task.stage == "drop":
            if self._landed(task, obs, pose):
                self.tasks.pop(0)
                return
            task.drops += 1
            if task.drops >= self.config.max_tries:
                self._give_up(task)           # it lies elsewhere now; more tries only cost steps
                return
            task.stage = "pickup"          # it lies in front of us: take it again, another spot
            seen = self._nearest_seen(task, obs, pose)
            if seen is not None:
                task.change.unshuffle_position = tuple(float(v) for v in seen)
        else:
            self.tasks.pop(0)
            return
        if spot is not None:
            task.failed_spots.add(spot)
        task.tries += 1
        if task.tries >= self.config.max_tries:
            self._give_up(task)

    def _give_up(self, task: _Task) -> None:
        self.tasks.remove(task)
        self.goal = None
        self.log.append(f"gave up {task.change.category} ({task.stage})")

    def _seen(self, category: str, obs: dict[str, Any], pose: np.ndarray) -> list[np.ndarray]:
        """3-D positions of the detections of ``category`` in this frame."""
        boxes, cats = self.detector.detect(obs)
        out = []
        for box, cat in zip(boxes, cats):
            if cat != category:
                continue
            p = box_position(obs["depth"][..., 0], box, self.intrinsics, pose)
            if np.all(np.isfinite(p)):
                out.append(p)
        return out

    def _landed(self, task: _Task, obs: dict[str, Any], pose: np.ndarray) -> bool:
        goal = np.asarray(task.change.walk_position)
        return any(np.linalg.norm(p[:2] - goal[:2]) < 0.12 for p in self._seen(task.change.category, obs, pose))

    def _nearest_seen(self, task: _Task, obs: dict[str, Any], pose: np.ndarray) -> np.ndarray | None:
        seen = self._seen(task.change.category, obs, pose)
        return min(seen, key=lambda p: float(np.linalg.norm(p[:2] - pose[:2]))) if seen else None

    # ------------------------------------------------------------------------------- pictures
    def debug_frame(self) -> np.ndarray | None:
        from embodied import viz_rearrange

        return viz_rearrange.csr_frame(self)
