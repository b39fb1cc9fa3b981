"""`embodied deploy` over real rclpy on loopback: CoW with the ground-truth localizer reaches its goal
through `ros-sim` + `RosRobotEnv` and is scored by the simulator exactly like `embodied run`;
SIGTERM during a move leaves a zero Twist as the robot's last command; the deploy config swaps
only the env."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.ros_robot import require_ros  # noqa: E402

require_ros("rclpy")

from embodied.config import ConfigError  # noqa: E402
from embodied.envs import objectnav_episodes as eps  # noqa: E402
from embodied.ros import loopback  # noqa: E402
from embodied.ros.deploy import REGISTRATION, deploy, deploy_config  # noqa: E402
from embodied.ros.robot_env import ENV_ID  # noqa: E402
from tests.ros_robot import spinning_robot, wait_for  # noqa: E402

FAST_ROBOT = {"linear_speed": 0.5, "angular_speed": 1.5, "settle": 0.1,
              "limits": {"max_linear": 0.5, "max_angular": 1.5}}


def _one_episode(tmp_path: Path, episode_id: str) -> Path:
    """A dataset file holding one val episode (the one the GT run solves in 37 steps)."""
    index = [e["episode_id"] for e in eps.split_episodes("val", 20)].index(episode_id)
    path = tmp_path / "one.json"
    eps.write_dataset(path, [eps.split_episodes("val", 20)[index]], {"env": "embodied/ObjectNav-PyBullet-v0"})
    return path


def test_cow_ground_truth_reaches_its_goal_through_ros_sim(tmp_path) -> None:
    robot_yaml = tmp_path / "robot.yaml"
    robot_yaml.write_text(yaml.safe_dump(FAST_ROBOT))
    dataset = _one_episode(tmp_path, "val-0007-0")
    out = tmp_path / "run"
    cfg, summary = deploy("experiments/cow_pybullet_gt.yaml",
                          [f"env.split={dataset}", f"run.output={out}", "run.save_video=true"],
                          robot=str(robot_yaml), sim=True, sim_rate=20.0,
                          domain_id=loopback.free_domain_id(os.getpid() + 97))
    (record,) = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert record["episode_id"] == "val-0007-0" and record["error"] is None, record
    assert record["success"] is True and record["robot"] == "ros-sim" and record["halted"] is None
    # scored by the simulator: SPL = l / max(l, p) on the world's own path
    assert record["spl"] == pytest.approx(record["shortest_path_length"] / max(record["shortest_path_length"],
                                                                               record["path_length"]))
    assert 0.5 < record["spl"] <= 1.0 and record["steps"] < 250
    assert summary["metrics"]["success"] == 1.0
    assert (out / "videos" / "val-0007-0.mp4").stat().st_size > 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["env"]["id"] == ENV_ID and saved["env"]["sim_env"]["split"] == str(dataset)
    assert saved["agent"]["localizer"]["id"] == "ground_truth" and saved["run"]["workers"] == 1


def test_sigterm_during_a_move_leaves_zero_velocity_as_the_last_command(tmp_path) -> None:
    domain = loopback.free_domain_id(os.getpid() + 89)
    slow = tmp_path / "slow.yaml"                      # a slow base: a MoveAhead takes seconds
    slow.write_text(yaml.safe_dump({"linear_speed": 0.03, "angular_speed": 0.1, "wait_for_streams": 60.0}))
    exe = Path(sys.executable).with_name("embodied")
    with spinning_robot(domain) as robot:
        proc = subprocess.Popen([str(exe), "deploy", "experiments/objectnav_random.yaml", "agent.stop_probability=0",
                                 f"run.output={tmp_path / 'run'}", "--goal", "Mug", "--robot", str(slow),
                                 "--loopback", "--domain-id", str(domain)],
                                env=loopback.loopback_env(domain), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            moving = lambda: any(v != 0.0 or w != 0.0 for _, v, w in robot.commands)  # noqa: E731
            assert wait_for(moving, timeout=90.0), "the deploy never drove the robot"
            assert robot.commands[-1][1:] != (0.0, 0.0)                  # it is mid-move right now
            assert loopback.non_loopback_sockets([proc.pid]) == []
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 130, err[-2000:]
            time.sleep(0.3)                                               # anything still in flight arrives
            assert robot.commands[-1][1:] == (0.0, 0.0)
            assert not (tmp_path / "run" / "episodes.jsonl").exists() or \
                (tmp_path / "run" / "episodes.jsonl").read_text() == ""    # an interrupted episode is redone
        finally:
            if proc.poll() is None:
                proc.kill()


def test_deploy_config_swaps_only_the_env(tmp_path) -> None:
    cfg = deploy_config("experiments/cow_pybullet.yaml", [], goals=["Mug", "red apple"])
    assert cfg.env.id == ENV_ID and cfg.env.split == "goals" and cfg.env.goals == ["Mug", "red apple"]
    assert cfg.agent.id == "cow" and cfg.run.workers == 1 and cfg.run.output == "runs/cow_pybullet-deploy-robot"
    assert cfg.run.imports == [REGISTRATION]            # so the run's config.yaml runs with `embodied run`
    sim = deploy_config("experiments/cow_pybullet.yaml", ["env.split=test"], sim=True, episodes=3)
    assert sim.env.sim and sim.env.sim_env.split == "test" and sim.env.sim_env.episodes == 3
    assert sim.env.max_steps == 250
    bad = tmp_path / "robot.yaml"
    bad.write_text("- 1\n")
    with pytest.raises(ConfigError, match="robot settings"):
        deploy_config("experiments/cow_pybullet.yaml", [], robot=str(bad))
    bad.write_text("linear_sped: 0.3\n")
    with pytest.raises(ConfigError, match="linear_sped"):
        deploy_config("experiments/cow_pybullet.yaml", [], robot=str(bad))


def test_a_privileged_agent_on_a_real_robot_is_refused() -> None:
    from embodied.ros.robot_env import RosRobotConfig, RosRobotEnv

    with pytest.raises(ConfigError, match="ros-sim"):
        RosRobotEnv(RosRobotConfig(), transport=object(), privileged=True)  # type: ignore[arg-type]
