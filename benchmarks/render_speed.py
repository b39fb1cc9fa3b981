"""Render speed of the embedded PyBullet backend: ms per frame of TinyRenderer, EGL and raycast.

"raycast" is open3d's Embree ray caster (`embodied/envs/pybullet/raycast.py`), which replaces only
the camera; TinyRenderer and the EGL plugin are pybullet's own.

Why: rendering is most of an ObjectNav step's cost, and `PyBulletScene(renderer="auto")` picks
the renderer that this benchmark measures faster for procedural primitive houses.

    python benchmarks/render_speed.py                      # 3 houses, 224x224 and 640x480
    python benchmarks/render_speed.py --houses 5 --frames 50 --renderers tiny

For each renderer and image size, every house is loaded once and rendered from the same random
free viewpoints (seeded) in three modes: rgb only, rgb + depth, rgb + depth + segmentation
(`render(want_depth, want_seg)`; the renderer itself always draws depth). Times are wall-clock ms
per `render()` call (mean and median over all houses), after a few warm-up frames, plus the
CPU time of the whole process per call, and the time of `load()` (build the bodies, and for
raycast also the Embree scene).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from embodied.envs.pybullet.house import generate_house
from embodied.envs.pybullet.scene import PyBulletScene, random_free_poses

MODES = {"rgb": (False, False), "rgb+depth": (True, False), "rgb+depth+seg": (True, True)}


def viewpoints(scene: PyBulletScene, n: int, seed: int) -> list[tuple[float, float, float, float]]:
    """Free agent positions with random headings and pitches in the task's range."""
    return random_free_poses(scene, n, seed)


def bench(renderer: str, size: tuple[int, int], seeds: list[int], frames: int,
          warmup: int = 3) -> tuple[dict[str, list[float]], dict[str, list[float]]] | str:
    """(wall ms per render, CPU ms per render of all threads) for each mode, or a string saying
    why the renderer could not run. CPU > wall means the renderer used several cores (Mesa's
    llvmpipe does), which matters when several env workers share the machine."""
    w, h = size
    try:
        scene = PyBulletScene(width=w, height=h, renderer=renderer)
    except RuntimeError as e:
        return str(e)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    cpu: dict[str, list[float]] = {m: [] for m in MODES}
    load_ms = []
    try:
        for seed in seeds:
            house = generate_house(seed)
            t = time.perf_counter()
            scene.load(house)
            load_ms.append((time.perf_counter() - t) * 1e3)
            views = viewpoints(scene, frames, seed)
            for v in views[:warmup]:
                scene.render(*v)
            for mode, (want_depth, want_seg) in MODES.items():
                c = time.process_time()
                for v in views:
                    t = time.perf_counter()
                    scene.render(*v, want_depth=want_depth, want_seg=want_seg)
                    times[mode].append((time.perf_counter() - t) * 1e3)
                cpu[mode].append((time.process_time() - c) * 1e3 / len(views))
    finally:
        scene.close()
    times["load"] = load_ms
    return times, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--houses", type=int, default=3)
    ap.add_argument("--frames", type=int, default=30, help="frames per house and mode")
    ap.add_argument("--renderers", nargs="+", default=["tiny", "egl", "raycast"])
    ap.add_argument("--sizes", nargs="+", default=["224x224", "640x480"])
    args = ap.parse_args()
    seeds = list(range(args.houses))
    t = time.perf_counter()
    houses = [generate_house(s) for s in seeds]
    print(f"generate_house: {(time.perf_counter() - t) * 1e3 / len(seeds):.0f} ms per house")
    print(f"houses {seeds}: rooms {[len(h.rooms) for h in houses]}, "
          f"primitives {[h.num_primitives() for h in houses]}, "
          f"bodies {[len(h.objects) for h in houses]}")
    print(f"{'renderer':8s} {'size':>8s} {'mode':>14s} {'mean ms':>8s} {'median':>8s} "
          f"{'cpu ms':>8s}")
    for size in args.sizes:
        w, h = (int(v) for v in size.split("x"))
        for renderer in args.renderers:
            res = bench(renderer, (w, h), seeds, args.frames)
            if isinstance(res, str):
                print(f"{renderer:8s} {size:>8s}  unavailable: {res}")
                continue
            wall, cpu = res
            for mode, ts in wall.items():
                c = f"{statistics.fmean(cpu[mode]):8.1f}" if mode in cpu else f"{'':8s}"
                print(f"{renderer:8s} {size:>8s} {mode:>14s} {statistics.fmean(ts):8.1f} "
                      f"{statistics.median(ts):8.1f} {c}")


if __name__ == "__main__":
    main()
