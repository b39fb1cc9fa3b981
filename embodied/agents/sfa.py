"""SfA — Structure from Action (Nie, Gadre et al. 2022), heuristic version, on any articulation env.

The method, top to bottom:

1. **Propose.** From the fused world-frame cloud (``points`` / ``num_points``), estimate a normal
   per point (PCA of its neighbours, oriented towards the cameras). Candidates are, first, points
   that stand proud towards the camera of their local plane or of the wider face around them
   (handles; ``face_offsets`` finds a handle fixed flush to its door), then points of faces that
   face a camera, one per grid cell, farthest from everything tried or found first. A candidate
   near a part already found (anything seen of it) or a point that moved nothing is skipped; a
   handle whose outward pull moved nothing gets one lifting pull (a chest's lid turns up, not
   out). A handle seen at the start that an opened part now hides gets that part pushed back.
2. **Act.** Grab the candidate and pull it ``pull_distance`` m along the normal of its face,
   towards the camera (a door or a drawer opens outwards).
2b. **Look** (the env's view action, ``views: true``; each view costs an interaction): before
   lifting a top face, look from above (a lid lifted at its front turns its top away from a
   low camera), and lift there front edge first; when a motion cannot be fitted and the cloud
   reaches the image border (a small drawer pulled out of the frame), look again from further
   away and fit the motion to that view; at the end, look from where the episode started.
   ``views: false`` keeps the cameras where the env put them.
3. **Observe and segment.** Points of the "before" cloud with no "after" neighbour within
   ``change_threshold`` changed (surfaces seen at a grazing angle excluded: they change by cm
   when they move by mm). Changed clusters near the touched point seed the moving part.
4. **Rigid motion.** ICP from the seed onto the "after" cloud, initialised with the commanded
   displacement and blind to points the motion turns away from every camera, then
   ``ransac_rigid``; the part is then every changed point that motion carries onto the "after"
   cloud, and the motion is refit on it. A fit must carry the grasped point where the hand went
   (``gripper_shift``); when it does not, swings about the part's edges, a pure slide and turns
   in the face's own plane (a wheel) are tried in turn.
5. **Joint.** ``estimate_joint`` (screw decomposition) gives type, axis, origin and state; a slide
   is squared to its front when the data cannot tell the two apart. All parts hang off a fixed
   base, so every estimate is in the world frame, and ``aggregate_joint`` combines a part's
   estimates, each weighted by how far it moved the part and by its points.
6. **Follow up.** A part that moved little is pulled again along the joint just estimated (then
   back, if that moved nothing), for a larger, better-conditioned motion.
7. **Aggregate.** Each part keeps its points in the start pose: the first seen, plus what each
   later motion brought into view, carried back through its accumulated motion; at the end,
   the points of the start clouds that this geometry covers are the part as first seen.
8. **Stop and model.** When no candidate is left or the interaction budget is spent, send
   ``distance = 0`` ("done") with the estimate attached under ``"estimate"`` (the env scores it
   against the ground truth, see ``embodied.envs.articulation_metrics``), and export an
   ``ArticulatedModel`` as URDF into ``<export_dir>/<episode_id>/`` (by default the run's
   ``urdf/`` folder).

The agent reads ``points``, ``num_points``, ``depth``, ``intrinsics`` and ``extrinsics`` (and
``rgb`` for its debug frame); it is not privileged, so its env hands out no ``segmentation``
(ground truth, which the env scores with).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from embodied.agents.base import Agent
from embodied.agents.sfa_motion import MotionFits, joint_from_motion
from embodied.agents.sfa_views import LIFT_COS, TOP_ELEVATION, Looking, camera_elevation
from embodied.config import AgentConfig, ConfigError
from embodied.interfaces import ArticulationAction
from embodied.perception.articulated_model import ArticulatedModel, PartModel, export_urdf
from embodied.perception.articulation import JointEstimate, aggregate_joint, joint_motion, transform_points
from embodied.perception.pointcloud import (clusters, face_offsets, facing_cameras, in_free_space,
                                            normals_and_offsets, one_sidedness, voxel_downsample)

NO_ARTICULATION = "no articulation found"
#: m: changed clusters this close to the touched point seed the moving part.
SEED_RADIUS = 0.1
#: m: face candidates farther than this from every tried point and known part rank alike.
SPREAD_CAP = 0.25
#: m: a pull that carried its grasp point less than this hardly moved the part.
WEAK_SHIFT = 0.015
#: below this cosine between normal and view ray a surface is seen at a grazing angle.
GRAZING_COS = 0.25
#: m: a point this much nearer than the surface its pixel saw before lies in free space.
FREE_MARGIN = 0.02
#: m: voxel of a part's aggregated points.
MODEL_VOXEL = 0.005
#: m: a part first seen away from its start pose claims moved start points this close to it.
START_RADIUS = 0.05
#: two parts whose start-pose points overlap by this share are one (``_share_start_space``).
START_OVERLAP = 0.5
#: m: a stale part's point covers a moved start point this close (``_along_joint``).
START_COVER = 0.02
#: m: the face around a handle candidate that tells a handle from a proud corner.
HANDLE_SURROUND = 0.08
#: a gripper that moved while fewer points than this changed in view moved something unseen.
UNSEEN_CHANGE = 500
#: m: a start-cloud point this close to a part's start-pose geometry is the part's.
COVER_RADIUS = 0.006
#: m: a remembered handle with no point of the cloud this close is hidden; a part within this
#: of the line of sight hides it.
HIDDEN_GAP = 0.02
#: m: a part moved less than this (at its far edge) is not pushed back; the longest push.
CLOSE_MIN_SHIFT = 0.03
MAX_PULL = 0.45
#: a handle candidate found by ``face_offsets`` alone is a group of at least this many proud
#: points (fewer: a corner's speck).
HANDLE_MIN_POINTS = 5
#: a face is a candidate when the cosine between its normal and the view ray exceeds this.
FACING_COS = 0.15


@dataclass
class SfaConfig(AgentConfig):
    """SfA's settings (metres unless named otherwise)."""

    id: str = "sfa"
    #: interactions at most (also capped by the env's budget minus one, kept for "done").
    max_interactions: int = 9
    pull_distance: float = 0.12
    #: neighbours for the normal / local plane of a point.
    normal_neighbors: int = 24
    #: a point this far in front of its local plane (towards the camera) is a handle candidate.
    handle_offset: float = 0.01
    #: grid cell for face candidates (one candidate per cell).
    face_grid: float = 0.12
    #: a point with no point of the other cloud within this distance changed.
    change_threshold: float = 0.01
    #: changed points closer than this are one group.
    cluster_radius: float = 0.025
    #: fewer changed points than this is "nothing moved".
    min_part_points: int = 50
    #: a candidate this close to a failed try or a known part is skipped.
    skip_radius: float = 0.06
    #: stop after this many interactions in a row moved nothing new; None: use the whole budget.
    patience: int | None = None
    #: follow-up pulls per found part along its estimated joint (see SfaAgent.refinement).
    refine_pulls: int = 2
    #: a part moved less than this so far is followed up before anything new is tried.
    refine_below_deg: float = 20.0
    refine_below_m: float = 0.06
    #: rank face candidates with a learned interaction scorer: "learned" (the weights shipped
    #: with embodied, trained on the train split) or a path to weights; None: by cell size.
    scorer: str | None = None
    #: use the env's view action (look again from further away or higher up when a motion
    #: cannot be explained from here); False: the cameras never move.
    views: bool = True
    #: view actions per object at most (each costs one interaction).
    max_views: int = 3
    icp_iterations: int = 30
    ransac_threshold: float = 0.01
    seed: int = 0
    #: write <export_dir>/<episode_id>/<episode_id>.urdf at the end. None: under the run's
    #: folder, <run.output>/urdf (when run by the runner, which passes it); "" : no export.
    export_dir: str | None = None

    def __post_init__(self) -> None:
        if self.max_interactions < 1:
            raise ConfigError(f"agent.max_interactions: got {self.max_interactions}, expected >= 1")
        if not 0.0 < self.pull_distance <= 0.5:
            raise ConfigError(f"agent.pull_distance: got {self.pull_distance}, expected (0, 0.5] m")
        for name in ("change_threshold", "cluster_radius", "skip_radius", "ransac_threshold",
                     "face_grid"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"agent.{name}: got {getattr(self, name)}, expected > 0 (m)")
        if self.normal_neighbors < 3:  # a plane (a normal) needs three points
            raise ConfigError(f"got {self.normal_neighbors}, expected an integer >= 3", key="normal_neighbors")
        for name in ("min_part_points", "icp_iterations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)}, expected an integer >= 1", key=name)
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"got {self.patience}, expected an integer >= 1 or null (the whole budget)",
                              key="patience")
        for name in ("refine_pulls", "refine_below_deg", "refine_below_m"):
            if getattr(self, name) < 0:
                raise ConfigError(f"got {getattr(self, name)}, expected >= 0", key=name)
        if self.max_views < 0:
            raise ConfigError(f"got {self.max_views}, expected an integer >= 0", key="max_views")
        if self.handle_offset <= 0:  # at 0 every point of a flat face would be a "handle"
            raise ConfigError(f"got {self.handle_offset}, expected > 0 (m)", key="handle_offset")


@dataclass
class _Part:
    """A part found by interaction: rest points (first seen), current points, joint estimates."""

    rest_points: np.ndarray
    current_points: np.ndarray
    estimates: list[JointEstimate]
    #: where the last pull that moved it held it, carried along by that motion (on the part).
    grasp: np.ndarray
    #: how far that motion carried the grasp point (m, world vector).
    grasp_shift: np.ndarray
    #: the pull that found it: where it was grabbed and which way it was pulled.
    touch: np.ndarray
    pull: np.ndarray
    #: 4x4 rigid motion from its pose at the episode's start to its pose now (as estimated).
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))
    #: its points in the start pose, gathered over all its motions (see SfaAgent._aggregate).
    canonical: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    #: follow-up pulls made on it (see SfaAgent.refinement).
    refined: int = 0
    #: pushed back to its start to unhide what it hid (see SfaAgent._unhide).
    closed: bool = False

    @property
    def joint(self) -> JointEstimate:
        return aggregate_joint(self.estimates)


@dataclass
class _Motion:
    """One pull's evidence between segmentation and fit: kept while the agent looks again."""

    before: np.ndarray            # the cloud before the pull
    normals: np.ndarray           # its normals
    changed: np.ndarray           # rows of ``before`` that changed
    seed: np.ndarray              # rows of ``before`` that seed the moving part
    point: np.ndarray
    direction: np.ndarray
    distance: float
    gripper: np.ndarray | None
    entry: dict[str, Any]         # the pull's log entry
    radius: float
    min_points: int
    fit_threshold: float
    before_view: tuple[np.ndarray, np.ndarray, np.ndarray]   # depth, K, E before the pull


# ------------------------------------------------------------------------------------ geometry
def valid_cloud(obs: dict[str, Any]) -> np.ndarray:
    n = int(np.asarray(obs["num_points"]).reshape(-1)[0])
    return np.asarray(obs["points"][:n], dtype=float)


def lift_direction(direction: np.ndarray) -> np.ndarray | None:
    """World up made perpendicular to a pull direction (unit), or None for a near-vertical pull."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    up = np.array([0.0, 0.0, 1.0]) - d[2] * d
    norm = float(np.linalg.norm(up))
    return up / norm if norm > 0.5 else None




@dataclass
class Candidates:
    """Places to pull, in order: cloud row, handle or face, pull direction, the points behind
    the choice (a handle's group, a face cell's points); plus per-point normals, offsets in
    front of the local plane and cosines to the view ray, for whoever ranks them."""

    index: np.ndarray
    handle: np.ndarray
    direction: np.ndarray
    support: np.ndarray
    normals: np.ndarray
    offsets: np.ndarray
    view_cos: np.ndarray

    def take(self, order: np.ndarray) -> "Candidates":
        """The same candidates in another order (per-point arrays unchanged)."""
        return Candidates(self.index[order], self.handle[order], self.direction[order],
                          self.support[order], self.normals, self.offsets, self.view_cos)


def _joint_dict(j: JointEstimate) -> dict[str, Any]:
    """A joint estimate as the JSON dict of the estimate contract (type, axis, origin, range)."""
    return {"type": j.type, "axis": [float(x) for x in j.axis],
            "origin": [float(x) for x in j.origin], "state": float(j.state),
            "state_range": [float(x) for x in j.state_range]}


# ------------------------------------------------------------------------------------ agent
class SfaAgent(MotionFits, Looking, Agent[ArticulationAction]):
    """Pull promising points, segment what moved, fit its joint; stop when nothing new moves."""

    def __init__(self, config: SfaConfig, device: str = "cpu") -> None:
        super().__init__(config, device)
        #: ranks face candidates by how likely a pull there moves a part (None: by cell size).
        self.scorer = None
        if config.scorer:
            from embodied.agents.sfa_scorer import InteractionScorer

            self.scorer = InteractionScorer.load(None if config.scorer == "learned"
                                                 else config.scorer)

    def reset(self, info: dict[str, Any]) -> None:
        cfg = self.config
        self.episode_id = str(info.get("episode_id", "episode"))
        self.output_dir = info.get("output_dir")
        env_budget = info.get("max_interactions")
        self.budget = cfg.max_interactions if env_budget is None \
            else max(0, min(cfg.max_interactions, int(env_budget) - 1))
        self.rng = np.random.default_rng(cfg.seed)
        self.parts: list[_Part] = []
        self.tried: list[np.ndarray] = []
        self.lifted: list[np.ndarray] = []      # handles given their second, lifting pull
        #: (point, direction) of the handles seen at the start (see ``_unhide``)
        self.handle_memory: list[tuple[np.ndarray, np.ndarray]] | None = None
        self.first_cloud: np.ndarray | None = None
        #: clouds seen before anything moved (the first, and those of views taken then)
        self.start_clouds: list[np.ndarray] = []
        self.prev: np.ndarray | None = None
        self.pending: tuple[np.ndarray, np.ndarray, float] | None = None
        #: a pull to make again from where its grip ended (see ``observe_effect``)
        self.repeat: tuple[np.ndarray, np.ndarray] | None = None
        self.repeated: list[np.ndarray] = []
        self.interactions = 0
        self.fruitless = 0            # interactions in a row that moved no new part
        self.log: list[dict[str, Any]] = []
        self.export_path: Path | None = None
        self._view: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        #: a motion to fit again from the next view (see ``observe_effect``)
        self.refit: _Motion | None = None
        self._normals_of: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]] | None = None
        #: a follow-up pull chosen before the view taken for it (see ``_wants_top_view``)
        self.deferred: tuple[np.ndarray, ...] | None = None
        #: whether any pull has moved anything yet (views before that see the start state)
        self.disturbed = False
        self.views = 0
        #: the cameras' (azimuth deg from where they started, elevation deg, distance scale);
        #: the elevation is read from the first observation's extrinsics
        self.view: tuple[float, float, float] = (0.0, 0.0, 1.0)
        self.start_view = self.view
        self.looked = False          # the last action was a view
        self.on_top = False          # looking from above to lift a top face
        self.refining_part: _Part | None = None     # the part the last follow-up pull was for

    # -------------------------------------------------------------------------- main loop
    def act(self, obs: dict[str, Any]) -> ArticulationAction:
        self._view = (obs["rgb"][0], obs["intrinsics"][0], obs["extrinsics"][0])
        self.cameras = np.asarray(obs["extrinsics"], dtype=float)[:, :3, 3]
        cloud = valid_cloud(obs)
        if self.first_cloud is None:
            self.first_cloud = cloud
            self.start_clouds.append(cloud)
            self.view = (0.0, camera_elevation(np.asarray(obs["extrinsics"], float)[0]), 1.0)
            self.start_view = self.view
            self.start_cameras = self.cameras.copy()
        elif self.looked and not self.disturbed:
            self.start_clouds.append(cloud)        # a view of the start state
        self.looked = False
        if self.refit is not None:                 # the view just taken to look again
            motion, self.refit = self.refit, None
            if self._fit_motion(motion, cloud):
                motion.entry["seen_again"] = True
                self.fruitless = 0
            else:
                self.tried.append(motion.point)
        elif self.pending is not None and self.prev is not None:
            gripper = obs.get("gripper_shift")
            self.observe_effect(self.prev, cloud, *self.pending,
                                gripper=None if gripper is None else np.asarray(gripper, float))
        self.pending = None
        self.prev = cloud
        self.prev_view = (np.asarray(obs["depth"]), np.asarray(obs["intrinsics"], dtype=float),
                          np.asarray(obs["extrinsics"], dtype=float))
        cameras = np.asarray(obs["extrinsics"], dtype=float)[:, :3, 3]
        if self.refit is not None:                 # a motion the view could not explain
            view = self._look_again_view(obs, cloud)
            if view is not None:
                return self.look(view)
            self.tried.append(self.refit.point)
            self.refit = None
        cfg_patience = self.config.patience
        patient = cfg_patience is None or self.fruitless < cfg_patience
        candidate = None
        refining = False
        if self.interactions < self.budget and patient:
            candidate, self.deferred = self.deferred, None
            if candidate is None:
                candidate, self.repeat = self.repeat, None
            if candidate is None:
                candidate = self.refinement(small_only=True)
                refining = candidate is not None
            candidate = candidate or self.propose(cloud, cameras)
            if candidate is None:
                candidate = self.refinement(small_only=False)
                refining = candidate is not None
        if candidate is None:
            if self.config.views and self.view != self.start_view and self.interactions < self.budget:
                return self.look(self.start_view)  # see the end state as the start was seen
            return self.finish()
        point, direction = candidate[0], candidate[1]
        distance = float(candidate[2]) if len(candidate) > 2 else self.config.pull_distance
        if self._wants_top_view(point, direction, refining):
            # a follow-up lift is made from above as chosen; a new one is chosen again there
            self.on_top, self.deferred = True, (candidate if refining else None)
            return self.look((self.view[0], TOP_ELEVATION, self.view[2]))
        self.interactions += 1
        self.pending = (point, direction, distance)
        return {"point": point.astype(np.float32), "direction": direction.astype(np.float32),
                "distance": np.array([distance], np.float32)}

    def debug_frame(self) -> np.ndarray | None:
        """The last view with every part found so far painted on it, its joint axis, and the
        pull just chosen (yellow: its outcome is not known yet).

        Drawn where each part is now (``current_points``), so the picture follows the object.
        """
        if self._view is None:
            return None
        from embodied.viz_articulation import sfa_frame

        rgb, K, E = self._view
        parts = [(p.current_points, _joint_dict(p.joint)) for p in self.parts]
        pull = None
        if self.pending is not None:                  # the pull just chosen, not yet made
            point, direction, distance = self.pending
            pull = {"point": point, "direction": direction, "distance": distance, "moved": None}
        return sfa_frame(rgb, K, E, pull, parts)

    # -------------------------------------------------------------------------- 1b. refine
    def refinement(self, small_only: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """A follow-up pull on a known part along its estimated joint, or None.

        Why: a pull that barely moved a part (a lid pulled sideways at its hinge edge, a door
        near its hinge) gives a joint axis to a degree but its position only to decimetres;
        moving the part further along the joint just estimated makes a larger, better-conditioned
        motion (``aggregate_joint`` weights estimates by how far they moved). The first follow-up
        continues the motion; the second, if the first moved nothing (a limit), reverses it.
        ``small_only``: only parts whose motion so far is under ``refine_below_deg`` /
        ``refine_below_m`` (these come before new proposals); otherwise any part not yet followed
        up (when nothing new is left to try).
        """
        cfg = self.config
        for part in self.parts:
            if part.refined >= cfg.refine_pulls:
                continue
            joint = part.joint
            span = joint.state_range[1] - joint.state_range[0]
            small = span < (math.radians(cfg.refine_below_deg) if joint.type == "revolute"
                            else cfg.refine_below_m)
            if small_only and not small:
                continue
            last = next(e for e in reversed(part.estimates) if e.type == joint.type)
            sense = 1.0 if float(np.dot(last.axis, joint.axis)) >= 0 else -1.0
            if part.refined >= 1 and len(part.estimates) == part.refined:
                sense = -sense                      # the follow-up moved nothing: go back
            axis = np.asarray(joint.axis, dtype=float)
            shift = float(np.linalg.norm(part.grasp_shift))
            lift = lift_direction(part.pull)
            if small and shift < WEAK_SHIFT and part.refined == 0 and lift is not None:
                # it hardly gave: the pull was probably across its joint (a lid pulled
                # outwards at its front edge); lift the same point instead
                point, direction = part.touch, lift
            elif small and shift >= 0.005:
                # too little motion to trust the type: keep pulling the grasped point the way
                # it went (a lid lifted a little: lift it further)
                point, direction = part.grasp, sense * part.grasp_shift
            elif joint.type == "revolute":
                radial = part.current_points - joint.origin
                radial -= np.outer(radial @ axis, axis)
                reach = np.linalg.norm(radial, axis=1)
                k = int(np.argsort(reach)[int(0.9 * (len(reach) - 1))])   # near the free edge
                point = part.current_points[k]
                direction = sense * np.cross(axis, radial[k])
            else:
                point, direction = part.grasp, sense * axis
            norm = float(np.linalg.norm(direction))
            if norm < 1e-9:
                continue
            part.refined += 1
            self.refining_part = part
            return point.copy(), direction / norm
        return None

    # -------------------------------------------------------------------------- 1. propose
    def _normals(self, cloud: np.ndarray, cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``normals_and_offsets`` of a cloud, remembered for the last cloud asked about: the
        cloud a pull's candidates were chosen on is the "before" cloud its effect is segmented on."""
        cached = self._normals_of
        if cached is not None and cached[0] is cloud and np.array_equal(cached[1], cameras):
            return cached[2]
        out = normals_and_offsets(cloud, cameras, self.config.normal_neighbors)
        self._normals_of = (cloud, np.array(cameras, copy=True), out)
        return out

    def _part_trees(self) -> list[cKDTree]:
        """A search tree of everything seen of each known part, where it is now."""
        return [cKDTree(self._geometry_now(part)) for part in self.parts]

    def _blocked(self, p: np.ndarray, trees: list[cKDTree] | None = None) -> bool:
        """Whether a point is near a failed try or on a known part (anything seen of it).
        ``trees``: ``_part_trees()`` when the caller asks about many points."""
        r = self.config.skip_radius
        if any(np.linalg.norm(p - q) < r for q in self.tried):
            return True
        return any(tree.query(p)[0] < r for tree in (self._part_trees() if trees is None else trees))

    def _clearance(self, points: np.ndarray) -> np.ndarray:
        """Per point, the distance to the nearest tried point or known part point (inf if none)."""
        known = [np.asarray(self.tried, dtype=float).reshape(-1, 3)]
        known += [part.current_points for part in self.parts]
        known_pts = np.concatenate(known) if known else np.zeros((0, 3))
        if len(known_pts) == 0 or len(points) == 0:
            return np.full(len(points), np.inf)
        return cKDTree(known_pts).query(points)[0]

    def candidates(self, cloud: np.ndarray, cameras: np.ndarray) -> Candidates | None:
        """Every place worth a pull in this cloud, best first: handles (groups of points proud of
        their plane, largest first), then one point per grid cell of the faces that face a
        camera, farthest from everything tried or found first, then (equally far) the likelier
        to move: by the learned scorer when one is set, else the larger cell."""
        cfg = self.config
        if len(cloud) < cfg.normal_neighbors:
            return None
        normals, offsets = self._normals(cloud, cameras)
        view = cameras.mean(axis=0) - cloud
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        view_cos = np.einsum("ni,ni->n", normals, view)
        facing = view_cos > FACING_COS
        handles: list[int] = []
        support: list[int] = []
        # proud of the local plane, or of the wider face (a handle fixed flush to its door)
        proud_of_face = face_offsets(cloud, normals) > cfg.handle_offset
        proud = np.flatnonzero(((offsets > cfg.handle_offset) | proud_of_face) & facing)
        if len(proud):
            labels = clusters(cloud[proud], cfg.cluster_radius)
            groups = [proud[labels == g] for g in np.unique(labels)]
            # two points proud of their local plane make a handle (a bar seen edge-on from
            # afar); points proud of the wider face only need a few more (a corner's speck)
            local = offsets > cfg.handle_offset
            groups = sorted((g for g in groups if local[g].sum() >= 2 or len(g) >= HANDLE_MIN_POINTS),
                            key=lambda g: -len(g))
            handles = [int(g[np.argmax(offsets[g])]) for g in groups]
            support = [len(g) for g in groups]
        face = np.flatnonzero(facing & (np.abs(offsets) < 0.004))
        flat = cKDTree(cloud[face]) if len(face) else None
        if len(handles) > 1:
            # a handle sits inside its face; a proud corner of the outline (a cabinet top's
            # overhang) has face on one side only: handles most surrounded first
            side = one_sidedness(cloud[handles], cloud[face], HANDLE_SURROUND, tree=flat)
            order = np.argsort(side, kind="stable")
            handles = [handles[k] for k in order]
            support = [support[k] for k in order]
        faces: list[int] = []
        if len(face):
            keys = np.floor(cloud[face] / cfg.face_grid).astype(np.int64)
            _, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
            inv = inv.reshape(-1)
            best: dict[int, int] = {}
            centre = (np.floor(cloud[face] / cfg.face_grid) + 0.5) * cfg.face_grid
            dist = np.linalg.norm(cloud[face] - centre, axis=1)
            for i, cell in enumerate(inv):
                if cell not in best or dist[i] < dist[best[cell]]:
                    best[cell] = i
            cells = [c for c in best if counts[c] >= 10]
            faces = [int(face[best[c]]) for c in cells]
            support += [int(counts[c]) for c in cells]
        index = np.array(handles + faces, dtype=np.int64)
        # pull along the normal of the surrounding face, not of a handle's few points
        direction = normals[index].copy() if len(index) else np.zeros((0, 3))
        if flat is not None and len(index):
            for k, i in enumerate(index):
                near = flat.query_ball_point(cloud[i], 2 * cfg.skip_radius)
                if len(near) >= 5:
                    mean = normals[face[near]].mean(axis=0)
                    if np.linalg.norm(mean) > 1e-6:
                        direction[k] = mean / np.linalg.norm(mean)
        out = Candidates(index=index, handle=np.arange(len(index)) < len(handles),
                         direction=direction, support=np.array(support, dtype=np.int64),
                         normals=normals, offsets=offsets, view_cos=view_cos)
        # a face that did not move is a poor bet for its neighbouring cells too: spread out
        spread = np.minimum(self._clearance(cloud[index[len(handles):]]), SPREAD_CAP)
        tie = out.support[len(handles):].astype(float)
        if self.scorer is not None and len(index):
            tie = self.scorer.score(cloud, cameras, out)[len(handles):]
        if self.on_top:
            # lifting a top face from above: the faces that face up, front edge first (a lid's
            # hinge is at its back; lifted near the hinge it barely turns, and falls back when
            # let go), before anything else
            # a face, not a rim: cells holding at least half as many points as the fullest
            front = cloud[index] @ self._front_direction(cloud)
            lifts = np.flatnonzero(out.direction[:, 2] > LIFT_COS)
            if len(lifts):
                lifts = lifts[out.support[lifts] >= 0.5 * out.support[lifts].max()]
            rest = np.setdiff1d(np.arange(len(index)), lifts)
            first = lifts[np.argsort(-front[lifts], kind="stable")]
            return out.take(np.concatenate([first, rest]).astype(np.int64))
        order = np.lexsort((-tie, -spread)) + len(handles)
        return out.take(np.concatenate([np.arange(len(handles)), order]).astype(np.int64))

    def propose(self, cloud: np.ndarray, cameras: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The next (point, pull direction[, distance]): the first candidate not blocked by a
        failed try or a known part; a handle that did not give gets one lifting pull. Before
        the faces: a handle seen at the start that an opened part now hides gets that part
        closed (see ``_unhide``)."""
        cands = self.candidates(cloud, cameras)
        if cands is None:
            return None
        if self.handle_memory is None:             # the handles of the start state
            self.handle_memory = [(cloud[i].copy(), d.copy()) for i, d, h
                                  in zip(cands.index, cands.direction, cands.handle) if h]
        trees = self._part_trees()                 # the parts do not move while choosing
        unhide_asked = False
        for i, direction, handle in zip(cands.index, cands.direction, cands.handle):
            if not handle and not unhide_asked:    # before the first face: a hidden handle?
                unhide_asked = True
                unhide = self._unhide(cloud, trees)
                if unhide is not None:
                    return unhide
            if not self._blocked(cloud[i], trees):
                return cloud[i].copy(), direction.copy()
            if handle:
                lift = self._second_try(cloud[i], direction)
                if lift is not None:
                    return cloud[i].copy(), lift
        return None if unhide_asked else self._unhide(cloud, trees)

    def _unhide(self, cloud: np.ndarray, trees: list[cKDTree] | None = None
                ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """A pull that closes an opened part hiding a handle seen at the start, or None.

        Why: a drawer pulled out hides the handle of the drawer below it from a camera that
        looks down on it, and a door swung open can hide what is under its swing. A handle is
        remembered from the start, and when it is no longer in view and not yet tried, the part
        between it and the cameras is pushed back to where it started (once per part).
        """
        if not self.handle_memory:
            return None
        tree = cKDTree(cloud)
        eye = self.cameras.mean(axis=0)
        trees = self._part_trees() if trees is None else trees
        for point, _ in self.handle_memory:
            if self._blocked(point, trees) or tree.query(point)[0] < HIDDEN_GAP:
                continue                       # tried, on a known part, or in view
            if any(len(p.canonical) and cKDTree(p.canonical).query(point)[0] < HIDDEN_GAP for p in self.parts):
                continue                       # a known part's own handle: it moved with it
            for part in self.parts:
                if part.closed or not self._between(part, eye, point):
                    continue
                pull = self._closing_pull(part)
                if pull is not None:
                    part.closed = True
                    return pull
        return None

    def _between(self, part: _Part, eye: np.ndarray, point: np.ndarray) -> bool:
        """Whether some of the part, as it is now, lies on the line of sight from eye to point."""
        pts = self._geometry_now(part)
        ray = point - eye
        length = float(np.linalg.norm(ray))
        ray /= length
        along = (pts - eye) @ ray
        inside = (along > 0.0) & (along < length - HIDDEN_GAP)
        off = np.linalg.norm((pts - eye) - np.outer(along, ray), axis=1)
        return bool(np.any(inside & (off < HIDDEN_GAP)))

    def _closing_pull(self, part: _Part) -> tuple[np.ndarray, np.ndarray, float] | None:
        """Push the part back by its estimated opening: (point, direction, distance), or None
        when it has hardly moved. A slide is pushed at its grasp along minus its net shift; a
        hinge at the point of the part farthest from its axis, along the arc back."""
        joint = part.joint
        R, t = part.pose[:3, :3], part.pose[:3, 3]
        if joint.type == "prismatic":
            shift = t.copy()
            length = float(np.linalg.norm(shift))
            if length < CLOSE_MIN_SHIFT:
                return None
            return part.grasp.copy(), -shift / length, min(length, MAX_PULL)
        axis = np.asarray(joint.axis, dtype=float)
        angle = float(np.linalg.norm(Rotation.from_matrix(R).as_rotvec()))
        sense = float(np.sign(Rotation.from_matrix(R).as_rotvec() @ axis)) or 1.0
        radial = part.current_points - joint.origin
        radial -= np.outer(radial @ axis, axis)
        reach = np.linalg.norm(radial, axis=1)
        k = int(np.argmax(reach))
        if angle * reach[k] < CLOSE_MIN_SHIFT:
            return None
        direction = -sense * np.cross(axis, radial[k] / reach[k])
        return part.current_points[k].copy(), direction, min(angle * reach[k], MAX_PULL)

    def _geometry_now(self, part: _Part) -> np.ndarray:
        """Everything known of the part where it is now: the points of its last motion, and its
        start-pose points (with those that motions brought into view) carried to its pose."""
        if len(part.canonical) == 0:
            return part.current_points
        moved = transform_points(part.pose[:3, :3], part.pose[:3, 3], part.canonical)
        return np.concatenate([part.current_points, moved])

    def _second_try(self, point: np.ndarray, direction: np.ndarray) -> np.ndarray | None:
        """The lifting pull for a handle whose outward pull moved nothing, once per handle.

        Why: a handle says "grab here" but not which way; outwards opens doors and drawers,
        while a chest's lid, handle on its front edge, only turns upwards about its back edge.
        """
        r = self.config.skip_radius
        near_part = any(cKDTree(part.current_points).query(point)[0] < r for part in self.parts)
        if near_part or any(np.linalg.norm(point - q) < r for q in self.lifted):
            return None
        lift = lift_direction(direction)
        if lift is not None:
            self.lifted.append(point.copy())
        return lift

    # -------------------------------------------------------------------------- 3-5. observe
    def observe_effect(self, before: np.ndarray, after: np.ndarray, point: np.ndarray,
                       direction: np.ndarray, distance: float,
                       gripper: np.ndarray | None = None) -> None:
        """Segment what the last pull moved, fit its rigid motion and joint; remember the part.

        ``gripper``: how far the held point went (the env's ``gripper_shift``, proprioception),
        when the env reports it. When the gripper moved but no motion could be fitted (too few
        points changed near the touch, a part swung edge-on), something moved there unseen: the
        same pull is made once more from where the grip ended, instead of the spot being
        written off. (Seeding the fit with it instead of the commanded pull was tried: better
        median axis positions, but a few far-off fits on val.)
        """
        entry: dict[str, Any] = {"point": point.tolist(), "moved": False}
        self.log.append(entry)
        parts_before = len(self.parts)
        motion = self._segment(before, after, point, direction, distance, entry, gripper)
        fitted = motion is not None and self._fit_motion(motion, after)
        if motion is not None and not fitted and self._may_look():
            self.refit = motion                    # look again from another view, then fit
            entry["look_again"] = True
        elif not entry["moved"]:
            self.tried.append(point)
        self.fruitless = 0 if len(self.parts) > parts_before else self.fruitless + 1
        held = gripper is not None and np.linalg.norm(gripper) > self.config.change_threshold
        self.disturbed = self.disturbed or held or entry.get("changed", 0) > 0
        if self.on_top and direction[2] > LIFT_COS and len(self.parts) == parts_before:
            self.on_top = False                    # the top face did not give: lift no more
        # much changed away from the touch: the pull visibly moved something, only not there
        unseen = entry.get("changed", 0) < UNSEEN_CHANGE
        if held and unseen and not entry["moved"] and \
                not any(np.linalg.norm(point - q) < self.config.skip_radius for q in self.repeated):
            again = point + gripper
            self.repeat = (again, direction)
            self.repeated.append(again)
            entry["repeat"] = True

    def _segment(self, before: np.ndarray, after: np.ndarray, point: np.ndarray,
                 direction: np.ndarray, distance: float, entry: dict[str, Any],
                 gripper: np.ndarray | None = None) -> _Motion | None:
        """Changed points, and those near the touch that seed the moving part (None: too few).

        Seeds are all clusters of changed points within ``SEED_RADIUS`` of the touched point, not
        just the nearest: a handle standing a few cm proud of its door is a cluster of its own.
        """
        cfg = self.config
        # A small or distant object is seen with few, sparse points: radii grow with the point
        # spacing and the part-size floor shrinks with the cloud, or a part splits into crumbs.
        spacing = float(np.median(cKDTree(before).query(before, k=2)[0][:, 1]))
        radius = max(cfg.cluster_radius, 2.5 * spacing)
        min_points = min(cfg.min_part_points, max(15, int(0.02 * len(before))))
        fit_threshold = max(cfg.ransac_threshold, 0.75 * spacing)
        d_before, _ = cKDTree(after).query(before)
        normals, _ = self._normals(before, self.cameras)
        # a surface seen at a grazing angle changes by centimetres when it moves by millimetres:
        # such points neither seed nor make a part (they still serve as the "after" targets)
        steady = facing_cameras(before, normals, self.cameras, GRAZING_COS)
        changed = np.flatnonzero((d_before > cfg.change_threshold) & steady)
        entry["changed"] = int(len(changed))
        if len(changed) < min_points:
            entry["why"] = f"{len(changed)} changed points"
            return None
        labels = clusters(before[changed], radius)
        gap = np.full(labels.max() + 1, np.inf)
        np.minimum.at(gap, labels, np.linalg.norm(before[changed] - point, axis=1))
        seed = changed[gap[labels] < SEED_RADIUS]
        if len(seed) < min_points:
            entry["why"] = f"{len(seed)} changed points near the touch ({len(changed)} in all)"
            return None
        return _Motion(before, normals, changed, seed, point, direction, distance, gripper, entry,
                       radius, min_points, fit_threshold, self.prev_view)

    def _fit_motion(self, m: _Motion, after: np.ndarray) -> bool:
        """Rigid motion of the seed onto ``after`` -> every changed point it explains -> joint;
        records the part (True), or says in the log why not (False).

        Points of other clusters (surfaces the moving part now hides or reveals) fit no rigid
        motion with the part, so after the fit the part is re-segmented as the changed points
        whose moved position lands on the "after" cloud, connected to the fitted inliers.
        ``after`` may come from another view than ``m.before`` (looking again): both are world
        clouds, and the fits test visibility against the cameras of now (``self.cameras``).
        """
        before, normals, changed, seed = m.before, m.normals, m.changed, m.seed
        point, direction, distance, entry = m.point, m.direction, m.distance, m.entry
        fit_threshold, radius = m.fit_threshold, m.radius

        def plausible(f: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> bool:
            return f is not None and self._plausible(f[0], f[1], point, direction, distance, m.gripper)

        fit = self._fit(before[seed], normals[seed], after, direction * distance, fit_threshold)
        if not plausible(fit):
            fit = self._fit_swing(before[seed], normals[seed], after, point, direction, distance,
                                  fit_threshold)
        if not plausible(fit):
            fit = self._fit_slide(before[seed], normals[seed], after, direction * distance,
                                  fit_threshold)
        if not plausible(fit):
            fit = self._fit_spin(before[seed], normals[seed], after, fit_threshold,
                                 lambda f: plausible(f))
        if fit is None or not plausible(fit):
            entry["why"] = f"no rigid fit of {len(seed)} seed points"
            return False
        R, t, inliers = fit
        # re-segment: changed points the motion carries onto the after cloud, linked to the inliers
        moved_d, _ = cKDTree(after).query(transform_points(R, t, before[changed]))
        ok = changed[moved_d < 2.0 * fit_threshold]
        core = set(map(int, seed[inliers]))
        if len(ok):
            lab = clusters(before[ok], radius)
            keep = {int(g) for g, i in zip(lab, ok) if int(i) in core}
            part_idx = ok[np.isin(lab, list(keep))]
        else:
            part_idx = seed[inliers]
        if len(part_idx) < m.min_points:
            entry["why"] = f"{len(part_idx)} points follow the fitted motion"
            return False
        src = before[part_idx]
        refit = self._fit(src, normals[part_idx], after, t, fit_threshold, R0=R)
        if refit is not None:
            R, t, inliers = refit
            src_ref = src[inliers]
        else:
            src_ref = before[seed[inliers]]
        est = joint_from_motion(R, t, src, reference=src_ref.mean(axis=0))
        if est.type == "prismatic":
            est = self._square_slide(est, src, after, fit_threshold)
        est.support = float(len(src_ref))
        entry.pop("why", None)
        entry.update(moved=est.type != "static", type=est.type, points=int(len(src)),
                     state=round(float(est.state), 4))
        if est.type == "static":
            return True
        moved_now = transform_points(R, t, src)
        grasp = transform_points(R, t, point[None])[0]
        # the part held where it was last grabbed is that part, whatever the view shows of it
        held = [p for p in self.parts if np.linalg.norm(point - p.grasp) < self.config.skip_radius]
        part = held[0] if held else next((p for p in self.parts if self._same_part(p, src, est)), None)
        if part is None:
            part = _Part(rest_points=src, current_points=moved_now, estimates=[est], grasp=grasp,
                         grasp_shift=grasp - point, touch=point.copy(),
                         pull=direction / np.linalg.norm(direction), canonical=src.copy())
            self.parts.append(part)
        else:                                      # the same part again: one more estimate
            part.estimates.append(est)
            part.current_points, part.grasp, part.grasp_shift = moved_now, grasp, grasp - point
        self._aggregate(part, est, moved_now, after, radius, fit_threshold, m.before_view)
        return True

    def _aggregate(self, part: _Part, est: JointEstimate, moved_now: np.ndarray,
                   after: np.ndarray, radius: float, threshold: float,
                   before_view: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Add what this motion showed of the part to its start-pose points (``canonical``).

        The part's "after" points are those on its moved surface, plus those near it that lie in
        the space the cameras saw empty before the motion (``in_free_space``): surfaces the part
        brought into view. Each is carried back to the start pose through the part's accumulated
        motion, so what a closed drawer hid (its sides, its floor) joins the drawer's geometry.
        """
        motion = np.eye(4)
        motion[:3, :3], motion[:3, 3] = joint_motion(est)
        part.pose = motion @ part.pose
        d, _ = cKDTree(moved_now).query(after)
        on_surface = d < threshold
        near = np.flatnonzero((d < 3.0 * radius) & ~on_surface)
        brought = np.zeros(len(after), dtype=bool)
        if len(near):
            brought[near] = in_free_space(after[near], *before_view, margin=FREE_MARGIN)
        seen = after[on_surface | brought]
        inv = np.linalg.inv(part.pose)
        back = transform_points(inv[:3, :3], inv[:3, 3], seen)
        part.canonical = voxel_downsample(np.concatenate([part.canonical, back]), MODEL_VOXEL)

    def _same_part(self, part: _Part, src: np.ndarray, est: JointEstimate) -> bool:
        """Whether a motion belongs to a known part: its points overlap the part's last known
        position, or it moved about/along the same joint line over the same stretch of it.

        Why the second test: a pull near a hinge can move a part by less than the change
        threshold, leaving its last known position stale, but the hinge line does not move. Why
        "the same stretch": the two doors of a stacked fridge share one hinge line; what tells
        them apart is where along the line they sit.
        """
        if np.median(cKDTree(part.current_points).query(src)[0]) < self.config.cluster_radius:
            return True
        known = part.joint
        axis = np.asarray(known.axis, dtype=float)
        if est.type != known.type or \
                abs(float(np.dot(axis, est.axis))) < math.cos(math.radians(15.0)):
            return False
        if est.type == "revolute":
            off = np.asarray(est.origin) - np.asarray(known.origin)
            if float(np.linalg.norm(np.cross(off, axis))) >= 0.1:
                return False
            a, b = part.current_points @ axis, src @ axis
            overlap = min(a.max(), b.max()) - max(a.min(), b.min())
            return overlap > 0.5 * min(np.ptp(a), np.ptp(b))
        # a drawer slides along its axis: its centroid stays on one line
        off = src.mean(axis=0) - part.current_points.mean(axis=0)
        return float(np.linalg.norm(np.cross(off, axis))) < 0.06

    # -------------------------------------------------------------------------- 6. finish
    def estimate(self) -> dict[str, Any]:
        """The JSON-safe estimate the env scores (see embodied.envs.articulation_metrics)."""
        joints = []
        for part in self.parts:
            j = part.joint
            if j.type == "static":
                continue
            joints.append({**_joint_dict(j), "link_points": int(len(part.rest_points)),
                           "centroid": [float(x) for x in part.rest_points.mean(axis=0)],
                           "points": part.rest_points.tolist()})
        return {"joints": joints, "result": "ok" if joints else NO_ARTICULATION,
                "interactions": self.interactions}

    def model(self) -> ArticulatedModel:
        base = self.first_cloud if self.first_cloud is not None else np.zeros((0, 3))
        parts = [PartModel(f"part_{i}", p.canonical, p.joint) for i, p in enumerate(self.parts)]
        if parts and len(base):
            d, _ = cKDTree(np.concatenate([p.points for p in parts])).query(base)
            base = base[d > 1e-6]
        return ArticulatedModel(base, parts)

    def _start_points(self) -> None:
        """Give a part first seen away from its start pose its points of the first cloud.

        Why: a part is first recorded from the cloud before the pull that revealed it, which is
        its start pose only if no earlier pull moved it unnoticed (a lid nudged 2 degrees by a
        pull at its hinge edge, then lifted). Such a part's points sit off the first cloud. The
        points of the first cloud that the episode moved (no neighbour in the last cloud) and
        that lie nearer to this part than to any other are where it started.
        """
        cfg = self.config
        if self.first_cloud is None or self.prev is None or not self.parts:
            return
        if self.view != self.start_view:      # another view sees other surfaces: not comparable
            return
        tree = cKDTree(self.first_cloud)
        stale = [i for i, p in enumerate(self.parts)
                 if np.median(tree.query(p.rest_points)[0]) > cfg.change_threshold]
        if not stale:
            return
        d, _ = cKDTree(self.prev).query(self.first_cloud)
        moved = self.first_cloud[d > cfg.change_threshold]
        if len(moved) == 0:
            return
        moved_tree = cKDTree(moved)
        where = [self._along_joint(p, moved_tree) if i in stale else p.rest_points
                 for i, p in enumerate(self.parts)]
        dist = np.stack([cKDTree(w).query(moved)[0] for w in where])
        owner, nearest = np.argmin(dist, axis=0), dist.min(axis=0)
        for i in stale:
            pts = moved[(owner == i) & (nearest < START_RADIUS)]
            if len(pts) >= min(cfg.min_part_points, len(self.parts[i].rest_points)):
                self.parts[i].rest_points = pts

    def _complete_start_points(self) -> None:
        """Give each part the points of the start cloud(s) that its start-pose geometry covers.

        Why: a part is recorded with the points that changed when it was found; a lid nudged
        by 3 degrees changes only along its front edge, the strip near the hinge moving by less
        than the change threshold. Its later, larger motions carry all of it back to the start
        pose (``canonical``), and the start cloud's points that lie on that geometry are the
        part as first seen. Points nearer another part's geometry are left to it.
        """
        if not self.parts or not self.start_clouds:
            return
        start = np.concatenate(self.start_clouds)
        dist = np.stack([cKDTree(p.canonical).query(start)[0] if len(p.canonical)
                         else np.full(len(start), np.inf) for p in self.parts])
        owner, nearest = np.argmin(dist, axis=0), dist.min(axis=0)
        for i, part in enumerate(self.parts):
            extra = start[(owner == i) & (nearest < COVER_RADIUS)]
            if len(extra):
                part.rest_points = voxel_downsample(np.concatenate([part.rest_points, extra]),
                                                    MODEL_VOXEL / 5.0)

    def _along_joint(self, part: _Part, moved: cKDTree) -> np.ndarray:
        """A stale part's points moved along its estimated joint to where they best cover the
        first cloud's moved points. Why: a pull that swung a door too far to fit moved it
        unseen; the door's start is then decimetres from where it was first recorded, but on
        the circle (or line) its joint allows."""
        joint = part.joint
        pts = voxel_downsample(part.rest_points, 0.02)
        if joint.type == "revolute":
            steps = np.radians(np.arange(-120.0, 120.5, 2.0))
        else:
            steps = np.arange(-0.6, 0.6025, 0.01)
        best, best_cover = 0.0, -1.0
        for q in steps:
            R, t = joint_motion(replace(joint, state=float(q), pitch=0.0))
            cover = np.mean(moved.query(transform_points(R, t, pts))[0] < START_COVER)
            if cover > best_cover + 1e-9 or (abs(cover - best_cover) <= 1e-9 and abs(q) < abs(best)):
                best, best_cover = float(q), cover
        R, t = joint_motion(replace(joint, state=best, pitch=0.0))
        return transform_points(R, t, part.rest_points)

    def _merge_duplicates(self) -> None:
        """Fold a part that was found twice into its first finding.

        Why: when a pull moves a known part but the fit fails (the part turned edge-on), the
        agent loses track of where the part is, and the next motion of it looks new. At the
        end, with every motion seen, two parts that move about the same joint line (or slide
        along the same line) over the same stretch are one: the later one's estimates join the
        earlier one's, which keeps the points first seen in the start pose.
        """
        i = 0
        while i < len(self.parts):
            j = i + 1
            while j < len(self.parts):
                later = self.parts[j]
                if self._same_part(self.parts[i], later.current_points, later.joint) or \
                        self._share_start_space(self.parts[i], later):
                    self.parts[i].estimates.extend(later.estimates)
                    del self.parts[j]
                else:
                    j += 1
            i += 1

    def _share_start_space(self, a: _Part, b: _Part) -> bool:
        """Whether two parts fill the same space at the start: two rigid parts cannot, so they
        are one part whose motions were fitted as different joints (a lid nudged by 4°
        looks like a slide; pulled further, like the hinge it is)."""
        small, large = sorted((a.canonical, b.canonical), key=len)
        if len(small) == 0:
            return False
        near = cKDTree(large).query(small)[0] < self.config.cluster_radius
        return bool(near.mean() >= START_OVERLAP)

    def finish(self) -> ArticulationAction:
        self._merge_duplicates()
        self._start_points()
        self._complete_start_points()
        estimate = self.estimate()
        root = self.config.export_dir
        if root is None and self.output_dir is not None:
            root = str(Path(self.output_dir) / "urdf")
        if root:
            folder = Path(root) / self.episode_id
            self.export_path = export_urdf(self.model(), folder, name=self.episode_id)
        zero = np.zeros(3, np.float32)
        return {"point": zero, "direction": np.array([1.0, 0.0, 0.0], np.float32),
                "distance": np.zeros(1, np.float32), "estimate": estimate}
