"""How exact is SPL's shortest path length l, and what does it cost per episode?

For every episode of a split it computes l three ways:

* ``grid``  — the 0.05 m navigation grid (80-neighbour Dijkstra to the goal cells' centres), which
  is what l used to be;
* ``exact`` — what the env reports now (perception/geodesic.py: visibility graph over the grown
  footprints, 16 chords per quarter circle, line-of-sight edge searched at 4 cm);
* ``ref``   — the same method pushed further (64 chords per quarter circle, 1 cm search), as a
  reference that shows the discretisation left in ``exact`` does not matter.

and prints the per-split table (excess of grid over exact, |exact - ref|) and the cost of the exact
computation per house and per episode.

    .venv/bin/python benchmarks/shortest_path_accuracy.py --split val test
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from embodied.envs import objectnav_episodes as E
from embodied.perception.geodesic import FreeSpace, Target
from embodied.perception.navgrid import geodesic_distance
from shapely.geometry import box as shapely_box


def reference_l(house, episode) -> float:
    """l with the finest settings: 64 chords per quarter circle and a 1 cm line-of-sight search."""
    free = FreeSpace(E.house_footprints(house), house.bounds, E.AGENT_RADIUS, quad_segs=64)
    rays = E.generation_ray_hits(house)
    targets = []
    for lo, hi, iid in E.goal_boxes(house, episode["category"]):
        region = shapely_box(lo[0], lo[1], hi[0], hi[1]).buffer(episode["success_distance"],
                                                                quad_segs=256)
        targets.append(Target(free, region, E.line_of_sight(rays, house, iid), spacing=0.01))
    return free.distance_to(targets, np.array(episode["start"][:2]))


def measure(split: str) -> dict:
    rows = []
    build_s, target_s, query_s = [], [], []
    free_by_seed: dict[int, FreeSpace] = {}
    for ep in E.split_episodes(split):
        house = E.cached_house(ep["house_seed"])
        start = np.array(ep["start"][:2])
        rays = E.generation_ray_hits(house)
        boxes = E.goal_boxes(house, ep["category"])
        grid = E.house_navgrid(house)
        field = E.goal_field(grid, house, boxes, ep["success_distance"], rays)
        grid_l = geodesic_distance(grid, field, start)
        t0 = time.perf_counter()
        if ep["house_seed"] not in free_by_seed:
            free_by_seed[ep["house_seed"]] = E.house_free_space(house)
            build_s.append(time.perf_counter() - t0)
        free = free_by_seed[ep["house_seed"]]
        t1 = time.perf_counter()
        targets = E.goal_targets(free, house, boxes, ep["success_distance"], rays)
        t2 = time.perf_counter()
        exact = free.distance_to(targets, start)
        t3 = time.perf_counter()
        target_s.append(t2 - t1)
        query_s.append(t3 - t2)
        rows.append((ep["episode_id"], grid_l, exact, reference_l(house, ep)))
    grid_l, exact, ref = (np.array([r[k] for r in rows]) for k in (1, 2, 3))
    excess = 100 * (grid_l / exact - 1)
    worst = int(np.argmax(excess))
    return {
        "split": split, "episodes": len(rows),
        "grid_mean": excess.mean(), "grid_max": excess.max(), "grid_min": excess.min(),
        "grid_worst_id": rows[worst][0],
        "ref_max_abs_mm": 1000 * np.abs(exact - ref).max(),
        "ref_max_rel": 100 * (np.abs(exact - ref) / ref).max(),
        "build_ms": 1000 * np.mean(build_s), "target_ms": 1000 * np.mean(target_s),
        "query_ms": 1000 * np.mean(query_s), "query_max_ms": 1000 * np.max(query_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", nargs="+", default=["val", "test"])
    args = parser.parse_args()
    results = [measure(s) for s in args.split]
    print("| split | episodes | grid l over exact: mean | worst | best | worst episode "
          "| exact vs ref: max abs | max rel |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['split']} | {r['episodes']} | {r['grid_mean']:+.2f} % | {r['grid_max']:+.2f} % "
              f"| {r['grid_min']:+.2f} % | {r['grid_worst_id']} | {r['ref_max_abs_mm']:.2f} mm "
              f"| {r['ref_max_rel']:.3f} % |")
    print()
    print("| split | free space per house | success region per episode | l per query (mean / max) |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['split']} | {r['build_ms']:.0f} ms | {r['target_ms']:.0f} ms "
              f"| {r['query_ms']:.0f} / {r['query_max_ms']:.0f} ms |")


if __name__ == "__main__":
    main()
