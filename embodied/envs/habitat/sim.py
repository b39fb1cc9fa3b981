"""Building a habitat-sim Simulator from the env's settings, lazily, with errors that say what to do.

Why a module of its own: habitat-sim is an optional, conda-only dependency that renders through
EGL on a GPU. Nothing here imports it at import time; `load_backend` imports it only when an env
that needs it is built, after fast checks (well under a second, no import of habitat_sim) that turn
"not installed" and "no GPU / no EGL" into one line naming the fix, instead of an ImportError
deep in a worker or an abort inside Magnum's EGL context creation.

`make_configuration` is written once against habitat-sim's documented API (`SimulatorConfiguration`,
`CameraSensorSpec`, `agent.AgentConfiguration`, `agent.ActionSpec`/`ActuationSpec`) and takes the
module as an argument, so the same code builds the real simulator and the test double
(`embodied.envs.habitat.fake`), and the tests exercise it.
"""
from __future__ import annotations

import ctypes.util
import importlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

from embodied.config import ConfigError

__all__ = ["INSTALL", "INSTALL_HEADLESS", "HabitatUnavailable", "SimSettings", "SENSOR_UUIDS",
           "ACTION_NAMES", "require_habitat_sim", "check_gpu", "load_backend",
           "make_configuration", "make_simulator", "is_fake"]

INSTALL = "conda install habitat-sim -c conda-forge -c aihabitat"
INSTALL_HEADLESS = "conda install habitat-sim headless -c conda-forge -c aihabitat"
SIMULATORS = ("habitat_sim", "fake")

#: uuid of each sensor the env reads (habitat-lab names its sensors the same way).
SENSOR_UUIDS = {"rgb": "rgb", "depth": "depth", "semantic": "semantic"}
#: habitat-sim's registered controls for the five moving actions (Stop never reaches the simulator).
ACTION_NAMES = ("move_forward", "turn_left", "turn_right", "look_up", "look_down")


class HabitatUnavailable(ConfigError):
    """habitat-sim cannot run here (not installed, no GPU, no EGL). A ConfigError, so the CLI and
    the runner print its one line (exit 2) before any episode instead of a traceback."""


def require_habitat_sim(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> None:
    """Fail fast, naming the install command, when the habitat_sim package is absent.

    `find_spec` only looks on sys.path: no import, so this costs milliseconds."""
    if find_spec("habitat_sim") is None:
        raise HabitatUnavailable(
            "habitat_sim is not installed; the Habitat backend needs habitat-sim, which is "
            f"distributed through conda, not PyPI: `{INSTALL_HEADLESS}` on a server without a "
            f"display (EGL), or `{INSTALL}` with one (then `pip install -e .` of this package in "
            "that conda environment). Without it, env.simulator=fake runs the adapter on a test "
            "double (not Habitat)", key="env.simulator")


def _visible_cuda_devices(environ: Mapping[str, str], nvidia: list[int]) -> int:
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return len(nvidia)
    return len([v for v in visible.split(",") if v.strip() not in ("", "-1")])


def check_gpu(gpu_device_id: int, dev: str | Path = "/dev",
              find_library: Callable[[str], str | None] = ctypes.util.find_library,
              environ: Mapping[str, str] = os.environ) -> None:
    """Fail fast when headless habitat-sim could not create its EGL context on `gpu_device_id`.

    habitat-sim renders with OpenGL through EGL on a GPU and has no CPU renderer; without a GPU it
    aborts inside Magnum ("unable to find CUDA device ... among ... EGL devices") or segfaults.
    What is checked, without importing anything: libEGL can be found, some GPU device node exists
    (/dev/nvidia<N> for NVIDIA, /dev/dri/renderD* for others), and `gpu_device_id` is among the
    visible NVIDIA devices (CUDA_VISIBLE_DEVICES respected). The arguments are for tests."""
    dev = Path(dev)
    nvidia = sorted(int(m.group(1)) for p in (dev.glob("nvidia*") if dev.is_dir() else [])
                    if (m := re.fullmatch(r"nvidia(\d+)", p.name)))
    render_nodes = list((dev / "dri").glob("renderD*")) if (dev / "dri").is_dir() else []
    if not nvidia and not render_nodes:
        raise HabitatUnavailable(
            f"no GPU is visible (no {dev}/nvidia<N>, no {dev}/dri/renderD*): habitat-sim renders "
            "with EGL on a GPU and has no CPU renderer. Run on a machine with an NVIDIA GPU and "
            "its driver (in Docker: --gpus all; under Slurm: request a GPU), or use "
            "env.simulator=fake for the test double", key="env.gpu_device_id")
    if find_library("EGL") is None:
        raise HabitatUnavailable(
            "libEGL is not found: headless habitat-sim needs EGL (the NVIDIA driver's libEGL_nvidia "
            "with the glvnd loader libEGL.so.1: `apt-get install libegl1` and a driver installed "
            "with its OpenGL/EGL libraries; in Docker set NVIDIA_DRIVER_CAPABILITIES=all)",
            key="env.gpu_device_id")
    if nvidia:
        count = _visible_cuda_devices(environ, nvidia)
        if not 0 <= gpu_device_id < count:
            raise HabitatUnavailable(
                f"got {gpu_device_id}, but {count} NVIDIA GPU(s) are visible (CUDA ids 0..{count - 1}; "
                f"CUDA_VISIBLE_DEVICES={environ.get('CUDA_VISIBLE_DEVICES', 'unset')})",
                key="env.gpu_device_id")


def load_backend(simulator: str, gpu_device_id: int = 0) -> ModuleType:
    """The module the env drives: `habitat_sim` itself (after the checks above), or the test double.

    Why a module rather than a Simulator: the env also constructs habitat's value types
    (AgentState, MultiGoalShortestPath), and takes them from the same place."""
    if simulator == "fake":
        return importlib.import_module("embodied.envs.habitat.fake")
    if simulator != "habitat_sim":
        raise ConfigError(f"got {simulator!r}, expected one of {', '.join(SIMULATORS)}",
                          key="env.simulator")
    require_habitat_sim()
    check_gpu(gpu_device_id)
    return importlib.import_module("habitat_sim")


def is_fake(backend: Any) -> bool:
    """Whether `backend` is a test double (it says so with IS_FAKE), never habitat-sim."""
    return bool(getattr(backend, "IS_FAKE", False))


@dataclass(frozen=True)
class SimSettings:
    """Everything the simulator is built from (habitat-lab's names in comments).

    hfov in degrees; resolution (height, width); camera_height is the sensors' `position` y;
    step_size / turn_degrees / tilt_degrees are `forward_step_size` / `turn_angle` / `tilt_angle`.
    """

    scene_id: str
    scene_dataset_config: str = "default"
    gpu_device_id: int = 0
    width: int = 224
    height: int = 224
    hfov: float = 79.0
    camera_height: float = 0.88
    agent_height: float = 0.88
    agent_radius: float = 0.18
    allow_sliding: bool = False
    step_size: float = 0.25
    turn_degrees: float = 30.0
    tilt_degrees: float = 30.0
    semantic: bool = False
    random_seed: int = 0


def _camera(hs: Any, uuid: str, sensor_type: Any, s: SimSettings) -> Any:
    spec = hs.CameraSensorSpec()
    spec.uuid = uuid
    spec.sensor_type = sensor_type
    spec.resolution = [s.height, s.width]
    spec.position = [0.0, s.camera_height, 0.0]
    spec.hfov = s.hfov
    return spec


def make_configuration(hs: Any, s: SimSettings) -> Any:
    """`hs.Configuration` for one agent with rgb + depth (+ semantic) cameras at the same pose
    and the five ObjectNav controls, as habitat-lab's ObjectNav task sets them up."""
    sim_cfg = hs.SimulatorConfiguration()
    sim_cfg.scene_id = s.scene_id
    sim_cfg.scene_dataset_config_file = s.scene_dataset_config
    sim_cfg.gpu_device_id = s.gpu_device_id
    sim_cfg.allow_sliding = s.allow_sliding
    sim_cfg.enable_physics = False
    sim_cfg.random_seed = s.random_seed
    sensors = [_camera(hs, SENSOR_UUIDS["rgb"], hs.SensorType.COLOR, s),
               _camera(hs, SENSOR_UUIDS["depth"], hs.SensorType.DEPTH, s)]
    if s.semantic:
        sensors.append(_camera(hs, SENSOR_UUIDS["semantic"], hs.SensorType.SEMANTIC, s))
    agent_cfg = hs.agent.AgentConfiguration()
    agent_cfg.height = s.agent_height
    agent_cfg.radius = s.agent_radius
    agent_cfg.sensor_specifications = sensors
    spec, act = hs.agent.ActionSpec, hs.agent.ActuationSpec
    # No `constraint` on the looks: the env enforces its own pitch range (asymmetric, as on
    # PyBullet), which habitat's symmetric constraint cannot express.
    agent_cfg.action_space = {
        "move_forward": spec("move_forward", act(amount=s.step_size)),
        "turn_left": spec("turn_left", act(amount=s.turn_degrees)),
        "turn_right": spec("turn_right", act(amount=s.turn_degrees)),
        "look_up": spec("look_up", act(amount=s.tilt_degrees)),
        "look_down": spec("look_down", act(amount=s.tilt_degrees)),
    }
    return hs.Configuration(sim_cfg, [agent_cfg])


def make_simulator(hs: Any, s: SimSettings) -> Any:
    """A new `hs.Simulator` for the settings (the scene loads here: seconds on a real one)."""
    return hs.Simulator(make_configuration(hs, s))
