"""Keep ROS 2 (Fast DDS) on loopback: the environment a process needs before `rclpy.init()`.

Why: DDS discovers peers by UDP multicast on every interface by default, which tests and CI must
never do, and two test runs on one machine must not see each other's nodes. The shipped profile
(`fastdds_loopback.xml`) whitelists 127.0.0.1, turns off the built-in transports and multicast and
uses 127.0.0.1 as the initial peer; each run gets its own `ROS_DOMAIN_ID`.
`ROS_AUTOMATIC_DISCOVERY_RANGE` is removed: alone it was measured to leave sockets on 0.0.0.0, and
with the profile, `LOCALHOST` makes rmw_fastrtps replace the profile's transports (a socket on the
machine's external address appeared again).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping

from embodied.netcheck import non_loopback_sockets, off_loopback  # noqa: F401 (re-exported)

__all__ = ["PROFILE", "configure", "loopback_env", "non_loopback_sockets", "off_loopback", "free_domain_id"]

PROFILE = Path(__file__).resolve().with_name("fastdds_loopback.xml")
#: ROS_DOMAIN_ID is 0..232 for Fast DDS's port arithmetic; 0 is everyone's default
DOMAIN_RANGE = range(1, 233)


def loopback_env(domain_id: int, base: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with the variables that keep a ROS 2 process on
    loopback in domain ``domain_id``."""
    if domain_id not in DOMAIN_RANGE:
        raise ValueError(f"ROS_DOMAIN_ID must be in 1..232, got {domain_id}")
    env = dict(os.environ if base is None else base)
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE", None)
    env.pop("ROS_LOCALHOST_ONLY", None)
    env.update({
        "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "ROS_DOMAIN_ID": str(domain_id),
    })
    return env


def configure(domain_id: int) -> None:
    """Set this process's environment for loopback-only ROS 2; call before ``rclpy.init()``."""
    env = loopback_env(domain_id)
    for key in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY"):
        os.environ.pop(key, None)
    for key in ("FASTDDS_DEFAULT_PROFILES_FILE", "RMW_IMPLEMENTATION", "ROS_DOMAIN_ID"):
        os.environ[key] = env[key]


def free_domain_id(seed: int | None = None) -> int:
    """A domain id for one test run (from the pid by default), so parallel runs stay apart."""
    value = os.getpid() if seed is None else int(seed)
    return DOMAIN_RANGE[value % len(DOMAIN_RANGE)]
