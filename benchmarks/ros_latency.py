"""Observation-to-command latency through ROS 2 (rclpy, Fast DDS on loopback), one process.

    .venv/bin/python benchmarks/ros_latency.py [--seconds 10] [--rate 15]

`RosSim` publishes the embedded world's 224 x 224 rgb, depth, camera_info and odometry at `--rate`;
a `Ros2Transport` receives them, and a zero-compute "agent" answers every new depth frame with a
`cmd_vel` at once. Latency = the sim receiving that command minus the sim finishing the publish of
the frame (both `time.monotonic`), so it is the ROS 2 round trip: serialisation, DDS over
loopback, the transport's conversion and validation, and the command's way back. Median and p99
over `--seconds`.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=15.0)
    args = parser.parse_args(argv)

    from embodied.ros import loopback

    loopback.configure(loopback.free_domain_id())
    import rclpy

    from embodied.envs import objectnav_episodes as eps
    from embodied.envs.objectnav import ObjectNavConfig, ObjectNavEnv
    from embodied.ros.sim import RosSim
    from embodied.ros.transport import Ros2Transport

    rclpy.init()
    env = ObjectNavEnv(ObjectNavConfig(split="val"))
    env.reset(options={"episode": eps.split_episode("val", 0)})
    sim = RosSim(env, rate_hz=args.rate).start()
    transport = Ros2Transport()
    try:
        last = None
        end = time.monotonic() + args.seconds + 2.0
        while time.monotonic() < end:
            depth = transport.latest().get("depth")
            if depth is not None and depth is not last:
                last = depth
                transport.command(0.0, 0.0)
            time.sleep(0.0005)
        pairs = [(t, p) for t, p in sim.received if np.isfinite(p)][5:]   # skip the start-up
        lat = np.array([1000.0 * (t - p) for t, p in pairs])
        print(f"ROS 2 observation -> command latency, {len(lat)} frames at {args.rate:g} Hz "
              f"(224x224 rgb + depth): median {np.median(lat):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms, "
              f"max {lat.max():.2f} ms")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    finally:
        transport.close()
        sim.close()
        rclpy.shutdown()
        env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
