"""The Habitat backend's guard rails and simulator construction, without habitat-sim: the missing
package and a machine without a GPU/EGL are one clear line, fast; the configuration code is the
same for the real module and the fake (which implements habitat-sim's documented API)."""
from __future__ import annotations

import importlib.util
import time

import pytest

from embodied.config import ConfigError
from embodied.envs.habitat import fake
from embodied.envs.habitat import sim as sim_lib
from embodied.envs.habitat.objectnav import HabitatObjectNavConfig, HabitatObjectNavEnv

HAS_HABITAT = importlib.util.find_spec("habitat_sim") is not None


def test_missing_habitat_names_the_conda_commands() -> None:
    with pytest.raises(sim_lib.HabitatUnavailable) as err:
        sim_lib.require_habitat_sim(find_spec=lambda name: None)
    text = str(err.value)
    assert text.startswith("env.simulator: habitat_sim is not installed")
    assert "conda install habitat-sim -c conda-forge -c aihabitat" in text
    assert "conda install habitat-sim headless -c conda-forge -c aihabitat" in text
    assert "not PyPI" in text and "env.simulator=fake" in text
    assert isinstance(err.value, ConfigError)       # one line, exit 2, before any episode


@pytest.mark.skipif(HAS_HABITAT, reason="habitat_sim is installed here")
def test_building_the_env_without_habitat_fails_in_well_under_a_second() -> None:
    start = time.perf_counter()
    with pytest.raises(sim_lib.HabitatUnavailable, match="conda install habitat-sim"):
        HabitatObjectNavEnv(HabitatObjectNavConfig())
    assert time.perf_counter() - start < 1.0


def _dev(tmp_path, *nodes: str):
    root = tmp_path / "dev"
    root.mkdir(parents=True)
    for node in nodes:
        path = root / node
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def test_no_gpu_says_what_is_missing_and_how_to_fix_it(tmp_path) -> None:
    with pytest.raises(sim_lib.HabitatUnavailable) as err:
        sim_lib.check_gpu(0, dev=_dev(tmp_path), find_library=lambda name: "libEGL.so.1", environ={})
    text = str(err.value)
    assert text.startswith("env.gpu_device_id: no GPU is visible")
    assert "EGL" in text and "--gpus all" in text and "env.simulator=fake" in text


def test_missing_egl_and_a_gpu_id_out_of_range_are_named(tmp_path) -> None:
    dev = _dev(tmp_path, "nvidia0", "nvidia1", "nvidiactl")
    with pytest.raises(sim_lib.HabitatUnavailable, match="libEGL is not found.*apt-get install libegl1"):
        sim_lib.check_gpu(0, dev=dev, find_library=lambda name: None, environ={})
    egl = lambda name: "libEGL.so.1"  # noqa: E731
    sim_lib.check_gpu(1, dev=dev, find_library=egl, environ={})           # two GPUs: 0 and 1
    with pytest.raises(sim_lib.HabitatUnavailable, match=r"got 2, but 2 NVIDIA GPU\(s\)"):
        sim_lib.check_gpu(2, dev=dev, find_library=egl, environ={})
    with pytest.raises(sim_lib.HabitatUnavailable, match="CUDA_VISIBLE_DEVICES=1"):
        sim_lib.check_gpu(1, dev=dev, find_library=egl, environ={"CUDA_VISIBLE_DEVICES": "1"})
    sim_lib.check_gpu(0, dev=_dev(tmp_path / "amd", "dri/renderD128"), find_library=egl, environ={})


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="^simulator: got 'bullet', expected one of habitat_sim, fake"):
        HabitatObjectNavConfig(simulator="bullet")
    with pytest.raises(ConfigError, match="^hfov:"):
        HabitatObjectNavConfig(hfov=180.0)
    with pytest.raises(ConfigError, match="^success_distance:"):
        HabitatObjectNavConfig(success_distance=0.0)
    with pytest.raises(ConfigError, match="^env.simulator:"):
        sim_lib.load_backend("bullet")


def test_the_configuration_follows_the_settings() -> None:
    """Built with the same code habitat-sim gets: sensors at the camera height with the size and
    FOV asked for (resolution is [height, width]), the five controls with their amounts."""
    settings = sim_lib.SimSettings(scene_id=fake.SCENE_ID, width=96, height=64, hfov=79.0,
                                   camera_height=0.88, gpu_device_id=3, semantic=False)
    cfg = sim_lib.make_configuration(fake, settings)
    assert cfg.sim_cfg.scene_id == fake.SCENE_ID and cfg.sim_cfg.gpu_device_id == 3
    assert cfg.sim_cfg.allow_sliding is False
    (agent,) = cfg.agents
    assert [s.uuid for s in agent.sensor_specifications] == ["rgb", "depth"]
    for spec in agent.sensor_specifications:
        assert list(spec.resolution) == [64, 96] and list(spec.position) == [0.0, 0.88, 0.0]
        assert spec.hfov == 79.0
    amounts = {name: a.actuation.amount for name, a in agent.action_space.items()}
    assert amounts == {"move_forward": 0.25, "turn_left": 30.0, "turn_right": 30.0,
                       "look_up": 30.0, "look_down": 30.0}
    semantic = sim_lib.make_configuration(fake, sim_lib.SimSettings(scene_id=fake.SCENE_ID, semantic=True))
    assert semantic.agents[0].sensor_specifications[-1].sensor_type == fake.SensorType.SEMANTIC


def test_the_fake_says_it_is_a_fake() -> None:
    assert fake.IS_FAKE and "not the Habitat simulator" in fake.NOTICE
    assert "FAKE" in fake.__doc__.splitlines()[0]
    assert sim_lib.is_fake(fake) and sim_lib.load_backend("fake") is fake
    with pytest.raises(RuntimeError, match="unknown scene.*test double"):
        fake.Simulator(sim_lib.make_configuration(fake, sim_lib.SimSettings(scene_id="hm3d/x.glb")))


@pytest.mark.skipif(HAS_HABITAT, reason="habitat_sim is installed here")
def test_the_real_check_says_what_is_missing_before_reading_any_dataset() -> None:
    from embodied.envs.habitat.check import check_episode

    with pytest.raises(sim_lib.HabitatUnavailable, match="conda install habitat-sim"):
        check_episode({"split": "/nonexistent/val.json.gz"})
