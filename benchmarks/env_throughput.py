"""Env steps per second of `embodied/ObjectNav-PyBullet-v0` in one process, and its peak RSS.

    .venv/bin/python benchmarks/env_throughput.py [--steps 300] [--renderers auto tiny egl]

Measures whole `env.step` calls (collision check, render, observation assembly) under a fixed
random action stream (60% MoveAhead, the rest turns and looks), for three observation sets:
rgb only, rgb + depth (what every agent gets) and rgb + depth + instance (privileged agents).
Target (issue #2): >= 60 steps/s at 224x224 RGB-D on a 2-core CPU; peak RSS <= 1 GB.
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from embodied.envs import objectnav_episodes as eps
from embodied.envs.objectnav import ObjectNavConfig, ObjectNavEnv
from embodied.interfaces import DiscreteNavigationAction as A

# 60% MoveAhead, then each turn and look once; Stop excluded: episodes keep going
ACTIONS = np.array([A.MOVE_AHEAD] * 6 + [A.ROTATE_LEFT, A.ROTATE_RIGHT, A.LOOK_UP, A.LOOK_DOWN])


def steps_per_second(width: int, height: int, renderer: str, mode: str, steps: int) -> tuple[float, str]:
    """Median-of-episodes throughput for one observation set; returns (steps/s, renderer used)."""
    env = ObjectNavEnv(ObjectNavConfig(width=width, height=height, renderer=renderer,
                                       max_steps=10**9), privileged=(mode == "rgb+depth+instance"))
    if mode == "rgb":
        render = env.scene.render
        env.scene.render = lambda *a, **k: {**render(*a, **{**k, "want_depth": False}),
                                            "depth": np.zeros((height, width), np.float32)}
    rng = np.random.default_rng(0)
    rates = []
    for index in range(3):
        env.reset(seed=index, options={"episode": eps.split_episode("val", 2 * index)})
        actions = rng.choice(ACTIONS, size=steps)
        t0 = time.perf_counter()
        for a in actions:
            env.step(int(a))
        rates.append(steps / (time.perf_counter() - t0))
    used = env.scene.renderer
    env.close()
    return float(np.median(rates)), used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--renderers", nargs="+", default=["auto", "tiny", "egl"])
    parser.add_argument("--sizes", nargs="+", default=["224x224", "640x480"])
    args = parser.parse_args()
    print(f"{'size':>8} {'renderer':>9} {'ran':>5} {'rgb':>8} {'rgb+depth':>10} {'rgb+d+inst':>11}  (steps/s)")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        for renderer in args.renderers:
            row, used = [], "?"
            for mode in ("rgb", "rgb+depth", "rgb+depth+instance"):
                try:
                    rate, used = steps_per_second(w, h, renderer, mode, args.steps)
                    row.append(f"{rate:.1f}")
                except RuntimeError as exc:  # EGL unavailable on this machine
                    row.append("n/a")
                    used = f"({exc.__class__.__name__})"
            print(f"{size:>8} {renderer:>9} {used:>5} {row[0]:>8} {row[1]:>10} {row[2]:>11}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
