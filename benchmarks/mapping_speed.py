"""Per-step cost of CoW's classical half: map update, frontiers, planning (224x224 depth).

    .venv/bin/python benchmarks/mapping_speed.py [--episodes 3] [--steps 200] [--policy explore]
    .venv/bin/python benchmarks/mapping_speed.py --planners      # Dijkstra vs A* vs networkx

Each episode (a val house) starts with the 360 deg spin (12 x RotateLeft) and goes on for
``--steps`` steps, either exploring (``explore``: nearest frontier, planned path, next_action,
what the CoW agent does) or as a random walk (``random``: 60 % MoveAhead). Per step it times:

* update   -- ``TopDownMap.update(depth, pose)`` (+ ``mark_blocked`` after a refused move);
* frontiers -- ``find_frontiers`` (mask, clusters, centroids);
* planning -- traversable grid (inflation), one Dijkstra field from the agent, frontier
  selection on it, the path read back, ``next_action``.

Only these modules are timed (the env's rendering is not). Target (CoW issue): update +
frontiers + planning <= 5 ms per step at 0.125 m cells on the 2-core CPU.

``--planners`` replays the maps of an exploration run and times, for the same start and a far
reachable goal, ``geodesic_field`` + path (scipy csgraph Dijkstra, what the planner uses), the
reference ``astar`` (heapq + numpy) and ``networkx.astar_path`` on the same 8-connected grid.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

from embodied.envs import objectnav_episodes as eps
from embodied.envs.objectnav import ObjectNavEnv
from embodied.perception.frontier import Blacklist, find_frontiers, select_frontier
from embodied.perception.geometry import Intrinsics
from embodied.perception.mapping import MapConfig, TopDownMap
from embodied.perception.planner import astar, geodesic_field, grid_graph, next_action


def run_episode(env: ObjectNavEnv, index: int, steps: int, policy: str, cfg: MapConfig,
                rng: np.random.Generator, keep_maps: bool = False) -> dict:
    obs, info = env.reset(seed=index, options={"episode": eps.split_episode("val", index)})
    tmap = TopDownMap(cfg, Intrinsics.from_info(info["camera"]))
    blacklist = Blacklist(radius=0.5)
    times = {"update": [], "frontiers": [], "planning": []}
    maps = []
    target = None
    stuck = 0
    actions = [1] * 12                      # the spin, then the policy
    last_action, success = None, True
    for step in range(steps):
        pose = obs["pose"]
        t0 = time.perf_counter()
        if last_action == 0 and not success:
            tmap.mark_blocked(pose[:2], float(pose[2]))
        tmap.update(obs["depth"], pose)
        t1 = time.perf_counter()
        frontiers = find_frontiers(tmap, min_size=5)
        t2 = time.perf_counter()
        tmap.traversable                    # noqa: B018 (computed lazily: time it here)
        field = geodesic_field(tmap, pose[:2])
        chosen = path = None
        if field is not None:
            chosen = select_frontier(tmap, frontiers, pose[:2], field=field, blacklist=blacklist)
            if chosen is not None and chosen.goal_cell is not None:
                path = field.path_to(chosen.goal_cell)
        action = next_action(path, pose, tmap=tmap)
        t3 = time.perf_counter()
        times["update"].append(t1 - t0)
        times["frontiers"].append(t2 - t1)
        times["planning"].append(t3 - t2)
        if keep_maps and step % 10 == 0:
            maps.append((tmap.traversable.copy(), tmap.resolution, np.array(pose[:2]),
                         tmap.origin, tmap.world_to_cell(np.asarray(pose[:2]))))
        if actions:
            a = actions.pop(0)
        elif policy == "random":
            a = int(rng.choice([0, 0, 0, 0, 0, 0, 1, 2, 1, 2]))
        else:
            if chosen is not None and (target is None or not np.allclose(target, chosen.target_xy)):
                target, stuck = chosen.target_xy, 0
            stuck += 1
            if action is None or stuck > 60:
                if chosen is not None:
                    blacklist.add(chosen.target_xy)
                a = 1
            else:
                a = action
        obs, _, term, trunc, info = env.step(a)
        last_action, success = a, info["last_action_success"]
        if term or trunc:
            break
    return {"times": times, "maps": maps, "known_m2": tmap.explored_area()}


def fmt(values: list[float]) -> str:
    v = np.asarray(values) * 1e3
    return f"{v.mean():6.2f} {np.percentile(v, 95):6.2f} {v.max():6.2f}"


def bench_planners(maps: list) -> None:
    import networkx as nx

    rows = {"csgraph dijkstra (field + path)": [], "numpy/heapq A*": [],
            "networkx astar (graph + search)": []}
    frame = TopDownMap(MapConfig())          # same layout as the recorded maps: coordinates
    for trav, res, xy, _origin, _start in maps:
        field = geodesic_field(frame, xy, traversable=trav)
        if field is None:
            continue
        d = np.where(np.isfinite(field.distance), field.distance, -1)
        goal = np.unravel_index(int(np.argmax(d)), d.shape)
        s = field.start_cell
        t0 = time.perf_counter()
        f2 = geodesic_field(frame, xy, traversable=trav)
        p1 = f2.path_cells(goal)
        t1 = time.perf_counter()
        length, p2 = astar(trav, s, goal, res)
        t2 = time.perf_counter()
        i0, i1, j0, j1 = field.box
        sub = trav[i0:i1, j0:j1]
        g = nx.from_scipy_sparse_array(grid_graph(sub, res))
        w = j1 - j0
        src, dst = (s[0] - i0) * w + s[1] - j0, (goal[0] - i0) * w + goal[1] - j0

        def h(a, b):
            dy, dx = abs(a // w - b // w), abs(a % w - b % w)
            return res * ((dx + dy) + (math.sqrt(2) - 2) * min(dx, dy))
        nx.astar_path(g, src, dst, heuristic=h, weight="weight")
        t3 = time.perf_counter()
        assert abs(length - field.distance[goal]) < 1e-6 and p1 is not None and p2 is not None
        rows["csgraph dijkstra (field + path)"].append(t1 - t0)
        rows["numpy/heapq A*"].append(t2 - t1)
        rows["networkx astar (graph + search)"].append(t3 - t2)
    print(f"\nplanners on {len(rows['numpy/heapq A*'])} maps (start -> farthest reachable cell)")
    print(f"{'planner':>34} {'mean':>6} {'p95':>6} {'max':>6}  (ms)")
    for name, v in rows.items():
        print(f"{name:>34} {fmt(v)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--policy", choices=["explore", "random"], default="explore")
    parser.add_argument("--stride", type=int, default=MapConfig.stride)
    parser.add_argument("--planners", action="store_true",
                        help="also compare Dijkstra, A* and networkx on the visited maps")
    args = parser.parse_args()
    env = ObjectNavEnv(max_steps=10**6)
    cfg = MapConfig(stride=args.stride)
    rng = np.random.default_rng(0)
    all_t = {"update": [], "frontiers": [], "planning": []}
    maps = []
    for e in range(args.episodes):
        out = run_episode(env, 2 * e, args.steps, args.policy, cfg, rng, keep_maps=args.planners)
        for k, v in out["times"].items():
            all_t[k].extend(v)
        maps.extend(out["maps"])
        steps = len(out["times"]["update"])
        print(f"episode {2 * e}: known {out['known_m2']:.1f} m2 after {steps} steps")
    env.close()
    total = [a + b + c for a, b, c in
             zip(all_t["update"], all_t["frontiers"], all_t["planning"])]
    print(f"\n{args.policy}, stride {args.stride}, {len(total)} steps, "
          f"renderer {env.scene.renderer}")
    print(f"{'stage':>10} {'mean':>6} {'p95':>6} {'max':>6}  (ms per step)")
    for k, v in all_t.items():
        print(f"{k:>10} {fmt(v)}")
    print(f"{'total':>10} {fmt(total)}")
    if args.planners:
        bench_planners(maps)


if __name__ == "__main__":
    main()
