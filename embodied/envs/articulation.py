"""SfA ("Structure from Action") on PyBullet: `embodied/Articulation-PyBullet-v0`.

The agent looks at one articulated object (a procedural cabinet, oven, fridge, ... from
`embodied.envs.articulated.objects`, or a user URDF) through K calibrated RGB-D cameras, and
interacts with it: "grab the object at this 3D point and move it this far in this direction".
From the observed motions it must discover the parts and joints. The env supplies physics,
calibrated observations and the ground truth (for scoring only). `info["metrics"]` holds counts
(interactions, moved, exploded); when the final "done" action (distance 0) carries the agent's
model under the optional key "estimate" (JSON, see `embodied.envs.articulation_metrics`; not part
of `action_space`, so sampled actions and `check_env` are unaffected), the env scores it against
the ground truth and adds the SfA metrics to `info["metrics"]`. Likewise optional, the key
"pixel" = (camera, row, col) replaces "point" by the world point that pixel of the last
observation sees, for agents that choose where to act in the image. And the optional key "view"
= (azimuth deg from the object's front, elevation deg, distance scale) moves the camera rig
instead of the object (within `VIEW_LIMITS`, clipped; `info["clipped"]` says so), paid from the
interaction budget like a pull: a robot that moves its head or base to look again.

Conventions:

- World frame: z up, metres. The object stands with its base fixed; there is *no floor plane*,
  so that every valid depth pixel (and every point of the fused cloud) lies on the object: the
  agent gets the object's geometry without having to remove a floor first. Pixels that see
  nothing have depth = `far` and segmentation -1, and contribute no points.
- Cameras use the OpenCV convention: x right, y down, z forward; `intrinsics` K maps camera
  coordinates to pixel indices (u = column, v = row), `extrinsics` is
  the 4x4 camera-to-world transform. `depth` is z-depth (along the optical axis) in metres.
- `points` is the fused world-frame cloud of all cameras' valid pixels, zero-padded to
  K*H*W rows; only the first `num_points[0]` rows are valid. (Zero, not NaN, padding: a Box
  space cannot contain NaN, so NaN padding would break the Gymnasium contract and `check_env`.)
- `segmentation` is pybullet's `body + ((link + 1) << 24)` (link -1 = the fixed base), -1 for
  background. It is ground truth: it is in the observation space and the observations only when
  the env is made with `privileged=True` (for debugging and upper bounds, as ObjectNav's masks);
  an SfA agent never gets it. Scoring reads the env's own copy, never an observation.
  Likewise the info keys that are ground truth (`PRIVILEGED_INFO`: the true joints, link names,
  joint states, the link a pull grabbed) are in `info` only when the env is privileged.
- `gripper_shift` (3,) is proprioception: how far (world vector, m) the grasped point travelled
  while it was held, i.e. the gripper's own displacement at release, as a robot arm measures it.
  Zero after reset, after "done", and when the pull grabbed nothing or the fixed base.
- Joints are free: pybullet's default velocity motors (which lock joints) are replaced by a
  velocity motor with target 0 and force `joint_friction`, i.e. a small Coulomb-like friction,
  so parts stay where they are pushed; the URDF's joint damping damps them further.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from embodied.config import ConfigError, EnvConfig, with_overrides
from embodied.envs.articulated import objects as objects_lib

ENV_ID = "embodied/Articulation-PyBullet-v0"

#: split name -> (first seed, number of objects). Disjoint seed ranges keep splits disjoint.
SPLITS: dict[str, tuple[int, int]] = {
    "train": (1_000_000, 1000),
    "val": (2_000_000, 30),
    "test": (3_000_000, 100),
}

TIME_STEP = 1.0 / 240.0
PUSH_SECONDS = 0.5        # the pivot moves over this long (smoothstep profile: ends at rest)
HOLD_SECONDS = 0.1        # then holds still, so the part stops before it is released
SETTLE_SECONDS = 0.25     # after release
PICK_RADIUS = 0.02        # m: a point this close to a link grabs that link
MOVED_THRESHOLD = 0.005   # m: max link displacement above which `moved` is True
EXPLODE_DISTANCE = 1.0    # m: a link farther than this from its start means the physics blew up
EXPLODE_SPEED = 20.0      # m/s
POINT_LIMIT = 10.0        # m: bound of action points (the object sits within ~1.5 m of origin)
MAX_DISTANCE = 0.5        # m: the longest single interaction
NEAR = 0.05               # m: camera near plane
#: the view action's range: azimuth from the object's front (deg), elevation (deg), distance as
#: a multiple of the distance that frames the object (a head on a mobile base: not underneath)
VIEW_LIMITS = ((-180.0, 180.0), (-10.0, 85.0), (0.8, 2.0))
#: info keys that are ground truth: only a privileged env hands them out (see the module docstring)
PRIVILEGED_INFO = ("ground_truth", "links", "joint_states", "link", "link_index")


@dataclass
class ArticulationConfig(EnvConfig):
    """Settings of the SfA articulation task (one object per episode, a few interactions)."""

    id: str = ENV_ID
    split: str = "val"
    #: user URDF files; when non-empty they are the episodes (one per file) instead of the split.
    objects: list[str] = field(default_factory=list)
    cameras: int = 1
    width: int = 160
    height: int = 120
    vfov: float = 60.0
    #: degrees above the object's centre the cameras look down from; 0 = level.
    camera_elevation: float = 25.0
    #: degrees of azimuth the K > 1 cameras spread over, centred on the object's front.
    camera_spread: float = 80.0
    max_interactions: int = 10
    #: N: the largest force the grab constraint applies.
    max_force: float = 50.0
    #: N or N*m: friction of every joint, so parts stay where they are left.
    joint_friction: float = 0.5

    def __post_init__(self) -> None:
        for name in ("cameras", "width", "height", "max_interactions"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"got {getattr(self, name)}, expected a positive integer", key=name)
        if not 0.0 < self.vfov < 180.0:
            raise ConfigError(f"got {self.vfov}, expected degrees in (0, 180)", key="vfov")
        if not -80.0 <= self.camera_elevation <= 80.0:
            raise ConfigError(f"got {self.camera_elevation}, expected degrees in [-80, 80]",
                              key="camera_elevation")
        if not 0.0 <= self.camera_spread <= 360.0:
            raise ConfigError(f"got {self.camera_spread}, expected degrees in [0, 360]",
                              key="camera_spread")
        if self.max_force <= 0.0:
            raise ConfigError(f"got {self.max_force}, expected a positive force (N)", key="max_force")
        if self.joint_friction < 0.0:
            raise ConfigError(f"got {self.joint_friction}, expected >= 0", key="joint_friction")
        if not self.objects and self.split not in SPLITS:
            raise ConfigError(f"got {self.split!r}, expected one of {sorted(SPLITS)} "
                              f"(or give env.objects)", key="split")
        for i, path in enumerate(self.objects):
            check_urdf(path, key=f"objects[{i}]")


def check_urdf(path: str | Path, key: str = "objects") -> None:
    """Raise ConfigError (naming the file and why) unless pybullet loads `path` as a fixed-base URDF.

    Why load it for real: pybullet rejects some files only at load time, and the run must fail
    before its first episode rather than record one crashed episode per bad object.
    Two checks pybullet does not make clearly are made here first / after: every <mesh> file
    must exist (pybullet only says "Cannot load URDF file" and names the mesh on its console),
    and the object must have a joint that can move (one without would "score" a perfect
    joint-type accuracy for finding nothing).
    """
    import xml.etree.ElementTree as ET

    import pybullet as p

    try:
        root: Any = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        root = None  # missing or malformed: load_urdf_checked below names the problem
    client = p.connect(p.DIRECT)
    try:
        if root is not None:
            _check_urdf_meshes(Path(path), root)
        objects_lib.load_urdf_checked(path, client)
        if root is not None:
            _check_urdf_movable(Path(path), root)
    except ValueError as exc:
        raise ConfigError(str(exc), key=key) from None
    finally:
        p.disconnect(client)


#: Mesh file types pybullet's URDF importer reads (it goes by the file name's extension).
MESH_EXTENSIONS = (".obj", ".stl", ".dae", ".cdf")
#: URI prefixes pybullet drops from a mesh file name before looking for the file.
MESH_PREFIXES = ("package://", "model://")


def mesh_candidates(urdf: Path, filename: str) -> list[Path]:
    """The paths pybullet tries for `<mesh filename=...>` of `urdf`, in its order.

    pybullet's rule, mirrored so that this check never rejects a file pybullet would load: drop a
    `package://` or `model://` prefix (the ROS package name after it is kept and found as a
    folder), then try the name as written (absolute, or relative to the working directory), then
    relative to the URDF's folder and to every folder above it, then to `..` and `../..`.
    """
    name = filename
    for prefix in MESH_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    folder = urdf.resolve().parent
    return [Path(name), *(d / name for d in (folder, *folder.parents)), Path("..") / name,
            Path("../..") / name]


def _check_urdf_meshes(urdf: Path, root: Any) -> None:
    """ValueError naming the first <mesh> whose file is missing or of a type pybullet cannot read."""
    for link in root.findall("link"):
        for tag in ("visual", "collision"):
            for element in link.findall(tag):
                for mesh in element.iter("mesh"):
                    filename = mesh.get("filename", "").strip()
                    where = f"{urdf}: link {link.get('name')!r} <{tag}> mesh"
                    if not filename:
                        raise ValueError(f"{where} has no filename; expected <mesh filename=\"...\">")
                    if not filename.lower().endswith(MESH_EXTENSIONS):
                        raise ValueError(f"{where} {filename!r}: pybullet reads only "
                                         f"{', '.join(MESH_EXTENSIONS)} meshes")
                    if not any(c.is_file() for c in mesh_candidates(urdf, filename)):
                        hint = (" (file:// URIs are not understood by pybullet: write the path)"
                                if filename.startswith("file://") else "")
                        raise ValueError(f"{where} {filename!r} not found{hint}; expected it relative to "
                                         f"{urdf.resolve().parent} (or a folder above it, or absolute)")


def _check_urdf_movable(urdf: Path, root: Any) -> None:
    """ValueError unless some joint can move: continuous, or revolute/prismatic with lower != upper."""
    seen = []
    for joint in root.findall("joint"):
        jtype, limit = joint.get("type"), joint.find("limit")
        if jtype == "continuous":
            return
        if jtype in ("revolute", "prismatic") and limit is not None:
            lower, upper = float(limit.get("lower", 0)), float(limit.get("upper", 0))
            if lower != upper:
                return
            jtype = f"{jtype} with lower = upper = {lower:g}"
        seen.append(f"{joint.get('name')!r} {jtype}")
    joints = f"its joints: {', '.join(seen)}" if seen else "it has no <joint>"
    raise ValueError(f"{urdf}: no movable joint ({joints}); expected at least one revolute or prismatic "
                     "joint with a range, or a continuous one: SfA scores the joints it finds, and an "
                     "object without one has none to find")


def split_episodes(split: str, n: int | None = None) -> list[dict[str, Any]]:
    """The first n (default all) episodes of a split: one generated object each (pure, cheap)."""
    first, size = SPLITS[split]
    count = size if n is None else min(n, size)
    out = []
    for i in range(count):
        seed = first + i
        out.append({"episode_id": f"{split}_{i:04d}", "seed": seed,
                    "category": objects_lib.generate_object(seed).category})
    return out


def user_episodes(paths: Sequence[str]) -> list[dict[str, Any]]:
    """One episode per user URDF; ids are the file stems -- or, when those repeat and the folders do
    not (PartNet-Mobility's `<id>/mobility.urdf`), the folder names -- made unique with an index
    if needed."""
    stems = [Path(p).stem for p in paths]
    folders = [Path(p).resolve().parent.name for p in paths]
    if len(set(stems)) < len(stems) and len(set(folders)) == len(folders):
        stems = folders                 # PartNet-Mobility: <object id>/mobility.urdf, named by folder
    out = []
    for i, (path, stem) in enumerate(zip(paths, stems)):
        eid = stem if stems.count(stem) == 1 else f"{stem}_{i}"
        out.append({"episode_id": eid, "seed": i, "category": "user", "urdf": str(path)})
    return out


def _smoothstep(s: float) -> float:
    """0 -> 1 with zero slope at both ends: the pivot starts and stops at rest (no jerk)."""
    s = min(max(s, 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)


def _pose_matrix(pos: Sequence[float], quat: Sequence[float], p: Any) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = np.asarray(p.getMatrixFromQuaternion(quat), dtype=float).reshape(3, 3)
    m[:3, 3] = pos
    return m


class ArticulationEnv(gym.Env):
    """Interact with an articulated object (push/pull at a 3D point) to discover its parts and joints."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, config: ArticulationConfig | None = None, render_mode: str | None = None,
                 privileged: bool = False, **overrides: Any) -> None:
        import pybullet as p

        config = with_overrides(config or ArticulationConfig(), overrides, "ArticulationEnv")
        self.config = config
        self.render_mode = render_mode
        self.privileged = privileged
        self._p = p
        self.client = p.connect(p.DIRECT)
        self._tmp = Path(tempfile.mkdtemp(prefix="embodied_articulation_"))
        k, h, w = config.cameras, config.height, config.width
        self.max_points = k * h * w
        big = np.finfo(np.float32).max
        obs_spaces = {
            "rgb": spaces.Box(0, 255, (k, h, w, 3), np.uint8),
            "depth": spaces.Box(0.0, big, (k, h, w), np.float32),
            "intrinsics": spaces.Box(-big, big, (k, 3, 3), np.float32),
            "extrinsics": spaces.Box(-big, big, (k, 4, 4), np.float32),
            "points": spaces.Box(-big, big, (self.max_points, 3), np.float32),
            "num_points": spaces.Box(0, self.max_points, (1,), np.int64),
            "gripper_shift": spaces.Box(-2 * MAX_DISTANCE, 2 * MAX_DISTANCE, (3,), np.float32),
        }
        if privileged:  # ground truth, only for those who asked for it
            obs_spaces["segmentation"] = spaces.Box(-1, np.iinfo(np.int32).max, (k, h, w), np.int32)
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Dict({
            "point": spaces.Box(-POINT_LIMIT, POINT_LIMIT, (3,), np.float32),
            "direction": spaces.Box(-1.0, 1.0, (3,), np.float32),
            "distance": spaces.Box(0.0, MAX_DISTANCE, (1,), np.float32),
        })
        self.episode: dict[str, Any] | None = None
        self.body = -1
        self.done = True

    # ----------------------------------------------------------------------------- episodes
    def _default_episode(self) -> dict[str, Any]:
        """An episode drawn with the env's RNG (reset without options): a user file or a split object."""
        if self.config.objects:
            eps = user_episodes(self.config.objects)
            return eps[int(self.np_random.integers(len(eps)))]
        first, size = SPLITS[self.config.split]
        i = int(self.np_random.integers(size))
        seed = first + i
        return {"episode_id": f"{self.config.split}_{i:04d}", "seed": seed,
                "category": objects_lib.generate_object(seed).category}

    def _load(self, episode: dict[str, Any]) -> None:
        """Rebuild the world from scratch, so an episode never depends on the previous one."""
        p, c = self._p, self.client
        p.resetSimulation(physicsClientId=c)
        p.setGravity(0, 0, -9.81, physicsClientId=c)
        p.setTimeStep(TIME_STEP, physicsClientId=c)
        self.object_spec: objects_lib.ArticulatedSpec | None = None
        if "urdf" in episode:
            try:
                self.body = objects_lib.load_urdf_checked(episode["urdf"], c)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            self.joint_index = objects_lib.joint_indices(self.body, c)
        else:
            category = episode.get("category")
            self.object_spec = objects_lib.generate_object(int(episode["seed"]),
                                                    None if category in (None, "user") else category)
            self.body, self.joint_index = objects_lib.spawn(self.object_spec, self._tmp, c)
        self.num_links = p.getNumJoints(self.body, physicsClientId=c)
        self.link_names = {-1: "base"}
        self.movable: list[int] = []
        for j in range(self.num_links):
            info = p.getJointInfo(self.body, j, physicsClientId=c)
            self.link_names[j] = info[12].decode()
            if info[2] in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
                self.movable.append(j)
            # replace the default locking motor by a weak one: friction, not a lock
            p.setJointMotorControl2(self.body, j, p.VELOCITY_CONTROL, targetVelocity=0.0,
                                    force=self.joint_friction(j), physicsClientId=c)
        # a tiny static sphere parked far away, moved to a query point to find the nearest link
        shape = p.createCollisionShape(p.GEOM_SPHERE, radius=1e-3, physicsClientId=c)
        self.probe = p.createMultiBody(0.0, shape, -1, [0, 0, -100.0], physicsClientId=c)
        for _ in range(int(SETTLE_SECONDS / TIME_STEP)):
            p.stepSimulation(physicsClientId=c)
        self._setup_cameras()

    def joint_friction(self, j: int) -> float:
        """Friction of joint j: `config.joint_friction` plus 1.5x the largest gravity load on it.

        Why the gravity term: without it a bottom-hinged oven door falls open and a lid falls
        shut on its own, so the object would change without any action and a motion could not
        be attributed to the agent's interaction. With it, every part stays where it is left, as
        the spring-loaded hinges of real appliances do. The load counts the child link only.
        """
        p, c = self._p, self.client
        info = p.getJointInfo(self.body, j, physicsClientId=c)
        if info[2] not in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
            return self.config.joint_friction
        mass = float(p.getDynamicsInfo(self.body, j, physicsClientId=c)[0])
        frame = self._link_pose(j)
        axis = self._joint_axis_world(j)
        g = 9.81
        if info[2] == p.JOINT_PRISMATIC:
            load = mass * g * abs(axis[2])
        else:
            com = np.asarray(p.getLinkState(self.body, j, physicsClientId=c)[0], dtype=float)
            lever = float(np.linalg.norm(np.cross(com - frame[:3, 3], axis)))
            load = mass * g * lever * math.sqrt(max(0.0, 1.0 - axis[2] ** 2))
        return self.config.joint_friction + 1.5 * load

    def _object_aabb(self) -> tuple[np.ndarray, np.ndarray]:
        """World AABB of all the object's links (pybullet's, a few mm generous)."""
        p, c = self._p, self.client
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for link in range(-1, self.num_links):
            a, b = p.getAABB(self.body, link, physicsClientId=c)
            lo, hi = np.minimum(lo, a), np.maximum(hi, b)
        return lo, hi

    def _setup_cameras(self, view: Sequence[float] | None = None) -> None:
        """K cameras on an arc in front of the object, `camera_elevation` deg above its centre,
        framing its whole AABB.

        Front is the object's +x (generated objects) rotated by its base yaw; user URDFs are
        assumed to face +x too. K > 1 cameras spread evenly over `camera_spread` deg of azimuth
        around the front. `view` = (azimuth deg from the front, elevation deg, distance as a
        multiple of the framing distance) moves the whole rig there (the view action); the
        object's AABB is the one of the episode's start, so a view frames the same space
        whatever the parts' state.
        """
        cfg = self.config
        if view is None or not hasattr(self, "_start_aabb"):
            self._start_aabb = self._object_aabb()
        lo, hi = self._start_aabb
        center = (lo + hi) / 2.0
        radius = float(np.linalg.norm(hi - lo)) / 2.0
        yaw = self.object_spec.base_yaw if self.object_spec is not None else 0.0
        half = math.radians(cfg.vfov) / 2.0
        hfov_half = math.atan(math.tan(half) * cfg.width / cfg.height)
        half_spread = cfg.camera_spread / 2.0
        azimuth, elevation_deg, scale = (0.0, cfg.camera_elevation, 1.0) if view is None else view
        offsets = [azimuth] if cfg.cameras == 1 else np.linspace(-half_spread, half_spread, cfg.cameras) + azimuth
        elevation = math.radians(elevation_deg)
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])]) - center
        dist = scale * max(self._fit_distance(corners, yaw + math.radians(float(off)), elevation,
                                              math.tan(hfov_half), math.tan(half)) for off in offsets)
        self.far = float(dist + 3.0 * radius + 1.0)
        self.view = (float(azimuth), float(elevation_deg), float(scale))
        f = (cfg.height / 2.0) / math.tan(half)
        # principal point: pybullet's TinyRenderer samples pixel *corners* of its bottom-up
        # raster, so pixel (u, v) sees the ray of continuous coordinate (u, v + 1), not the
        # pixel centre: measured against planes of known position (a side panel, the top),
        # cx = W/2 and cy = H/2 - 1 put the cloud on the surfaces (half a pixel off is 2-3 mm)
        intr = np.array([[f, 0.0, cfg.width / 2.0], [0.0, f, cfg.height / 2.0 - 1.0],
                         [0.0, 0.0, 1.0]])
        self.intrinsics = np.repeat(intr[None], cfg.cameras, 0).astype(np.float32)
        self.extrinsics = np.zeros((cfg.cameras, 4, 4), np.float32)
        self._views = []
        for i, off in enumerate(offsets):
            az = yaw + math.radians(float(off))
            eye = center + dist * np.array([math.cos(elevation) * math.cos(az),
                                            math.cos(elevation) * math.sin(az), math.sin(elevation)])
            fwd = (center - eye) / np.linalg.norm(center - eye)
            right = np.cross(fwd, [0.0, 0.0, 1.0])
            right /= np.linalg.norm(right)
            down = np.cross(fwd, right)
            m = np.eye(4)
            m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, down, fwd, eye
            self.extrinsics[i] = m
            self._views.append(self._p.computeViewMatrix(eye.tolist(), center.tolist(), (-down).tolist(),
                                                         physicsClientId=self.client))
        self._proj = self._p.computeProjectionMatrixFOV(cfg.vfov, cfg.width / cfg.height, NEAR,
                                                        self.far, physicsClientId=self.client)

    @staticmethod
    def _fit_distance(corners: np.ndarray, azimuth: float, elevation: float, tan_h: float,
                      tan_v: float) -> float:
        """Smallest camera distance (x1.1 margin) at which all AABB corners (centred) are in view.

        Corner c is in view when |c.right| <= tan_h (d - c.out) and |c.up| <= tan_v (d - c.out),
        with `out` the unit vector from the centre to the camera: solve each for d.
        """
        out = np.array([math.cos(elevation) * math.cos(azimuth),
                        math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
        right = np.cross(-out, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, -out)
        need = np.maximum(corners @ out + np.abs(corners @ right) / tan_h,
                          corners @ out + np.abs(corners @ up) / tan_v)
        return float(1.1 * max(need.max(), NEAR + float(np.abs(corners @ out).max())))

    # ----------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        episode = (options or {}).get("episode") or self._default_episode()
        self.episode = dict(episode)
        self._load(self.episode)
        self.interactions = self.moved_count = self.exploded_count = self.views_taken = 0
        self.done = False
        obs = self._observe()
        self.start_part_points = self.part_points()   # from the env's own segmentation
        self.start_joint_states = self.joint_states()
        self._last_interaction: dict[str, Any] | None = None
        self.touched: set[str] = set()              # links grabbed so far (failure analysis)
        self.max_motion = {name: 0.0 for name in self.start_joint_states}   # largest |change| per pull
        info = {
            "episode_id": self.episode["episode_id"],
            "seed": self.episode.get("seed"),
            "category": self.episode.get("category"),
            "ground_truth": self.ground_truth(),
            "links": dict(self.link_names),
            "joint_states": self.joint_states(),
            "camera": {"width": self.config.width, "height": self.config.height,
                       "vfov": self.config.vfov, "near": NEAR, "far": self.far},
            "segmentation_encoding": "body + ((link + 1) << 24); -1 background; scoring only",
            "metrics": self._metrics(),
            "max_interactions": self.config.max_interactions,
        }
        return obs, self._public(info)

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None or self.done:
            raise RuntimeError("step() called before reset() or after the episode ended")
        # copies (np.array), so an agent that reuses its action arrays cannot change what the
        # env keeps of this interaction
        point = np.array(action["point"], dtype=float).reshape(3)
        direction = np.array(action["direction"], dtype=float).reshape(3)
        distance = float(np.asarray(action["distance"], dtype=float).reshape(-1)[0])
        for name, value in (("point", point), ("direction", direction), ("distance", distance)):
            if not np.all(np.isfinite(value)):
                raise ValueError(f"action[{name!r}] must be finite, got {value!r}")
        if action.get("view") is not None:       # optional: move the cameras, not the object
            return self._look(action["view"])
        if action.get("pixel") is not None:      # optional: grab what a pixel sees instead
            point = self.pixel_point(action["pixel"])   # NaN if it sees nothing: reported, not raised
        if distance <= 0.0:                      # "done": the agent has seen enough
            self.done = True
            info = {"done_called": True, "moved": False, "link": None, "physics_exploded": False,
                    "joint_states": self.joint_states(), "metrics": self._metrics()}
            # optional, not in action_space (JSON, not a Box): the agent's final model, scored here
            if action.get("estimate") is not None:
                from embodied.envs.articulation_metrics import NO_ARTICULATION, failure_causes, score_estimate
                now = self.joint_states()
                moved = {name: now[name] - self.start_joint_states[name] for name in now}
                truth = self.ground_truth()
                scores = score_estimate(action["estimate"], truth, self.start_part_points, moved)
                info["metrics"].update(scores)
                below = self._descendants()
                causes = failure_causes(action["estimate"], [{**t, "descendants": below.get(t.get("child"), [])}
                                                             for t in truth],
                                        self.start_part_points, sorted(self.touched), self.max_motion)
                info["record"] = {"sfa_result": action["estimate"].get(
                    "result", "ok" if scores["articulation_found"] else NO_ARTICULATION),
                    "failures": causes}
            return self._observe(), 0.0, True, False, self._public(info)
        before = self.joint_states()
        info = self.interact(point, direction, min(distance, MAX_DISTANCE))
        if info.get("link") is not None:
            self.touched.add(str(info["link"]))
        for name, value in self.joint_states().items():
            self.max_motion[name] = max(self.max_motion.get(name, 0.0), abs(value - before[name]))
        self._last_interaction = {"point": point, "direction": direction,
                                  "distance": min(distance, MAX_DISTANCE), "moved": info["moved"]}
        self.interactions += 1
        self.moved_count += int(info["moved"])
        self.exploded_count += int(info["physics_exploded"])
        truncated = self.interactions >= self.config.max_interactions
        self.done = truncated
        info["joint_states"] = self.joint_states()
        info["metrics"] = self._metrics()
        return self._observe(info.get("gripper_shift")), 0.0, False, truncated, self._public(info)

    def _look(self, view: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """The view action: the camera rig to (azimuth, elevation, distance scale) within
        `VIEW_LIMITS`, paid from the interaction budget as a robot pays for moving its head or base."""
        values = np.asarray(view, dtype=float).reshape(-1)
        if values.shape != (3,) or not np.all(np.isfinite(values)):
            raise ValueError(f"action['view'] must be (azimuth deg, elevation deg, distance scale), got {view!r}")
        clipped = tuple(float(np.clip(v, lo, hi)) for v, (lo, hi) in zip(values, VIEW_LIMITS))
        self._setup_cameras(clipped)
        self.interactions += 1
        self.views_taken += 1
        truncated = self.interactions >= self.config.max_interactions
        self.done = truncated
        self._last_interaction = None
        info = {"moved": False, "link": None, "physics_exploded": False, "view": list(clipped),
                "clipped": clipped != tuple(values.tolist()), "joint_states": self.joint_states()}
        info["metrics"] = self._metrics()
        obs = self._observe()
        if self._in_start_state():
            # what this view shows of each part in its start state belongs to the part's true
            # points too (scoring): an agent that looks before it pulls is judged on all it saw
            for name, pts in self.part_points().items():
                self.start_part_points[name] = np.concatenate([self.start_part_points.get(name, np.zeros((0, 3))), pts])
        return obs, 0.0, False, truncated, self._public(info)

    def _in_start_state(self, tolerance: float = 1e-3) -> bool:
        """No joint has moved (more than `tolerance` m or rad) since the episode started."""
        now = self.joint_states()
        return all(abs(now[name] - start) <= tolerance for name, start in self.start_joint_states.items())

    def _public(self, info: dict[str, Any]) -> dict[str, Any]:
        """`info` without its ground-truth keys, unless the env is privileged (agents see what a
        robot would; scoring and tests read the env's own state, e.g. `ground_truth()`)."""
        if not self.privileged:
            for key in PRIVILEGED_INFO:
                info.pop(key, None)
        return info

    def render(self) -> np.ndarray | None:
        """Camera 0, upscaled, with the last interaction drawn (green arrow: it moved a part)."""
        if self.render_mode != "rgb_array":
            return None
        from embodied.viz_articulation import sfa_frame

        return sfa_frame(self._last_rgb[0], self.intrinsics[0], self.extrinsics[0],
                         self._last_interaction, [])

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            try:
                self._p.disconnect(self.client)
            except self._p.error:
                pass
            self.client = None
        shutil.rmtree(getattr(self, "_tmp", ""), ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ----------------------------------------------------------------------------- interaction
    def pick_link(self, point: np.ndarray) -> int | None:
        """The object's link whose surface is nearest `point`, if within PICK_RADIUS; else None."""
        p, c = self._p, self.client
        p.resetBasePositionAndOrientation(self.probe, point.tolist(), [0, 0, 0, 1], physicsClientId=c)
        hits = p.getClosestPoints(self.probe, self.body, PICK_RADIUS, physicsClientId=c)
        p.resetBasePositionAndOrientation(self.probe, [0, 0, -100.0], [0, 0, 0, 1], physicsClientId=c)
        if not hits:
            return None
        return int(min(hits, key=lambda h: h[8])[4])

    def _link_corners(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per link: its world pose (4x4) and its AABB corners in its own frame (for displacement)."""
        p, c = self._p, self.client
        out = []
        for link in range(self.num_links):
            m = self._link_pose(link)
            a, b = p.getAABB(self.body, link, physicsClientId=c)
            corners = np.array([[x, y, z] for x in (a[0], b[0]) for y in (a[1], b[1])
                                for z in (a[2], b[2])])
            local = (np.linalg.inv(m) @ np.c_[corners, np.ones(8)].T).T[:, :3]
            out.append((m, local))
        return out

    def _link_pose(self, link: int) -> np.ndarray:
        st = self._p.getLinkState(self.body, link, computeForwardKinematics=True,
                                  physicsClientId=self.client)
        return _pose_matrix(st[4], st[5], self._p)

    def _joint_axis_world(self, j: int) -> np.ndarray:
        """Joint j's axis in the world (unit). PyBullet gives it in the child's *inertial* frame,
        which a URDF may rotate (`<inertial><origin rpy=...>`) away from the link frame: rotating by
        the link frame instead read a hinge about +z as about -y (found on a hand-written file)."""
        p, c = self._p, self.client
        com_orientation = p.getLinkState(self.body, j, computeForwardKinematics=True, physicsClientId=c)[1]
        rot = np.asarray(p.getMatrixFromQuaternion(com_orientation), dtype=float).reshape(3, 3)
        axis = rot @ np.asarray(p.getJointInfo(self.body, j, physicsClientId=c)[13], dtype=float)
        return axis / np.linalg.norm(axis)

    def _displacements(self, start: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Max displacement (m) of each link's AABB corners since `start` (NaN-safe: NaN -> inf)."""
        out = np.zeros(len(start))
        for link, (m0, local) in enumerate(start):
            m1 = self._link_pose(link)
            h = np.c_[local, np.ones(len(local))].T
            d = np.linalg.norm((m1 @ h - m0 @ h)[:3], axis=0)
            out[link] = float(np.max(d)) if np.all(np.isfinite(d)) else np.inf
        return out

    def _exploded(self, start: list[tuple[np.ndarray, np.ndarray]]) -> bool:
        if not start:
            return False
        if np.any(self._displacements(start) > EXPLODE_DISTANCE):
            return True
        states = self._p.getLinkStates(self.body, list(range(self.num_links)), computeLinkVelocity=True,
                                       physicsClientId=self.client)
        speeds = [np.linalg.norm(s[6]) for s in states]
        return not np.all(np.isfinite(speeds)) or max(speeds) > EXPLODE_SPEED

    def interact(self, point: np.ndarray, direction: np.ndarray, distance: float) -> dict[str, Any]:
        """Grab the link under `point` and drag that point `distance` m along `direction`.

        A JOINT_POINT2POINT constraint ties the link at the point to a world pivot; the pivot
        moves on a smoothstep profile over PUSH_SECONDS, holds, and is released; the world then
        settles. maxForce bounds the pull, so a blocked part (joint limit, collision) just stays.
        If the physics explodes, the state saved before the interaction is restored.
        """
        p, c = self._p, self.client
        info: dict[str, Any] = {"moved": False, "link": None, "link_index": None,
                                "physics_exploded": False, "displacement": 0.0}
        norm = float(np.linalg.norm(direction))
        if not np.all(np.isfinite(point)) or not math.isfinite(norm) or norm < 1e-6:
            info["reason"] = "invalid point or zero direction"
            return info
        direction = direction / norm
        link = self.pick_link(point)
        if link is None:
            info["reason"] = "no link within 2 cm of the point"
            return info
        info["link"], info["link_index"] = self.link_names[link], link
        if link == -1:
            info["reason"] = "the fixed base cannot move"
            return info
        saved = p.saveState(physicsClientId=c)
        start = self._link_corners()
        com = p.getLinkState(self.body, link, computeForwardKinematics=True, physicsClientId=c)
        inv = np.linalg.inv(_pose_matrix(com[0], com[1], p))   # constraint frames are COM frames
        local = (inv @ np.r_[point, 1.0])[:3]
        cid = p.createConstraint(self.body, link, -1, -1, p.JOINT_POINT2POINT, [0, 0, 0],
                                 local.tolist(), point.tolist(), physicsClientId=c)
        p.changeConstraint(cid, point.tolist(), maxForce=self.config.max_force, physicsClientId=c)
        push, hold = int(PUSH_SECONDS / TIME_STEP), int(HOLD_SECONDS / TIME_STEP)
        settle = int(SETTLE_SECONDS / TIME_STEP)
        exploded = False
        for k in range(push + hold + settle):
            if k < push + hold:
                pivot = point + direction * distance * _smoothstep((k + 1) / push)
                p.changeConstraint(cid, pivot.tolist(), maxForce=self.config.max_force,
                                   physicsClientId=c)
            elif k == push + hold:
                held = p.getLinkState(self.body, link, computeForwardKinematics=True,
                                      physicsClientId=c)
                end = (_pose_matrix(held[0], held[1], p) @ np.r_[local, 1.0])[:3]
                info["gripper_shift"] = end - point
                p.removeConstraint(cid, physicsClientId=c)
                cid = None
            p.stepSimulation(physicsClientId=c)
            if k % 10 == 9 and self._exploded(start):
                exploded = True
                break
        if cid is not None:
            p.removeConstraint(cid, physicsClientId=c)
        exploded = exploded or self._exploded(start)
        if exploded:
            info.pop("gripper_shift", None)
            p.restoreState(saved, physicsClientId=c)
            info["physics_exploded"] = True
            info["reason"] = "physics exploded; state before the interaction restored"
        p.removeState(saved, physicsClientId=c)
        disp = self._displacements(start)
        info["displacement"] = float(disp.max()) if len(disp) else 0.0
        info["moved"] = bool(info["displacement"] > MOVED_THRESHOLD)
        return info

    # ----------------------------------------------------------------------------- observation
    def _observe(self, gripper_shift: np.ndarray | None = None) -> dict[str, Any]:
        p, c, cfg = self._p, self.client, self.config
        k, h, w = cfg.cameras, cfg.height, cfg.width
        rgb = np.zeros((k, h, w, 3), np.uint8)
        depth = np.zeros((k, h, w), np.float32)
        seg = np.zeros((k, h, w), np.int32)
        clouds = []
        v, u = np.mgrid[0:h, 0:w]
        for i, view in enumerate(self._views):
            _, _, img, zbuf, mask = p.getCameraImage(
                w, h, viewMatrix=view, projectionMatrix=self._proj, renderer=p.ER_TINY_RENDERER,
                flags=p.ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX, physicsClientId=c)
            rgb[i] = np.asarray(img, np.uint8).reshape(h, w, 4)[..., :3]
            zb = np.asarray(zbuf, np.float64).reshape(h, w)
            z = self.far * NEAR / (self.far - (self.far - NEAR) * zb)
            m = np.asarray(mask, np.int64).reshape(h, w)
            valid = (m >= 0) & (zb < 1.0)
            z = np.where(valid, z, self.far)
            depth[i], seg[i] = z, np.where(valid, m, -1)
            K = self.intrinsics[i]
            zs = z[valid]
            cam = np.stack([(u[valid] - K[0, 2]) * zs / K[0, 0], (v[valid] - K[1, 2]) * zs / K[1, 1],
                            zs], axis=1)
            E = self.extrinsics[i].astype(np.float64)
            clouds.append(cam @ E[:3, :3].T + E[:3, 3])
        cloud = np.concatenate(clouds, axis=0) if clouds else np.zeros((0, 3))
        points = np.zeros((self.max_points, 3), np.float32)
        points[: len(cloud)] = cloud
        # the env keeps these (render, pixel actions, scoring) and hands out copies, so an agent
        # that writes into its observation cannot change what the env renders, grabs or scores
        self._last_rgb, self._last_depth = rgb, depth
        self._last_seg, self._last_points = seg, points
        self._last_num_points = len(cloud)
        obs = {"rgb": rgb.copy(), "depth": depth.copy(), "intrinsics": self.intrinsics.copy(),
               "extrinsics": self.extrinsics.copy(), "points": points.copy(),
               "num_points": np.array([len(cloud)], np.int64),
               "gripper_shift": np.clip(np.zeros(3) if gripper_shift is None else gripper_shift,
                                        -2 * MAX_DISTANCE, 2 * MAX_DISTANCE).astype(np.float32)}
        if self.privileged:
            obs["segmentation"] = seg.copy()
        return obs

    # ----------------------------------------------------------------------------- ground truth
    def joint_states(self) -> dict[str, float]:
        """Current position of every movable joint by name (m or rad): for scoring and tests."""
        p, c = self._p, self.client
        return {p.getJointInfo(self.body, j, physicsClientId=c)[1].decode():
                float(p.getJointState(self.body, j, physicsClientId=c)[0]) for j in self.movable}

    def ground_truth(self) -> list[dict[str, Any]]:
        """World-frame joint parameters, for metrics only (never part of the observation).

        Generated objects: `objects.ground_truth(spec)`. User URDFs: read from pybullet — the
        joint axis (given in the child's inertial frame) rotated to the world, and the joint
        frame's origin, which lies on the axis whatever the joint state.
        """
        if self.object_spec is not None:
            return objects_lib.ground_truth(self.object_spec)
        p, c = self._p, self.client
        out = []
        for j in self.movable:
            info = p.getJointInfo(self.body, j, physicsClientId=c)
            m = self._link_pose(j)
            axis = self._joint_axis_world(j)
            out.append({"joint": info[1].decode(), "child": info[12].decode(),
                        "type": "revolute" if info[2] == p.JOINT_REVOLUTE else "prismatic",
                        "axis": axis.tolist(), "origin": m[:3, 3].tolist(),
                        "lower": float(info[8]), "upper": float(info[9]),
                        "state": float(p.getJointState(self.body, j, physicsClientId=c)[0])})
        return out

    def _descendants(self) -> dict[str, list[str]]:
        """Link name -> names of the links below it (a door on a drawer is below the drawer):
        grabbing any of them can move the link's joint."""
        p, c = self._p, self.client
        parent = {j: p.getJointInfo(self.body, j, physicsClientId=c)[16]
                  for j in range(p.getNumJoints(self.body, physicsClientId=c))}
        out: dict[str, list[str]] = {}
        for j in parent:
            k = parent[j]
            while k >= 0:
                out.setdefault(self.link_names[k], []).append(self.link_names[j])
                k = parent[k]
        return out

    def pixel_point(self, pixel: Sequence[int]) -> np.ndarray:
        """The world point the last observation's pixel (camera, row, col) sees; NaN if none.

        Why: an agent that picks where to act in the image (a heat map over pixels, as learned
        interaction policies do) need not lift the pixel itself. A pixel that saw nothing gives
        a NaN point, which the interaction reports as invalid rather than grabbing thin air.
        """
        cfg = self.config
        k, v, u = (int(x) for x in np.asarray(pixel).reshape(3))
        if not (0 <= k < cfg.cameras and 0 <= v < cfg.height and 0 <= u < cfg.width):
            raise ValueError(f"action pixel (camera, row, col) = ({k}, {v}, {u}) is outside "
                             f"{cfg.cameras} camera(s) of {cfg.height}x{cfg.width}")
        z = float(self._last_depth[k, v, u])
        if z >= self.far:
            return np.full(3, np.nan)
        K, E = self.intrinsics[k].astype(float), self.extrinsics[k].astype(float)
        cam = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z])
        return E[:3, :3] @ cam + E[:3, 3]

    def _check_latest(self, obs: Mapping[str, Any] | None) -> None:
        """Refuse an observation other than the latest: the env keeps the segmentation of that
        one only (observations carry none unless privileged, and scoring must not trust one)."""
        if obs is None:
            return
        n = int(np.asarray(obs["num_points"]).reshape(-1)[0])
        if n != self._last_num_points or not np.array_equal(np.asarray(obs["points"]),
                                                             self._last_points):
            raise ValueError("point_links/part_points label the env's latest observation only; "
                             "this observation is an older one (or was modified)")

    def point_links(self, obs: Mapping[str, Any] | None = None) -> np.ndarray:
        """Ground truth per valid row of the latest observation's ``points``: the object's link
        index it shows (-1: the fixed base; -2: anything else). Rows are fused camera by camera
        from the valid pixels in row-major order, and a pixel is valid exactly when its
        segmentation is >= 0. Read from the env's own segmentation, so it works for agents'
        (unprivileged) observations too; `obs`, if given, must be that latest observation.
        For scoring and tests only."""
        self._check_latest(obs)
        seg = self._last_seg
        labels = np.concatenate([s[s >= 0] for s in seg]) if len(seg) else np.zeros(0, np.int64)
        labels = labels[:self._last_num_points].astype(np.int64)
        return np.where((labels & ((1 << 24) - 1)) == self.body, (labels >> 24) - 1, -2)

    def part_points(self, obs: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Ground-truth part segmentation of the latest observation's fused cloud: link name ->
        (N, 3), movable links only (see ``point_links``). For scoring only."""
        link = self.point_links(obs)
        points = np.asarray(self._last_points[:len(link)], dtype=float)
        return {self.link_names[j]: points[link == j] for j in self.movable}

    def _metrics(self) -> dict[str, int]:
        return {"interactions": self.interactions, "moved": self.moved_count,
                "exploded": self.exploded_count, "views": self.views_taken}
