"""The AI2-THOR core (embodied/envs/ai2thor/controller.py): the fast availability check and its
messages, the Controller arguments, and Event -> observation / action -> THOR action.

The check tests run without the `ai2thor` package (they fake the file system, not the package);
the Event tests build real `ai2thor.server.Event`s and skip without the `thor` extra.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embodied.config import ConfigError
from embodied.envs.ai2thor import controller as thor
from embodied.envs.ai2thor.controller import ThorSettings, ThorUnavailable
from embodied.interfaces import DiscreteNavigationAction as A

REPO = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HAS_THOR = thor.importlib.util.find_spec("ai2thor") is not None
needs_thor = pytest.mark.skipif(not HAS_THOR and os.environ.get("EMBODIED_REQUIRE_THOR") != "1",
                                reason="ai2thor is not installed (pip install -e .[thor])")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A machine whose GPU, Vulkan loader, X sockets and player build the test decides."""
    state = {"gpu": True, "vulkan": True, "vulkaninfo": True, "x_sockets": set()}
    monkeypatch.setattr(thor, "_package_missing", lambda: False)
    monkeypatch.setattr(thor, "_gpu_present", lambda: state["gpu"])
    monkeypatch.setattr(thor.ctypes.util, "find_library",
                        lambda name: "libvulkan.so.1" if name == "vulkan" and state["vulkan"] else None)
    monkeypatch.setattr(thor.shutil, "which", lambda name: "/usr/bin/vulkaninfo" if state["vulkaninfo"] else None)
    real_exists = os.path.exists
    monkeypatch.setattr(thor.os.path, "exists", lambda p: p in state["x_sockets"] or real_exists(p))
    monkeypatch.delenv("DISPLAY", raising=False)
    state["releases"] = str(tmp_path / "releases")
    return state


def install_build(releases: str, platform: str = "CloudRendering", commit: str = COMMIT) -> str:
    path = thor.executable_path(platform, commit, releases)
    os.makedirs(os.path.dirname(path))
    Path(path).write_text("#!/bin/sh\n")
    os.chmod(path, 0o755)
    return path


# ----------------------------------------------------------------------------------- the check
def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thor, "_package_missing", lambda: True)
    with pytest.raises(ThorUnavailable, match=r"pip install -e \.\[thor\]") as err:
        thor.check_thor_available(ThorSettings())
    assert isinstance(err.value, ConfigError) and err.value.key == "env.thor"


def test_missing_player_build_fails_fast_with_where_and_how(machine) -> None:
    settings = ThorSettings(commit_id=COMMIT)
    started = time.perf_counter()
    with pytest.raises(ThorUnavailable) as err:
        thor.check_thor_available(settings, machine["releases"])
    assert time.perf_counter() - started < 1.0
    text = str(err.value)
    assert f"player build {COMMIT} is not on this machine" in text
    assert thor.executable_path("CloudRendering", COMMIT, machine["releases"]) in text
    assert "download_only=True" in text and "nothing downloads at run time" in text
    assert "GPU" not in text and "Vulkan" not in text          # only what is actually missing


def test_present_build_gpu_and_vulkan_pass(machine) -> None:
    install_build(machine["releases"])
    assert thor.thor_problems(ThorSettings(commit_id=COMMIT), machine["releases"]) == []


def test_cloud_rendering_without_gpu_or_vulkan_says_which_and_how(machine) -> None:
    install_build(machine["releases"])
    machine["gpu"] = False
    machine["vulkan"] = False
    problems = thor.thor_problems(ThorSettings(commit_id=COMMIT), machine["releases"])
    assert len(problems) == 2
    assert "libvulkan1" in problems[0]
    assert "has none" in problems[1] and "env.thor.platform=Linux64" in problems[1]


def test_gpu_device_needs_vulkaninfo(machine) -> None:
    install_build(machine["releases"])
    machine["vulkaninfo"] = False
    assert thor.thor_problems(ThorSettings(commit_id=COMMIT), machine["releases"]) == []
    problems = thor.thor_problems(ThorSettings(commit_id=COMMIT, gpu_device=0), machine["releases"])
    assert len(problems) == 1 and "vulkan-tools" in problems[0]


def test_linux64_needs_an_x_server_only_when_asked(machine) -> None:
    install_build(machine["releases"], "Linux64")
    settings = ThorSettings(commit_id=COMMIT, platform="Linux64")
    [problem] = thor.thor_problems(settings, machine["releases"])
    assert "neither env.thor.x_display nor $DISPLAY" in problem and "CloudRendering" in problem
    settings.x_display = ":7"
    [problem] = thor.thor_problems(settings, machine["releases"])
    assert "/tmp/.X11-unix/X7 is missing" in problem
    machine["x_sockets"].add("/tmp/.X11-unix/X7")
    assert thor.thor_problems(settings, machine["releases"]) == []


def test_local_executable_path_replaces_the_build_lookup(machine, tmp_path: Path) -> None:
    settings = ThorSettings(local_executable_path=str(tmp_path / "nope"))
    [problem] = thor.thor_problems(settings, machine["releases"])
    assert "is not an executable file" in problem
    settings.local_executable_path = install_build(str(tmp_path / "mine"))
    assert thor.thor_problems(settings, machine["releases"]) == []


@pytest.mark.parametrize("key, value, expected", [
    ("platform", "WebGL", "CloudRendering, Linux64"),
    ("width", 0, "positive integer"),
    ("field_of_view", 180.0, "vertical degrees"),
    ("gpu_device", -1, "GPU index"),
    ("commit_id", "abc", "40-hex-digit"),
    ("visibility_distance", 0.0, "> 0"),
])
def test_settings_refuse_what_thor_would_reject(key: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as err:
        ThorSettings(**{key: value})
    assert err.value.key == key


def test_controller_kwargs_headless_by_default_display_only_when_asked() -> None:
    kw = thor.controller_kwargs(ThorSettings(commit_id=COMMIT, gpu_device=1))
    assert kw["commit_id"] == COMMIT and kw["gpu_device"] == 1 and "x_display" not in kw
    assert (kw["width"], kw["height"], kw["gridSize"], kw["visibilityDistance"]) == (640, 480, 0.25, 1.0)
    assert kw["renderDepthImage"] is True and kw["renderInstanceSegmentation"] is True
    assert kw["rotateStepDegrees"] == 30.0 and kw["fieldOfView"] == pytest.approx(63.453, abs=1e-3)
    kw = thor.controller_kwargs(ThorSettings(commit_id=COMMIT, platform="Linux64", x_display=":1"))
    assert kw["x_display"] == ":1" and "gpu_device" not in kw


@needs_thor
def test_make_controller_never_reaches_the_downloading_controller(machine, monkeypatch) -> None:
    import ai2thor.controller

    def explode(*args, **kwargs):
        raise AssertionError("Controller() was called: it would download the player")

    monkeypatch.setattr(ai2thor.controller, "Controller", explode)
    with pytest.raises(ThorUnavailable, match="player build"):
        thor.make_controller(ThorSettings(commit_id=COMMIT), machine["releases"])


@needs_thor
def test_pinned_commit_is_the_packages_build() -> None:
    from ai2thor import _builds

    assert thor.pinned_commit_id(ThorSettings()) == _builds.COMMIT_ID
    assert thor.pinned_commit_id(ThorSettings(commit_id=COMMIT)) == COMMIT


def test_embodied_run_without_the_player_fails_at_once_with_the_fix(tmp_path: Path) -> None:
    """The whole CLI on this machine (no player build in a fresh HOME): exit 2, the message, and
    no run folder; the check itself is milliseconds, the rest is the CLI's usual imports."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("DISPLAY", None)
    started = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "embodied.cli", "run", str(REPO / "experiments/cow_robothor.yaml"),
                        f"run.output={tmp_path / 'run'}"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert r.returncode == 2, r.stderr
    text = r.stdout + r.stderr
    assert "env.thor: AI2-THOR cannot start" in text
    assert ("player build" in text and "download_only=True" in text) or "pip install -e .[thor]" in text
    assert not (tmp_path / "run").exists()
    assert elapsed < 60


# ----------------------------------------------------------------------------------- conversions
def test_pose_conversion_with_known_numbers() -> None:
    meta = {"agent": {"position": {"x": 1.0, "y": 0.9, "z": 2.0}, "rotation": {"x": 0, "y": 90.0, "z": 0},
                      "cameraHorizon": 30.0}}
    x, y, yaw, pitch = thor.agent_pose(meta)
    assert (x, y) == (1.0, 2.0) and yaw == pytest.approx(0.0) and pitch == pytest.approx(-math.pi / 6)
    assert thor.world_yaw(0.0) == pytest.approx(math.pi / 2)      # THOR +z is the world's +Y
    assert thor.world_yaw(180.0) == pytest.approx(-math.pi / 2)
    assert thor.world_yaw(270.0) == pytest.approx(math.pi)
    # facing +Y from the origin: a point 1 m ahead is (1, 0), 1 m to the left (-X) is (0, 1)
    start = (0.0, 0.0, math.pi / 2)
    np.testing.assert_allclose(thor.relative_pose((0.0, 1.0, math.pi / 2, 0.0), start), [1, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(thor.relative_pose((-1.0, 0.0, math.pi, -0.5), start),
                               [0, 1, math.pi / 2, -0.5], atol=1e-6)


def test_intrinsics_from_the_vertical_fov() -> None:
    cam = thor.camera_intrinsics(ThorSettings(), camera_height=0.88)
    assert cam["hfov_deg"] == pytest.approx(79.0, abs=0.01)        # the challenge's 79 deg
    assert cam["fx"] == cam["fy"] == pytest.approx(240 / math.tan(math.radians(63.453048374758716) / 2))
    assert (cam["cx"], cam["cy"], cam["height_m"]) == (319.5, 239.5, 0.88)
    assert ThorSettings().hfov_degrees == pytest.approx(79.0, abs=0.01)


def test_action_mapping() -> None:
    s = ThorSettings(grid_size=0.25, rotate_step_degrees=30.0, horizon_step_degrees=15.0)
    assert thor.thor_action(A.MOVE_AHEAD, s) == {"action": "MoveAhead", "moveMagnitude": 0.25}
    assert thor.thor_action(A.ROTATE_LEFT, s) == {"action": "RotateLeft", "degrees": 30.0}
    assert thor.thor_action(A.ROTATE_RIGHT, s) == {"action": "RotateRight", "degrees": 30.0}
    assert thor.thor_action(A.LOOK_UP, s) == {"action": "LookUp", "degrees": 15.0}
    assert thor.thor_action(A.LOOK_DOWN, s) == {"action": "LookDown", "degrees": 15.0}
    assert thor.thor_action(A.STOP, s) is None
    assert len(thor.NAVIGATION_THOR_ACTIONS) == len(A)


def _event(width: int = 3, height: int = 2):
    """A real ai2thor.server.Event from recorded-shape metadata and raw (bottom-up) buffers."""
    from ai2thor.server import DepthFormat, Event

    objects = [
        {"objectId": "Mug|+01.00|+00.80|+02.00", "objectType": "Mug", "visible": True, "distance": 0.8,
         "axisAlignedBoundingBox": {"center": {"x": 1, "y": 0.8, "z": 2}, "size": {"x": .1, "y": .1, "z": .1}}},
        {"objectId": "Floor|+00.00|+00.00|+00.00", "objectType": "Floor", "visible": True, "distance": 1.0,
         "axisAlignedBoundingBox": {"center": {"x": 0, "y": -0.05, "z": 0}, "size": {"x": 9, "y": 0.1, "z": 9}}},
        {"objectId": "Apple|+02.00|+00.80|+02.00", "objectType": "Apple", "visible": False, "distance": 2.0,
         "axisAlignedBoundingBox": {"center": {"x": 2, "y": 0.8, "z": 2}, "size": {"x": .1, "y": .1, "z": .1}}},
    ]
    meta = {"screenWidth": width, "screenHeight": height, "objects": objects, "depthFormat": "Meters",
            "agent": {"position": {"x": 1.0, "y": 0.9, "z": 1.0}, "rotation": {"x": 0, "y": 0.0, "z": 0},
                      "cameraHorizon": 0.0},
            "cameraPosition": {"x": 1.0, "y": 0.875, "z": 1.0},
            "colors": [{"name": objects[0]["objectId"], "color": [10, 20, 30]},
                       {"name": objects[1]["objectId"], "color": [40, 50, 60]},
                       {"name": objects[2]["objectId"], "color": [70, 80, 90]},
                       {"name": "Mug", "color": [1, 2, 3]}],
            "lastAction": "Pass", "lastActionSuccess": True, "errorMessage": "", "actionReturn": None}
    rgb = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    depth = np.array([[0.5, np.nan, 30.0], [1.0, 2.0, 3.0]], np.float32)[:height, :width]
    ids = np.zeros((height, width, 4), np.uint8)
    ids[..., 3] = 255
    ids[0, 0, :3] = (10, 20, 30)        # the mug, top left
    ids[1, :, :3] = (40, 50, 60)        # the floor, bottom row
    event = Event(meta)
    event.add_image(np.flipud(rgb).tobytes())
    event.add_image_depth(np.flipud(depth).tobytes(), depth_format=DepthFormat.Meters,
                          camera_near_plane=0.1, camera_far_plane=20.0, add_noise=False)
    event.add_image_ids(np.ascontiguousarray(np.flipud(ids)).tobytes())
    return event, rgb


@needs_thor
def test_event_observation_from_a_real_event() -> None:
    event, rgb = _event()
    cats = thor.object_categories(event)
    assert cats == {"background": 0, "Apple": 1, "Floor": 2, "Mug": 3}
    obs = thor.event_observation(event, start=(1.0, 1.0, math.pi / 2), goal="Mug", categories=cats,
                                 masks=True, far=20.0)
    np.testing.assert_array_equal(obs["rgb"], rgb)                  # rows in image order (flip undone)
    assert obs["depth"].shape == (2, 3, 1) and obs["depth"].dtype == np.float32
    np.testing.assert_allclose(obs["depth"][..., 0], [[0.5, 20.0, 20.0], [1.0, 2.0, 3.0]])  # nan/far -> far
    np.testing.assert_array_equal(obs["instance"], [[1, 0, 0], [2, 2, 2]])   # objects' index + 1
    np.testing.assert_array_equal(obs["semantic"], [[3, 0, 0], [2, 2, 2]])
    np.testing.assert_allclose(obs["pose"], [0, 0, 0, 0], atol=1e-6)
    assert obs["goal"] == "Mug"
    obs["rgb"][:] = 0                                               # a copy: the event is untouched
    assert event.frame.any()
    assert thor.floor_height(event.metadata) == pytest.approx(0.0)
    without = thor.event_observation(event, start=(1.0, 1.0, 0.0))
    assert "instance" not in without and "goal" not in without


def test_importing_the_backend_imports_no_ai2thor() -> None:
    code = ("import sys, embodied, embodied.envs, embodied.registry as r; r.load_builtin(); "
            "print(sorted(m for m in sys.modules if m == 'ai2thor' or m.startswith('ai2thor.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
