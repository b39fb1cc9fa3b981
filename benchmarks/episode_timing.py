"""One episode run with its wall time split into env and agent: what the speed benchmarks share."""
from __future__ import annotations

import time
from typing import Any, Callable


def timed_episode(env: Any, agent: Any, episode: dict,
                  count: Callable[[Any], bool] | None = None) -> tuple[dict[str, float], dict]:
    """Run ``episode`` (reset, then act/step until it ends); returns ({wall, env, agent, steps,
    counted}, the last info). ``env`` holds ``env.reset`` and every ``env.step``, ``agent``
    ``agent.reset`` and every ``agent.act``; ``counted`` is how many actions ``count`` accepted."""
    start = t0 = time.perf_counter()
    obs, info = env.reset(seed=0, options={"episode": episode})
    t1 = time.perf_counter()
    agent.reset(info)
    t2 = time.perf_counter()
    env_s, agent_s, steps, counted = t1 - t0, t2 - t1, 0, 0
    done = False
    while not done:
        t0 = time.perf_counter()
        action = agent.act(obs)
        t1 = time.perf_counter()
        obs, _, term, trunc, info = env.step(action)
        t2 = time.perf_counter()
        env_s += t2 - t1
        agent_s += t1 - t0
        steps += 1
        counted += bool(count(action)) if count is not None else 0
        done = term or trunc
    return {"wall": time.perf_counter() - start, "env": env_s, "agent": agent_s, "steps": steps,
            "counted": counted}, info
