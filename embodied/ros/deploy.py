"""`embodied deploy`: an experiment's agent on a ROS 2 robot -- real, or the embedded world served by
`embodied ros-sim` -- with the outputs of `embodied run` (config.yaml, episodes.jsonl, summary,
videos, resume) and, on request, a rosbag2 recording of the episode's topics.

Why it is `embodied run` underneath: the experiment's agent section is used unchanged and the env
section becomes `embodied/RosRobot-v0` (`RosRobotConfig`), so what a run folder records and how a
killed deploy resumes are the same as in simulation. With `--sim` the robot is a `ros-sim` child
process serving the experiment's own env: each episode is loaded there and scored there, so the
numbers compare one to one with `embodied run` on the same episodes. One robot means one worker.

Safety on exit: SIGTERM is turned into the same exception as Ctrl-C, so every exit path unwinds
through `RosRobotEnv.step`/`close`, which publish zero velocity before the process ends.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from embodied.config import ConfigError, ExperimentConfig, from_dict, load_config, to_dict
from embodied.ros.robot_env import ENV_ID

__all__ = ["deploy_config", "deploy", "BAG_TOPICS", "REGISTRATION"]

#: The module that registers `embodied/RosRobot-v0` (not a built-in env: it needs a robot).
REGISTRATION = "embodied.ros.registration"

#: Types of the topics a deploy records (RosTopics field -> ROS type name).
BAG_TOPICS = {"rgb": "sensor_msgs/msg/Image", "depth": "sensor_msgs/msg/Image",
              "camera_info": "sensor_msgs/msg/CameraInfo", "odom": "nav_msgs/msg/Odometry",
              "cmd_vel": "geometry_msgs/msg/Twist", "estop": "std_msgs/msg/Bool"}


def _robot_settings(path: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--robot {path}: cannot read it ({type(exc).__name__}: {exc}); expected a YAML "
                          "file of robot settings (topics, limits, speeds)") from None


def deploy_config(config: str, overrides: list[str], robot: str | None = None, goals: list[str] | None = None,
                  sim: bool = False, episodes: int | None = None) -> ExperimentConfig:
    """The experiment with its env replaced by the robot's (see module docstring).

    `robot` is a YAML file of `RosRobotConfig` settings (topics, limits, speeds); a config whose
    env already is the robot (a deploy's own config.yaml) is used as it is.
    """
    from embodied import registry

    registry.import_modules([REGISTRATION])
    cfg = load_config(config, overrides)
    data = to_dict(cfg)
    if REGISTRATION not in data["run"]["imports"]:
        data["run"]["imports"].append(REGISTRATION)     # config.yaml runs again with `embodied run`
    if cfg.env.id != ENV_ID:
        env = _robot_settings(robot) if robot else {}
        if not isinstance(env, dict):
            raise ConfigError(f"--robot {robot}: expected a mapping of robot settings (topics, limits, speeds)")
        env["id"] = ENV_ID
        if sim:
            env.update(sim=True, split="sim", sim_env=data["env"])
            env.setdefault("max_steps", data["env"].get("max_steps", 250))
        else:
            env.update(split="goals")
            if goals:
                env["goals"] = list(goals)
        data["env"] = env
        if cfg.run.output == str(Path("runs") / cfg.name):   # the default: keep the simulator's run apart
            data["run"]["output"] = str(Path("runs") / f"{cfg.name}-deploy-{'sim' if sim else 'robot'}")
    elif goals:
        data["env"]["goals"] = list(goals)
    if episodes is not None:
        target = data["env"]["sim_env"] if data["env"].get("split") == "sim" else data["env"]
        target["episodes"] = episodes
    data["run"]["workers"] = 1
    return from_dict(data)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, so `finally` blocks stop the base."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def ros_sim_process(config: str, overrides: list[str], domain_id: int, rate_hz: float,
                    privileged: bool) -> Iterator[subprocess.Popen]:
    """`embodied ros-sim` as a child process on `domain_id` (loopback), ready when this yields;
    stopped with SIGTERM afterwards."""
    from embodied.ros import loopback

    cmd = [sys.executable, "-m", "embodied.cli", "ros-sim", config, *overrides, "--domain-id", str(domain_id),
           "--rate", str(rate_hz)] + (["--privileged"] if privileged else [])
    proc = subprocess.Popen(cmd, env=loopback.loopback_env(domain_id), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()           # "ros-sim: episode ..." once it serves; "" if it exited
        if not line.startswith("ros-sim: episode"):
            proc.kill()
            err = proc.communicate(timeout=10)[1]
            raise RuntimeError(f"embodied ros-sim did not start: {line.strip()} {err[-1500:]}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _bag_topics(cfg: ExperimentConfig) -> dict[str, str]:
    from embodied.ros import sim_link

    env = cfg.env
    topics = {getattr(env.topics, key): kind for key, kind in BAG_TOPICS.items()}
    if env.sim:
        topics.update({name: "std_msgs/msg/String" for name in (sim_link.EPISODE_TOPIC, sim_link.RESET_TOPIC,
                                                                sim_link.STOP_TOPIC, sim_link.RESULT_TOPIC)})
    return topics


def deploy(config: str, overrides: list[str], robot: str | None = None, goals: list[str] | None = None,
           sim: bool = False, episodes: int | None = None, bag: bool = False, domain_id: int | None = None,
           loopback_only: bool | None = None, sim_rate: float = 15.0,
           console: Any = None) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Run the deploy (module docstring); returns its config and the summary `run_experiment` wrote."""
    from embodied import registry
    from embodied.ros import loopback
    from embodied.runner import run_experiment

    cfg = deploy_config(config, overrides, robot, goals, sim, episodes)
    loopback_only = cfg.env.sim if loopback_only is None else loopback_only
    if loopback_only:
        domain_id = loopback.free_domain_id() if domain_id is None else domain_id
        loopback.configure(domain_id)
    elif domain_id is not None:
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    out = Path(cfg.run.output)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_sigterm_as_interrupt())
        if cfg.env.sim and sim:
            if not loopback_only:
                raise ConfigError("--sim serves the simulator on loopback; drop --any-interface")
            privileged = registry.agent_needs_privileged(cfg.agent)
            stack.enter_context(ros_sim_process(config, overrides, int(domain_id), sim_rate, privileged))
        if bag:
            from embodied.ros.bag import BagRecorder

            out.mkdir(parents=True, exist_ok=True)
            path = out / time.strftime("rosbag2_%Y_%m_%d-%H_%M_%S")
            recorder = stack.enter_context(BagRecorder(path, _bag_topics(cfg)))
            print(f"recording {len(recorder.counts) or len(_bag_topics(cfg))} topics to {path}", flush=True)
        return cfg, run_experiment(cfg, console)
