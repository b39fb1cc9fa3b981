"""Seconds per object and per interaction of SfA (Structure from Action), split into env and agent.

    .venv/bin/python benchmarks/sfa_speed.py [--split val] [--objects 30] [--interactions 15]
                                             [--cameras 1] [--width 160] [--height 120]

Runs `SfaAgent` on the first `--objects` episodes of a split of `embodied/Articulation-PyBullet-v0`
(one object each, env budget `--interactions`, the agent one less, kept for "done") and times,
with wall-clock `time.perf_counter`:

* env   -- `env.reset` (object load, camera fit, first render) + every `env.step`: physics of
  the pull, rendering of the K cameras, point-cloud fusion (and scoring on the final "done");
* agent -- `agent.reset` + every `agent.act`: candidate proposals, segmentation of what moved,
  ICP/RANSAC, joint fitting and the final estimate.

An interaction is a step whose action distance is > 0; the final "done" step (distance 0, carrying
the estimate) counts as a step, not an interaction, but its time is included. Per category and
over all objects it prints objects, interactions/object, s/object (everything, reset included),
env and agent s/interaction (each side's whole time divided by the interactions) and each side's
share of the wall time; then the peak RSS of this process. Deterministic: fixed episodes, seed 0.
"""
from __future__ import annotations

import argparse
import os
from collections import defaultdict

import numpy as np

from embodied.agents.sfa import SfaAgent, SfaConfig
from embodied.envs.articulation import ArticulationConfig, ArticulationEnv, split_episodes
from episode_timing import timed_episode
from localizer_speed import peak_rss_mb


def run_object(env: ArticulationEnv, agent: SfaAgent, episode: dict) -> dict[str, float]:
    """One episode: wall, env and agent seconds (resets included) and the number of interactions."""
    r, _ = timed_episode(env, agent, episode,
                         count=lambda a: float(np.asarray(a["distance"]).reshape(-1)[0]) > 0.0)
    return {"wall": r["wall"], "env": r["env"], "agent": r["agent"], "interactions": r["counted"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--objects", type=int, default=30)
    parser.add_argument("--interactions", type=int, default=15,
                        help="env budget per object (the agent gets one less)")
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    args = parser.parse_args()
    env = ArticulationEnv(ArticulationConfig(split=args.split, max_interactions=args.interactions,
                                             cameras=args.cameras, width=args.width,
                                             height=args.height))
    agent = SfaAgent(SfaConfig(max_interactions=args.interactions - 1))
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    for episode in split_episodes(args.split, args.objects):
        rows[episode["category"]].append(run_object(env, agent, episode))
    env.close()
    rows = dict(sorted(rows.items())) | {"all": [r for v in rows.values() for r in v]}
    print(f"{args.split}, {args.cameras} camera(s) {args.width}x{args.height}, budget "
          f"{args.interactions}, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'category':>12} {'objects':>7} {'inter/obj':>9} {'s/object':>9} {'env s/int':>9} "
          f"{'agent s/int':>11} {'env %':>6} {'agent %':>7}")
    for name, runs in rows.items():
        env_s = sum(r["env"] for r in runs)
        agent_s = sum(r["agent"] for r in runs)
        n = sum(r["interactions"] for r in runs)
        wall = sum(r["wall"] for r in runs)
        per = max(n, 1)
        print(f"{name:>12} {len(runs):>7} {n / len(runs):>9.2f} {wall / len(runs):>9.2f} "
              f"{env_s / per:>9.3f} {agent_s / per:>11.3f} {100 * env_s / wall:>6.1f} "
              f"{100 * agent_s / wall:>7.1f}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
