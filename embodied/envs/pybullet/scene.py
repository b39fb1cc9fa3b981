"""A `HouseSpec` in a PyBullet client: static bodies, a collision-only agent, and a camera.

Why it looks the way it does:

- One private client per scene (`p.connect(p.DIRECT)`, the id passed on every call), so several
  scenes -- one per env, per worker -- never share or clobber each other's world.
- One static body per `ObjectSpec`, built from `createCollisionShapeArray` /
  `createVisualShapeArray` (its `rgbaColors` gives every part its own colour; links are not
  needed). A body per object keeps the body count at ~20-45 per house and makes the
  segmentation mask's body id map straight to the spec's `instance_id`.
- The agent is a collision-only cylinder (radius 0.18, z 0.03..1.0). PyBullet draws the
  collision shape of a body that has no visual shape, so between queries the agent is parked
  far below the floor and beyond the far plane: it never appears in a frame.
- `try_move` asks PyBullet itself (broadphase `getOverlappingObjects` over the swept box, then
  `getClosestPoints` against those bodies) at the target and every <= 0.1 m along the way, so the
  agent can never end up inside a wall or object, whatever the navigation grid says.
- Rendering: TinyRenderer (CPU), the EGL plugin, or "raycast": open3d's Embree ray caster
  (`raycast.RaycastRenderer`, built from the same `HouseSpec` in `load` after the bodies), which
  only replaces the camera -- bodies, collisions and ray tests stay in PyBullet. The EGL plugin
  must be loaded before any body exists in the client (otherwise frames come back empty); it
  survives `resetSimulation`, which `load` checks with a probe frame (and reconnects once if
  not). "auto" picks whichever measured fastest for these primitive houses:
  raycast below `AUTO_RAYCAST_MAX_PIXELS` (224x224: 5.2-5.5 ms vs. TinyRenderer's 12 ms and
  EGL's 16-27 ms), EGL from there up (640x480 on an idle 2-core machine: 25-31 ms vs. raycast's
  29-31 ms and TinyRenderer's 67-75 ms); without open3d, the old rule: TinyRenderer below
  `AUTO_EGL_MIN_PIXELS`, EGL from it up, TinyRenderer whenever EGL does not load.
  (The EGL plugin always draws shadow maps and specular highlights; getCameraImage's `shadow`
  and light arguments only affect TinyRenderer, which runs without shadows. The ray caster
  reproduces TinyRenderer's triangles and shading, but samples pixel centres where EGL and
  `intrinsics()` put them; TinyRenderer's samples are half a pixel off, at pixel corners.)
- Depth is z-depth in metres (from the OpenGL depth buffer with near/far; the ray caster's hit
  distance along rays whose forward component is 1); background (sky: there is no ceiling) is
  `far` in depth, 0 in instance/semantic, and one fixed sky colour in rgb for every renderer
  (TinyRenderer and EGL would otherwise disagree: white vs. grey-blue).
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
from typing import Any, Sequence

import numpy as np

from embodied.envs.pybullet.house import HouseSpec, ObjectSpec, semantic_id

RENDERERS = ("auto", "tiny", "egl", "raycast")
#: "auto" uses EGL from this many pixels per frame up (and TinyRenderer below, or when EGL does
#: not load). Measured on a 2-core CPU with Mesa llvmpipe (benchmarks/render_speed.py, houses of
#: 70-110 primitives, rgb+depth+seg, three runs): 224x224 tiny 12 ms (12 ms CPU) vs EGL 17-28 ms
#: (26-31 ms CPU: llvmpipe uses ~2 cores); 640x480 tiny 63-70 ms vs EGL 24-36 ms (36-48 ms CPU).
#: TinyRenderer's cost grows with the pixel count (~0.2 ms per 1000 px) while EGL's is mostly
#: fixed; they cross at roughly 90k px (wall clock) to 160k px (CPU time).
AUTO_EGL_MIN_PIXELS = 120_000
#: "auto" uses the ray caster below this many pixels per frame (when open3d imports; EGL or
#: TinyRenderer by the rule above otherwise). Measured the same way (rgb+depth, one Embree thread):
#: raycast costs ~0.1 ms per 1000 px on one core -- 224x224 5.2-5.5 ms, 400x300 12 ms, 512x384
#: 19 ms, 640x480 29-31 ms -- vs EGL (idle machine) 16, 20-23, 21, 25 ms wall but 34-39 ms CPU.
#: They cross at ~240k px in wall clock (~490k px in CPU time), so 640x480 keeps EGL, as before.
#: (With the second core busy -- another env -- EGL's llvmpipe gets one core and takes 38 ms at
#: 640x480, slower than raycast: raise this limit if envs run one per core at large sizes.)
AUTO_RAYCAST_MAX_PIXELS = 240_000
SKY_RGB = (200, 220, 240)


@contextlib.contextmanager
def _quiet(enabled: bool = True):
    """Silence C-level stdout/stderr (the EGL plugin prints its GL strings on load, on every
    change of frame size and on exit) so CLI tables and JSON output stay clean."""
    if not enabled:
        yield
        return
    saved = []
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                continue
            saved.append((fd, os.dup(fd)))
        with open(os.devnull, "w") as devnull:
            for fd, _ in saved:
                os.dup2(devnull.fileno(), fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def egl_plugin_path() -> str | None:
    """File of pybullet's EGL renderer plugin (the `eglRenderer` extension module), or None."""
    spec = importlib.util.find_spec("eglRenderer")
    return spec.origin if spec is not None and spec.origin else None


class PyBulletScene:
    """The embedded simulator's world: build a house, move a cylinder agent, render frames.

    Extra keyword arguments beyond docs/internals.md: `clearance` (a query distance below this
    counts as a collision; 1 mm absorbs PyBullet's GJK round-off), `near`/`far` (clip planes, m),
    `max_step` (spacing of the collision checks along a move), `raycast_threads` (Embree
    threads per frame with renderer="raycast"; 1 because the runner runs one env per core).
    """

    def __init__(self, width: int = 224, height: int = 224, hfov_deg: float = 90.0,
                 renderer: str = "auto", agent_radius: float = 0.18, agent_height: float = 1.0,
                 camera_height: float = 0.88, *, clearance: float = 1e-3, near: float = 0.05,
                 far: float = 20.0, max_step: float = 0.1, raycast_threads: int = 1) -> None:
        import pybullet as p

        if renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        if width <= 0 or height <= 0 or not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"bad camera: {width}x{height}, hfov {hfov_deg} deg")
        self._p = p
        self.width, self.height = int(width), int(height)
        self.hfov = math.radians(hfov_deg)
        self.vfov = 2.0 * math.atan(math.tan(self.hfov / 2.0) * self.height / self.width)
        self.agent_radius, self.agent_height = float(agent_radius), float(agent_height)
        self.agent_z0 = 0.03                    # the cylinder floats just above the floor top
        self.camera_height = float(camera_height)
        self.clearance, self.near, self.far, self.max_step = clearance, near, far, max_step
        self.house: HouseSpec | None = None
        self.bodies: dict[int, int] = {}        # instance id -> body id
        self.agent_body = -1
        self._floor_bodies: set[int] = set()
        self._inst_lut = np.zeros(1, dtype=np.int32)
        self._sem_lut = np.zeros(1, dtype=np.int32)
        self._requested = renderer
        self.client = -1
        self._raycaster = None
        pixels = self.width * self.height
        if renderer == "raycast" or (renderer == "auto" and pixels < AUTO_RAYCAST_MAX_PIXELS):
            try:
                self._raycaster = self._make_raycaster(raycast_threads)
            except RuntimeError:
                if renderer == "raycast":
                    raise
        if self._raycaster is not None:
            self._connect("tiny")           # a plain client: bodies, collisions, ray tests
            self._renderer = "raycast"
        elif renderer == "auto" and pixels >= AUTO_EGL_MIN_PIXELS:
            try:
                self._connect("egl")
            except RuntimeError:
                self._connect("tiny")
        else:
            self._connect("tiny" if renderer == "auto" else renderer)
        self._proj = p.computeProjectionMatrixFOV(math.degrees(self.vfov),
                                                  self.width / self.height, near, far,
                                                  physicsClientId=self.client)

    # ---------------------------------------------------------------- client and renderer

    def _connect(self, renderer: str) -> None:
        p = self._p
        self.client = p.connect(p.DIRECT)
        self._renderer = "tiny"
        if renderer == "egl":
            path = egl_plugin_path()
            plugin = -1
            if path is not None:
                with _quiet():
                    plugin = p.loadPlugin(path, "_eglRendererPlugin", physicsClientId=self.client)
            if plugin < 0:
                p.disconnect(physicsClientId=self.client)
                self.client = -1
                raise RuntimeError(
                    "the EGL renderer plugin did not load (pybullet's eglRenderer module "
                    f"{'was not found' if path is None else 'at ' + path + ' failed'}); "
                    "install libEGL (Debian: libegl1, plus Mesa or a GPU driver) or use "
                    "renderer='tiny'")
            self._renderer = "egl"
        self._renderer_flag = p.ER_BULLET_HARDWARE_OPENGL if self._renderer == "egl" \
            else p.ER_TINY_RENDERER
        self._frame_size = (0, 0)     # last size drawn; EGL prints its GL strings on a change

    def _make_raycaster(self, threads: int) -> Any:
        """The Embree camera for renderer="raycast" (RuntimeError if open3d does not import,
        e.g. without Debian's libusb-1.0-0, so that "auto" can fall back to TinyRenderer)."""
        try:
            from embodied.envs.pybullet.raycast import RaycastRenderer
            return RaycastRenderer(self.width, self.height, self.hfov, self.near, self.far,
                                   self.camera_height, threads=threads)
        except (ImportError, OSError) as e:          # e.g. a shared library it needs is missing
            raise RuntimeError(f"the raycast renderer needs open3d, which did not import ({e}); "
                               "install open3d (and Debian's libusb-1.0-0) or use "
                               "renderer='tiny'") from e

    def _camera_image(self, width: int, height: int, view: Any, proj: Any, flags: int) -> tuple:
        """getCameraImage on this client and renderer (silenced when EGL would print)."""
        with _quiet(self._renderer == "egl" and (width, height) != self._frame_size):
            self._frame_size = (width, height)
            return self._p.getCameraImage(width, height, viewMatrix=view, projectionMatrix=proj,
                                          renderer=self._renderer_flag, flags=flags,
                                          physicsClientId=self.client)

    @property
    def renderer(self) -> str:
        """The renderer that actually runs: "tiny", "egl" or "raycast"."""
        return self._renderer

    # ---------------------------------------------------------------- building

    def load(self, house: HouseSpec) -> None:
        """Replace the world by `house` (resetSimulation + rebuild in the same client; with
        "raycast" the Embree scene is rebuilt from the same spec, ~10-40 ms).

        With EGL a probe frame checks that the plugin still draws; if not, the client is
        reconnected (plugin first) and rebuilt once, and if that fails too: "egl" raises,
        "auto" falls back to TinyRenderer.
        """
        if self.client < 0:
            raise RuntimeError("scene is closed")
        self._rebuild(house)
        if self._raycaster is not None:
            self._raycaster.load(house)
        if self._renderer != "egl" or self.rendered_frames_nonempty():
            return
        with _quiet():
            self._p.disconnect(physicsClientId=self.client)
        self._connect("egl")
        self._rebuild(house)
        if self.rendered_frames_nonempty():
            return
        if self._requested == "auto":
            with _quiet():
                self._p.disconnect(physicsClientId=self.client)
            self._connect("tiny")
            self._rebuild(house)
            return
        raise RuntimeError(
            "the EGL renderer returns empty frames (only background) for a loaded house: "
            "the eglRenderer plugin must be loaded before any body is created in the client, "
            "and needs a working EGL (Mesa llvmpipe or a GPU driver); use renderer='tiny'")

    def _rebuild(self, house: HouseSpec) -> None:
        p, cid = self._p, self.client
        p.resetSimulation(physicsClientId=cid)
        self.house = house
        self.bodies = {}
        self._floor_bodies = set()
        body_ids = []
        for obj in house.objects:
            body = self._build(obj)
            self.bodies[obj.instance_id] = body
            body_ids.append((body, obj))
            if obj.category == "Floor":
                self._floor_bodies.add(body)
        half = (self.agent_height - self.agent_z0) / 2.0
        shape = p.createCollisionShape(p.GEOM_CYLINDER, radius=self.agent_radius,
                                       height=2.0 * half, physicsClientId=cid)
        self._agent_half = half
        self.agent_body = p.createMultiBody(0.0, shape, -1, self._parking(),
                                            physicsClientId=cid)
        n = max([b for b, _ in body_ids] + [self.agent_body]) + 2
        self._inst_lut = np.zeros(n, dtype=np.int32)
        self._sem_lut = np.zeros(n, dtype=np.int32)
        for body, obj in body_ids:
            self._inst_lut[body + 1] = obj.instance_id
            self._sem_lut[body + 1] = semantic_id(obj.category)

    def _parking(self) -> list[float]:
        return [0.0, 0.0, -10.0 * self.far]

    def _build(self, obj: ObjectSpec) -> int:
        """One static multi-shape body: per-part collision shapes and per-part colours."""
        p, cid = self._p, self.client
        types, radii, halves, lengths, poss, orns, colours = [], [], [], [], [], [], []
        for q in obj.parts:
            if q.kind == "box":
                types.append(p.GEOM_BOX)
                radii.append(0.0)
                halves.append(list(q.size))
                lengths.append(0.0)
            elif q.kind == "cylinder":
                types.append(p.GEOM_CYLINDER)
                radii.append(q.size[0])
                halves.append([0.0, 0.0, 0.0])
                lengths.append(2.0 * q.size[1])
            else:
                types.append(p.GEOM_SPHERE)
                radii.append(q.size[0])
                halves.append([0.0, 0.0, 0.0])
                lengths.append(0.0)
            poss.append(list(q.pos))
            orns.append(p.getQuaternionFromEuler(q.euler))
            colours.append(list(q.rgba))
        col = p.createCollisionShapeArray(
            shapeTypes=types, radii=radii, halfExtents=halves, lengths=lengths,
            collisionFramePositions=poss, collisionFrameOrientations=orns, physicsClientId=cid)
        vis = p.createVisualShapeArray(
            shapeTypes=types, radii=radii, halfExtents=halves, lengths=lengths,
            visualFramePositions=poss, visualFrameOrientations=orns, rgbaColors=colours,
            physicsClientId=cid)
        return p.createMultiBody(
            baseMass=0.0, baseCollisionShapeIndex=col, baseVisualShapeIndex=vis,
            basePosition=list(obj.position),
            baseOrientation=p.getQuaternionFromEuler((0.0, 0.0, obj.yaw)),
            physicsClientId=cid)

    # ---------------------------------------------------------------- collision

    def _candidates(self, lo: Sequence[float], hi: Sequence[float]) -> list[int]:
        """Bodies whose AABB meets the agent's swept box (xy lo..hi, grown by the radius)."""
        m = self.agent_radius + self.clearance + 0.01
        pairs = self._p.getOverlappingObjects(
            [lo[0] - m, lo[1] - m, self.agent_z0], [hi[0] + m, hi[1] + m, self.agent_height],
            physicsClientId=self.client) or ()
        seen = []
        for body, _link in pairs:
            if body != self.agent_body and body not in self._floor_bodies and body not in seen:
                seen.append(body)
        return seen

    def _hit_at(self, xy: Sequence[float], bodies: Sequence[int]) -> bool:
        p, cid = self._p, self.client
        p.resetBasePositionAndOrientation(
            self.agent_body, [float(xy[0]), float(xy[1]), self.agent_z0 + self._agent_half],
            [0.0, 0.0, 0.0, 1.0], physicsClientId=cid)
        for body in bodies:
            for cp in p.getClosestPoints(self.agent_body, body, self.clearance,
                                         physicsClientId=cid):
                if cp[8] < self.clearance:
                    return True
        return False

    def _park(self) -> None:
        self._p.resetBasePositionAndOrientation(self.agent_body, self._parking(),
                                                [0.0, 0.0, 0.0, 1.0], physicsClientId=self.client)

    def _inside(self, xy: Sequence[float]) -> bool:
        x0, y0, x1, y1 = self.house.bounds
        r = self.agent_radius
        return x0 + r <= xy[0] <= x1 - r and y0 + r <= xy[1] <= y1 - r

    def collides(self, xy: Sequence[float]) -> bool:
        """Would the agent cylinder standing at xy touch any geometry (or leave the house)?"""
        self._require_house()
        if not self._inside(xy):
            return True
        try:
            return self._hit_at(xy, self._candidates(xy, xy))
        finally:
            self._park()

    def try_move(self, xy_from: Sequence[float], xy_to: Sequence[float]) -> bool:
        """True iff the agent can slide from xy_from to xy_to: the target and points every
        <= `max_step` along the segment are collision-free. The caller moves the agent only on
        True, so it can never end up inside geometry."""
        self._require_house()
        a = np.asarray(xy_from, dtype=float)[:2]
        b = np.asarray(xy_to, dtype=float)[:2]
        if not self._inside(b):
            return False
        n = max(1, int(math.ceil(float(np.hypot(*(b - a))) / self.max_step - 1e-9)))
        bodies = self._candidates(np.minimum(a, b), np.maximum(a, b))
        try:
            # the target first: most refusals are decided there with one query
            for k in [n] + list(range(1, n)):
                if self._hit_at(a + (b - a) * (k / n), bodies):
                    return False
            return True
        finally:
            self._park()

    def min_distance(self, xy: Sequence[float], max_distance: float = 1.0) -> float:
        """Smallest signed distance (m) from the agent cylinder at xy to any body (floor
        excluded); negative means penetration, `inf` if nothing is within max_distance."""
        self._require_house()
        p, cid = self._p, self.client
        p.resetBasePositionAndOrientation(
            self.agent_body, [float(xy[0]), float(xy[1]), self.agent_z0 + self._agent_half],
            [0.0, 0.0, 0.0, 1.0], physicsClientId=cid)
        best = math.inf
        try:
            for body in self.bodies.values():
                if body in self._floor_bodies:
                    continue
                for cp in p.getClosestPoints(self.agent_body, body, max_distance,
                                             physicsClientId=cid):
                    best = min(best, cp[8])
        finally:
            self._park()
        return best

    def ray_hits(self, origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Instance id of the first thing each segment origins[i] -> targets[i] (N, 3) hits, 0 if
        none: line-of-sight queries (is a goal visible from here?) without rendering."""
        self._require_house()
        o = np.asarray(origins, dtype=float).reshape(-1, 3)
        t = np.asarray(targets, dtype=float).reshape(-1, 3)
        if o.shape != t.shape:
            raise ValueError(f"origins {o.shape} and targets {t.shape} differ")
        out = np.zeros(len(o), dtype=np.int32)
        batch = 8192                      # below pybullet's per-call ray limit
        for s in range(0, len(o), batch):
            res = self._p.rayTestBatch(o[s:s + batch].tolist(), t[s:s + batch].tolist(),
                                       physicsClientId=self.client)
            bodies = np.array([r[0] for r in res], dtype=np.int64)
            out[s:s + batch] = self._inst_lut[np.clip(bodies + 1, 0, len(self._inst_lut) - 1)]
        return out

    def _require_house(self) -> None:
        if self.house is None:
            raise RuntimeError("no house loaded: call scene.load(house) first")

    # ---------------------------------------------------------------- camera

    def view_matrix(self, x: float, y: float, yaw: float, pitch: float) -> Any:
        """OpenGL view matrix of the agent camera (yaw 0 looks along +x, pitch > 0 looks up)."""
        cp, sp, cy, sy = math.cos(pitch), math.sin(pitch), math.cos(yaw), math.sin(yaw)
        eye = [float(x), float(y), self.camera_height]
        target = [eye[0] + cp * cy, eye[1] + cp * sy, eye[2] + sp]
        up = [-sp * cy, -sp * sy, cp]
        return self._p.computeViewMatrix(eye, target, up, physicsClientId=self.client)

    def render(self, x: float, y: float, yaw: float, pitch: float, want_depth: bool = True,
               want_seg: bool = True) -> dict[str, np.ndarray]:
        """Render the agent camera at (x, y) with heading `yaw` and camera `pitch` (radians).

        Returns rgb (H, W, 3) uint8 always; depth (H, W) float32 z-depth in metres (background =
        far) if want_depth; instance and semantic (H, W) int32 (0 = nothing) if want_seg.
        Keys that were not asked for are absent (computing them costs time).
        """
        self._require_house()
        if self._raycaster is not None:
            return self._raycaster.render(x, y, yaw, pitch, want_depth, want_seg)
        p = self._p
        flags = 0 if want_seg else p.ER_NO_SEGMENTATION_MASK
        _, _, rgba, depth_buf, seg = self._camera_image(
            self.width, self.height, self.view_matrix(x, y, yaw, pitch), self._proj, flags)
        rgba = np.asarray(rgba, dtype=np.uint8).reshape(self.height, self.width, 4)
        dbuf = np.asarray(depth_buf, dtype=np.float32).reshape(self.height, self.width)
        background = dbuf >= 1.0 - 1e-7
        rgb = np.ascontiguousarray(rgba[..., :3])
        rgb[background] = SKY_RGB
        out = {"rgb": rgb}
        if want_depth:
            n, f = self.near, self.far
            depth = (f * n / (f - (f - n) * dbuf.astype(np.float64))).astype(np.float32)
            depth[background] = f
            out["depth"] = depth
        if want_seg:
            s = np.asarray(seg, dtype=np.int64).reshape(self.height, self.width)
            idx = np.clip(s + 1, 0, len(self._inst_lut) - 1)
            out["instance"] = self._inst_lut[idx]
            out["semantic"] = self._sem_lut[idx]
        return out

    def rendered_frames_nonempty(self) -> bool:
        """Sanity probe: a small frame looking down at the floor shows some geometry. False means
        the renderer returns background only (the EGL plugin loaded too late or not working)."""
        self._require_house()
        x0, y0, x1, y1 = self.house.bounds
        view = self.view_matrix((x0 + x1) / 2, (y0 + y1) / 2, 0.0, -math.pi / 3)
        proj = self._p.computeProjectionMatrixFOV(60.0, 1.0, self.near, self.far,
                                                  physicsClientId=self.client)
        _, _, _, depth_buf, _ = self._camera_image(32, 32, view, proj,
                                                   self._p.ER_NO_SEGMENTATION_MASK)
        return bool((np.asarray(depth_buf) < 1.0 - 1e-7).any())

    def intrinsics(self) -> dict[str, float]:
        """Pinhole intrinsics of the rendered images. Pixel (u, v) = (column, row) index with
        the centre of pixel 0 at 0, so cx = (W - 1) / 2. Angles in radians (hfov_deg too)."""
        fx = (self.width / 2.0) / math.tan(self.hfov / 2.0)
        fy = (self.height / 2.0) / math.tan(self.vfov / 2.0)
        return {"fx": fx, "fy": fy, "cx": (self.width - 1) / 2.0, "cy": (self.height - 1) / 2.0,
                "width": self.width, "height": self.height, "hfov": self.hfov,
                "hfov_deg": math.degrees(self.hfov), "vfov": self.vfov, "near": self.near,
                "far": self.far, "camera_height": self.camera_height}

    # ---------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Disconnect the client (idempotent)."""
        if self.client >= 0:
            try:
                with _quiet(self._renderer == "egl"):
                    self._p.disconnect(physicsClientId=self.client)
            except Exception:       # already gone (interpreter shutdown, killed server)
                pass
            self.client = -1

    def __enter__(self) -> "PyBulletScene":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def random_free_poses(scene: PyBulletScene, n: int, seed: int,
                      pitches_deg: Sequence[float] = (-30.0, 0.0, 0.0, 30.0)
                      ) -> list[tuple[float, float, float, float]]:
    """`n` collision-free agent poses (x, y, yaw, pitch) in the loaded house, random headings and
    pitches drawn from `pitches_deg`: the viewpoints renderer tests and benchmarks compare on."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = scene.house.bounds
    out: list[tuple[float, float, float, float]] = []
    while len(out) < n:
        xy = rng.uniform([x0, y0], [x1, y1])
        if not scene.collides(xy):
            out.append((float(xy[0]), float(xy[1]), float(rng.uniform(-math.pi, math.pi)),
                        math.radians(float(rng.choice(list(pitches_deg))))))
    return out
