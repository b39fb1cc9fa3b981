"""The AI2-THOR backend core: settings, a checked `Controller`, and `Event` -> observation.

Why a module of its own: every THOR task (RoboTHOR ObjectNav here, iTHOR rearrangement next to
it) starts the same Unity player with the same settings and reads the same `ai2thor.server.Event`;
doing that once keeps the tasks about their rules and metrics.

Three promises:

* **Lazy.** Nothing here imports `ai2thor` at import time (`embodied list` and every other test
  run without it); `make_controller` imports it when a controller is really wanted.
* **Never a download.** `ai2thor.controller.Controller()` fetches a ~700 MB player from S3 when it
  is not in `~/.ai2thor/releases`. `check_thor_available` looks there first (a few stat calls, well
  under a second) and refuses with the fix instead; `make_controller` always calls it.
* **Headless by default.** `platform=CloudRendering` (Vulkan, no X server) on `gpu_device`;
  `Linux64` with an X display only when the settings ask for it.

Coordinates. THOR is Unity's left-handed frame: y up, an agent with `rotation.y` = theta faces
(x, z) = (sin theta, cos theta), `cameraHorizon` > 0 looks down. The framework's world frame is
right-handed with z up: (X, Y, Z) = (thor x, thor z, thor y), which keeps THOR's numbers (a
distance is the same in both), yaw = radians(90 - theta) (counter-clockwise from +X, so
RotateLeft raises it as on PyBullet) and pitch = -radians(cameraHorizon) (up is positive).
"""
from __future__ import annotations

import ctypes.util
import glob
import importlib.util
import math
import os
import shutil
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from embodied.config import ConfigError

__all__ = ["ThorSettings", "ThorUnavailable", "PLATFORMS", "THOR_EXTRA", "pinned_commit_id",
           "build_dir", "executable_path", "check_thor_available", "make_controller",
           "controller_kwargs", "thor_to_world", "world_yaw", "agent_pose", "relative_pose",
           "camera_intrinsics", "floor_height", "event_observation", "object_categories",
           "NAVIGATION_THOR_ACTIONS", "thor_action"]

#: The platforms this adapter starts: CloudRendering (Vulkan, headless) and Linux64 (X11).
PLATFORMS = ("CloudRendering", "Linux64")
#: How to install the package (setup.py's extra).
THOR_EXTRA = "pip install -e .[thor]"
#: Where `ai2thor` keeps its player builds (ai2thor.controller.Controller.releases_dir).
RELEASES_DIR = os.path.join(os.path.expanduser("~"), ".ai2thor", "releases")


class ThorUnavailable(ConfigError):
    """AI2-THOR cannot start here: what is missing and how to fix it (exit code 2, like any
    ConfigError, and raised before any episode starts)."""


@dataclass
class ThorSettings:
    """How the THOR player is started (defaults: the RoboTHOR ObjectNav challenge's camera and
    steps; `field_of_view` is THOR's *vertical* FOV, 63.45 deg = 79 deg horizontal at 640x480).

    `commit_id` pins the player build (None: the one the installed `ai2thor` package pins);
    `local_executable_path` runs a player binary you built or copied yourself instead.
    """

    width: int = 640
    height: int = 480
    field_of_view: float = 63.453048374758716
    grid_size: float = 0.25
    rotate_step_degrees: float = 30.0
    horizon_step_degrees: float = 30.0
    visibility_distance: float = 1.0
    render_depth: bool = True
    render_instance_segmentation: bool = True
    agent_mode: str = "locobot"
    snap_to_grid: bool = False
    platform: str = "CloudRendering"
    gpu_device: int | None = None
    x_display: str | None = None
    commit_id: str | None = None
    local_executable_path: str | None = None
    server_timeout: float = 100.0
    server_start_timeout: float = 120.0

    def __post_init__(self) -> None:
        """Range checks, so a setting THOR would reject (or silently change) fails at load time."""
        if self.platform not in PLATFORMS:
            raise ConfigError(f"got {self.platform!r}, expected one of {', '.join(PLATFORMS)} "
                              "(CloudRendering: headless on a GPU; Linux64: needs an X server)",
                              key="platform")
        for name in ("width", "height"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"got {getattr(self, name)!r}, expected a positive integer (pixels)", key=name)
        if not 0.0 < self.field_of_view < 180.0:
            raise ConfigError(f"got {self.field_of_view}, expected vertical degrees in (0, 180)",
                              key="field_of_view")
        for name in ("grid_size", "visibility_distance", "server_timeout", "server_start_timeout"):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"got {getattr(self, name)}, expected > 0", key=name)
        for name in ("rotate_step_degrees", "horizon_step_degrees"):
            if not 0.0 < getattr(self, name) <= 180.0:
                raise ConfigError(f"got {getattr(self, name)}, expected degrees in (0, 180]", key=name)
        if self.gpu_device is not None and (not isinstance(self.gpu_device, int) or self.gpu_device < 0):
            raise ConfigError(f"got {self.gpu_device!r}, expected a GPU index >= 0 or null", key="gpu_device")
        if self.commit_id is not None and not (len(self.commit_id) == 40 and all(
                c in "0123456789abcdef" for c in self.commit_id)):
            raise ConfigError(f"got {self.commit_id!r}, expected a 40-hex-digit ai2thor build commit "
                              "or null (the build the installed ai2thor package pins)", key="commit_id")

    @property
    def hfov_degrees(self) -> float:
        """The horizontal FOV the vertical `field_of_view` gives at width x height."""
        half = math.radians(self.field_of_view) / 2.0
        return math.degrees(2.0 * math.atan(math.tan(half) * self.width / self.height))


# ------------------------------------------------------------------------------------ the checks
def _package_missing() -> bool:
    return importlib.util.find_spec("ai2thor") is None


def pinned_commit_id(settings: ThorSettings) -> str | None:
    """`settings.commit_id`, or the build commit the installed package pins (ai2thor._builds)."""
    if settings.commit_id:
        return settings.commit_id
    try:
        from ai2thor import _builds  # a one-line generated module: cheap, unlike ai2thor.controller
    except ImportError:
        return None
    return getattr(_builds, "COMMIT_ID", None)


def build_dir(platform: str, commit_id: str, releases_dir: str = RELEASES_DIR) -> str:
    """Where `ai2thor` unpacks the player of (platform, commit): `releases/thor-<P>-<commit>`."""
    return os.path.join(releases_dir, f"thor-{platform}-{commit_id}")


def executable_path(platform: str, commit_id: str, releases_dir: str = RELEASES_DIR) -> str:
    """The Linux player binary inside `build_dir` (ai2thor.platform.BaseLinuxPlatform's rule)."""
    return os.path.join(build_dir(platform, commit_id, releases_dir), f"thor-{platform}-{commit_id}")


def _download_hint(settings: ThorSettings, commit: str) -> str:
    return ("fetch it once on a machine with internet (about 700 MB; nothing downloads at run time): "
            "python -c \"import ai2thor.platform as p; from ai2thor.controller import Controller; "
            f"Controller(platform=p.{settings.platform}, commit_id='{commit}', download_only=True)\", "
            "then copy ~/.ai2thor/releases/"
            f"thor-{settings.platform}-{commit} here; or point env.thor.local_executable_path at a "
            "player binary")


def _gpu_present() -> bool:
    """Any GPU device node a Vulkan driver could use (NVIDIA's, or a DRM render node)."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dri/renderD*"))


def _x_display_problem(display: str) -> str | None:
    """None when `display` (":0", ":0.0", "0") names a local X server socket, else what is wrong."""
    name = display if ":" in display else f":{display}"
    number = name.split(":", 1)[1].split(".", 1)[0]
    if not number.isdigit():
        return f"x_display {display!r} is not of the form ':N' or ':N.S'"
    if not os.path.exists(f"/tmp/.X11-unix/X{number}"):
        return f"no X server is listening on display {name} (/tmp/.X11-unix/X{number} is missing)"
    return None


def thor_problems(settings: ThorSettings, releases_dir: str = RELEASES_DIR) -> list[str]:
    """Everything that would stop a THOR player from starting here, each with its fix; [] if none.

    Only file-system and environment checks (no process is started, nothing is imported but the
    package's one-line build pin), so a machine without THOR learns it in milliseconds.
    """
    if _package_missing():
        return [f"the ai2thor package is not installed (install the extra: {THOR_EXTRA})"]
    problems = []
    if settings.local_executable_path:
        path = settings.local_executable_path
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            problems.append(f"local_executable_path {path!r} is not an executable file; set "
                            "env.thor.local_executable_path to the THOR player binary, or null to "
                            "use the build in ~/.ai2thor/releases")
    else:
        commit = pinned_commit_id(settings)
        if not commit:
            problems.append("no AI2-THOR build commit is known (the installed ai2thor pins none); "
                            "set env.thor.commit_id to a 40-hex-digit build commit")
        elif not os.path.isfile(executable_path(settings.platform, commit, releases_dir)):
            problems.append(f"AI2-THOR's {settings.platform} player build {commit} is not on this "
                            f"machine ({executable_path(settings.platform, commit, releases_dir)} is "
                            f"missing); {_download_hint(settings, commit)}")
    if settings.platform == "CloudRendering":
        if ctypes.util.find_library("vulkan") is None:
            problems.append("CloudRendering needs the Vulkan loader (libvulkan.so.1), which is not "
                            "installed; install it: sudo apt-get install -y libvulkan1 (plus your "
                            "GPU's Vulkan driver, e.g. NVIDIA's)")
        if not _gpu_present():
            problems.append("CloudRendering renders on a GPU and this machine has none (no "
                            "/dev/nvidia* or /dev/dri/renderD* device); run on a machine with a GPU, "
                            "or set env.thor.platform=Linux64 with an X server")
        elif settings.gpu_device is not None and shutil.which("vulkaninfo") is None:
            problems.append("gpu_device is set, and ai2thor maps it to a Vulkan device with "
                            "`vulkaninfo`, which is not installed; install it: sudo apt-get install "
                            "-y vulkan-tools (or leave env.thor.gpu_device null)")
    else:  # Linux64: an X server, only when asked for
        display = settings.x_display or os.environ.get("DISPLAY")
        if not display:
            problems.append("platform Linux64 needs an X server and neither env.thor.x_display nor "
                            "$DISPLAY is set; use env.thor.platform=CloudRendering (headless, GPU) or "
                            "start X (sudo ai2thor-xorg start) and set env.thor.x_display=:0")
        else:
            problem = _x_display_problem(display)
            if problem:
                problems.append(f"platform Linux64: {problem}; start X (sudo ai2thor-xorg start) or "
                                "use env.thor.platform=CloudRendering")
    return problems


def check_thor_available(settings: ThorSettings, releases_dir: str = RELEASES_DIR) -> None:
    """Raise ThorUnavailable listing every missing piece (package, player build, GPU/Vulkan or X
    display) and its fix; return quietly when a THOR player can start. Fast: no import of
    `ai2thor.controller`, no process, no network."""
    problems = thor_problems(settings, releases_dir)
    if problems:
        raise ThorUnavailable("AI2-THOR cannot start: " + "; and ".join(problems), key="env.thor")


def controller_kwargs(settings: ThorSettings) -> dict[str, Any]:
    """The `Controller(...)` keyword arguments for these settings (Initialize parameters included)."""
    kwargs: dict[str, Any] = {
        "width": settings.width, "height": settings.height,
        "fieldOfView": settings.field_of_view, "gridSize": settings.grid_size,
        "rotateStepDegrees": settings.rotate_step_degrees,
        "visibilityDistance": settings.visibility_distance,
        "renderDepthImage": settings.render_depth,
        "renderInstanceSegmentation": settings.render_instance_segmentation,
        "agentMode": settings.agent_mode, "snapToGrid": settings.snap_to_grid,
        "server_timeout": settings.server_timeout,
        "server_start_timeout": settings.server_start_timeout,
    }
    if settings.local_executable_path:
        kwargs["local_executable_path"] = settings.local_executable_path
    else:
        kwargs["commit_id"] = pinned_commit_id(settings)
    if settings.platform == "CloudRendering":
        kwargs["gpu_device"] = settings.gpu_device
    elif settings.x_display:
        kwargs["x_display"] = settings.x_display
    return kwargs


def make_controller(settings: ThorSettings, releases_dir: str = RELEASES_DIR, **extra: Any) -> Any:
    """A started `ai2thor.controller.Controller` for `settings` (its first scene loaded).

    Checks first (`check_thor_available`): a missing build raises ThorUnavailable instead of the
    controller's download. `extra` goes to the controller as more Initialize parameters."""
    check_thor_available(settings, releases_dir)
    from ai2thor.controller import Controller  # lazy: the package is an optional extra
    import ai2thor.platform as thor_platform

    kwargs = controller_kwargs(settings)
    if not settings.local_executable_path:
        kwargs["platform"] = getattr(thor_platform, settings.platform)
    kwargs.update(extra)
    return Controller(**kwargs)


# ------------------------------------------------------------------------------ events -> obs
def thor_to_world(position: dict[str, float]) -> np.ndarray:
    """THOR (x, y, z) (y up, left-handed) -> the framework's (X, Y) ground-plane point."""
    return np.array([float(position["x"]), float(position["z"])])


def world_yaw(rotation_y_deg: float) -> float:
    """THOR's `rotation.y` (deg, clockwise seen from above, 0 = +z) -> yaw (rad, counter-clockwise
    from +X), wrapped to (-pi, pi]."""
    a = math.radians(90.0 - float(rotation_y_deg))
    a = math.atan2(math.sin(a), math.cos(a))
    return math.pi if a <= -math.pi else a


def agent_pose(metadata: dict[str, Any]) -> tuple[float, float, float, float]:
    """(X, Y, yaw, pitch) of the agent in the world frame from an Event's metadata."""
    agent = metadata["agent"]
    x, y = thor_to_world(agent["position"])
    return (float(x), float(y), world_yaw(agent["rotation"]["y"]), -math.radians(float(agent["cameraHorizon"])))


def relative_pose(pose: Iterable[float], start: Iterable[float]) -> np.ndarray:
    """GPS+compass as on PyBullet: (x, y, yaw) in the frame of the start pose (x ahead, y left),
    pitch absolute (the camera's, up positive); float32 (4,)."""
    x, y, yaw, pitch = (float(v) for v in pose)
    x0, y0, yaw0 = (float(v) for v in list(start)[:3])
    dx, dy = x - x0, y - y0
    c, s = math.cos(-yaw0), math.sin(-yaw0)
    dyaw = math.atan2(math.sin(yaw - yaw0), math.cos(yaw - yaw0))
    return np.array([c * dx - s * dy, s * dx + c * dy, dyaw, pitch], dtype=np.float32)


def floor_height(metadata: dict[str, Any]) -> float:
    """Height (THOR y) of the floor's top surface: the highest top of the scene's `Floor` objects'
    boxes; 0.0 when the scene lists none (RoboTHOR's floors are near y = 0)."""
    tops = []
    for obj in metadata.get("objects") or []:
        if obj.get("objectType") == "Floor":
            box = obj.get("axisAlignedBoundingBox") or {}
            centre, size = box.get("center"), box.get("size")
            if centre and size:
                tops.append(float(centre["y"]) + float(size["y"]) / 2.0)
    return max(tops) if tops else 0.0


def camera_intrinsics(settings: ThorSettings, camera_height: float, far: float = 20.0) -> dict[str, float]:
    """`info["camera"]` in the framework's convention (pixel centres, cx = (W - 1) / 2, radians):
    square pixels from THOR's vertical FOV. `far` is THOR's far clipping plane (20 m by default)."""
    w, h = settings.width, settings.height
    vfov = math.radians(settings.field_of_view)
    fy = (h / 2.0) / math.tan(vfov / 2.0)
    fx = fy
    hfov = 2.0 * math.atan((w / 2.0) / fx)
    return {"fx": fx, "fy": fy, "cx": (w - 1) / 2.0, "cy": (h - 1) / 2.0, "width": w, "height": h,
            "hfov": hfov, "hfov_deg": math.degrees(hfov), "vfov": vfov, "near": 0.1, "far": far,
            "camera_height": float(camera_height), "height_m": float(camera_height)}


def object_categories(event: Any) -> dict[str, int]:
    """Object type -> the id `obs["semantic"]` uses: the scene's types (THOR metadata) sorted by
    name, numbered from 1; 0 is background (walls, floor pieces THOR lists no object for)."""
    types = sorted({str(o["objectType"]) for o in event.metadata["objects"]})
    return {"background": 0, **{t: i + 1 for i, t in enumerate(types)}}


def event_observation(event: Any, start: Iterable[float], goal: str | None = None,
                      categories: dict[str, int] | None = None, masks: bool = False,
                      far: float = 20.0) -> dict[str, Any]:
    """An `ai2thor.server.Event` as the framework's observation dict (all arrays copies):

    * `rgb` (H, W, 3) uint8 <- `event.frame`;
    * `depth` (H, W, 1) float32 metres <- `event.depth_frame` (z-depth; missing or non-finite
      pixels read `far`, as a miss does on PyBullet), clipped to [0, far];
    * `pose` (4,) float32 <- agent position/rotation/cameraHorizon, relative to `start` (see
      `relative_pose`);
    * `goal` when given;
    * with `masks`: `instance` (H, W) int32, 0 for background and k >= 1 for the k-th object of
      `event.metadata["objects"]` (its index + 1), and `semantic` (H, W) int32 from `categories`
      (object type -> id), both from `event.instance_masks`.
    """
    frame = event.frame
    h, w = int(event.screen_height), int(event.screen_width)
    rgb = np.zeros((h, w, 3), np.uint8) if frame is None else np.array(frame[..., :3], dtype=np.uint8)
    if event.depth_frame is None:
        depth = np.full((h, w), far, np.float32)
    else:
        depth = np.array(event.depth_frame, dtype=np.float32)
        depth[~np.isfinite(depth)] = far
        np.clip(depth, 0.0, far, out=depth)
    obs: dict[str, Any] = {"rgb": rgb, "depth": depth[..., None], "pose": relative_pose(agent_pose(event.metadata), start)}
    if goal is not None:
        obs["goal"] = goal
    if masks:
        instance = np.zeros((h, w), np.int32)
        semantic = np.zeros((h, w), np.int32)
        cats = categories if categories is not None else object_categories(event)
        found = event.instance_masks or {}
        for k, obj in enumerate(event.metadata["objects"]):
            mask = found.get(obj["objectId"]) if hasattr(found, "get") else None
            if mask is None:
                continue
            instance[mask] = k + 1
            semantic[mask] = cats.get(str(obj["objectType"]), 0)
        obs["instance"] = instance
        obs["semantic"] = semantic
    return obs


# ------------------------------------------------------------------------------------- actions
#: The framework's navigation actions (DiscreteNavigationAction order) as THOR action names;
#: Stop has no THOR action: the episode ends and the last Event is scored.
NAVIGATION_THOR_ACTIONS: tuple[str | None, ...] = ("MoveAhead", "RotateLeft", "RotateRight", "LookUp",
                                                   "LookDown", None)


def thor_action(action: int, settings: ThorSettings) -> dict[str, Any] | None:
    """`controller.step(**thor_action(a, s))` for a navigation action number; None for Stop.

    Magnitudes are explicit (grid_size metres, rotate/horizon step degrees) so an agent's step is
    the configured one whatever the player's defaults are."""
    name = NAVIGATION_THOR_ACTIONS[int(action)]
    if name is None:
        return None
    if name == "MoveAhead":
        return {"action": name, "moveMagnitude": settings.grid_size}
    if name in ("RotateLeft", "RotateRight"):
        return {"action": name, "degrees": settings.rotate_step_degrees}
    return {"action": name, "degrees": settings.horizon_step_degrees}
