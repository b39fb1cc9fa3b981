"""Seconds per two-phase rearrangement episode of the CSR agents, split into env and agent.

    .venv/bin/python benchmarks/csr_episode_time.py [--agent csr|csr_paper] [--episodes 10]
                                                    [--split val] [--threads 2]

Runs the agent (with the shipped encoders, `embodied/models/csr`) on the first `--episodes`
episodes of a split of `embodied/Rearrange-PyBullet-v0` at the env's default 224 x 224, one
process, and times with `time.perf_counter`:

* env   -- `env.reset` + every `env.step` (collision checks, render, observation, metrics);
* agent -- `agent.reset` + every `agent.act` (depth map, CSR encoders, scene graphs, planning).

Per episode and overall it prints steps (walkthrough + unshuffle), wall seconds, the env and agent
shares and the encoder passes the graph builders saved (`max_views`); then the peak RSS. The
issue's target: a walkthrough + unshuffle episode in <= 30 s on this 2-core machine.
Deterministic: fixed episodes, seed 0 (timings of course vary with the machine's load).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from embodied.agents.csr import CSRAgent, CSRAgentConfig, CSRPaperConfig
from embodied.envs import rearrange_episodes
from embodied.envs.rearrange import RearrangeConfig, RearrangeEnv
from episode_timing import timed_episode
from localizer_speed import peak_rss_mb


def run_episode(env: RearrangeEnv, agent: CSRAgent, episode: dict) -> dict[str, float]:
    """One episode: wall, env and agent seconds and its steps and metrics."""
    r, info = timed_episode(env, agent, episode)
    return {**r, "skipped": sum(b.skipped for b in agent.builders if b is not None),
            "fixed_strict": float(info["metrics"]["fixed_strict"]),
            "success": float(info["metrics"]["success"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent", choices=("csr", "csr_paper"), default="csr")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--split", default="val")
    p.add_argument("--threads", type=int, default=2, help="torch threads (the machine has 2 cores)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    config = CSRAgentConfig() if a.agent == "csr" else CSRPaperConfig()
    agent = CSRAgent(config)
    env = RearrangeEnv(RearrangeConfig(split=a.split), privileged=True)
    rows = []
    for episode in rearrange_episodes.split_episodes(a.split, a.episodes):
        r = run_episode(env, agent, episode)
        rows.append(r)
        print(f"{episode['episode_id']}: {r['steps']} steps, {r['wall']:.1f} s (env {r['env']:.1f} s, "
              f"agent {r['agent']:.1f} s), {r['skipped']} encoder passes saved, "
              f"fixed_strict {r['fixed_strict']:.2f}", flush=True)
    env.close()
    wall = np.array([r["wall"] for r in rows])
    print(f"{a.agent}, {len(rows)} episodes of {a.split}: wall mean {wall.mean():.1f} s, "
          f"max {wall.max():.1f} s; env {np.mean([r['env'] for r in rows]):.1f} s, agent "
          f"{np.mean([r['agent'] for r in rows]):.1f} s; steps {np.mean([r['steps'] for r in rows]):.0f}; "
          f"fixed_strict {np.mean([r['fixed_strict'] for r in rows]):.3f}; "
          f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
