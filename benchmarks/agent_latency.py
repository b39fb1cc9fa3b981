"""CoW's cost per step, by component, for each localizer: where an episode's time goes.

    .venv/bin/python benchmarks/agent_latency.py [--steps 40] [--localizers ground_truth clip_grad ...]
                                                 [--model tiny-vit|ViT-B-32] [--device cpu|cuda:0]

Runs CoW on val episodes of the embedded ObjectNav env and times each component with wrappers
around the functions the agent calls: env step (render + collision), map update, frontier
extraction + selection, planning (Dijkstra + path), localizer. CLIP models are built with random
weights (`pretrained: null`): the architecture decides the speed, and nothing needs downloading.
Target (issue #3): map update + frontiers + planning <= 5 ms per step at 0.125 m cells.
Prints the peak RSS of this process (a worker) after the last localizer (target <= 2 GB with
ViT-B-32).
"""
from __future__ import annotations

import argparse
import resource
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np

import embodied.agents.cow as cow
from embodied.envs import objectnav_episodes as eps
from embodied.envs.objectnav import ObjectNavConfig, ObjectNavEnv
from embodied.perception.localization import (ClipGradConfig, ClipPatchConfig, ClipRefConfig,
                                              GroundTruthConfig)

TIMES: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - t0
    return wrapper


def instrument(agent: cow.CowAgent) -> None:
    """Wrap the functions CoW calls (module globals and the agent's own objects)."""
    for name, label in (("find_frontiers", "frontiers"), ("select_frontier", "frontiers"),
                        ("geodesic_field", "planning"), ("plan", "planning")):
        if not hasattr(getattr(cow, name), "__wrapped_by_bench__"):
            wrapped = timed(label, getattr(cow, name))
            wrapped.__wrapped_by_bench__ = True
            setattr(cow, name, wrapped)
    agent.localizer.detect = timed("localizer", agent.localizer.detect)
    original_reset = agent.reset

    def reset(info: dict[str, Any]) -> None:
        original_reset(info)
        agent.map.update = timed("map update", agent.map.update)
    agent.reset = reset


def bench(localizer: Any, steps: int, device: str) -> dict[str, float]:
    TIMES.clear()
    privileged = localizer.id == "ground_truth"
    env = ObjectNavEnv(ObjectNavConfig(split="val", max_steps=steps), privileged=privileged)
    agent = cow.CowAgent(cow.CowConfig(localizer=localizer), device=device)
    instrument(agent)
    n = 0
    for index in range(3):
        obs, info = env.reset(seed=index, options={"episode": eps.split_episode("val", index)})
        agent.reset(info)
        done = False
        while not done:
            action = agent.act(obs)
            t0 = time.perf_counter()
            obs, _, term, trunc, _ = env.step(action)
            TIMES["env step (render)"] += time.perf_counter() - t0
            done = term or trunc
            n += 1
    env.close()
    return {k: 1000 * v / n for k, v in TIMES.items()} | {"steps": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="max steps per episode (3 episodes)")
    parser.add_argument("--localizers", nargs="+",
                        default=["ground_truth", "clip_grad", "clip_patch", "clip_ref"])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    configs = {
        "ground_truth": lambda: GroundTruthConfig(),
        "clip_grad": lambda: ClipGradConfig(id="clip_grad", model=args.model, pretrained=None,
                                             min_similarity=0.99),  # random weights: never "found", so it explores
        "clip_patch": lambda: ClipPatchConfig(id="clip_patch", model=args.model, pretrained=None),
        "clip_ref": lambda: ClipRefConfig(id="clip_ref", model=args.model, pretrained=None),
    }
    columns = ["env step (render)", "map update", "frontiers", "planning", "localizer"]
    print(f"{'localizer':>13} " + " ".join(f"{c:>18}" for c in columns) + f" {'map+front+plan':>15}  (ms/step)")
    for name in args.localizers:
        row = bench(configs[name](), args.steps, args.device)
        core = sum(row.get(c, 0.0) for c in ("map update", "frontiers", "planning"))
        print(f"{name:>13} " + " ".join(f"{row.get(c, 0.0):18.2f}" for c in columns)
              + f" {core:15.2f}  over {row['steps']} steps")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model {args.model} on {args.device}; peak RSS of this worker: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
