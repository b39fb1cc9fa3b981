"""Verify an AI2-THOR / Habitat install in one command: one real episode per backend, reported.

    .venv/bin/python scripts/check_backends.py [--backends thor habitat ithor] [--json]
                                               [--thor CONFIG] [--habitat CONFIG] [--ithor CONFIG]
                                               [--fake]

Per backend it builds the env from an experiment file exactly as `embodied run` does, runs one
episode with a fixed, agent-free policy (no model is loaded, so a failure is the backend's) and
prints what it saw, one block per backend:

    == thor: embodied/ObjectNav-RoboTHOR-v0 (experiments/cow_robothor.yaml)
    ok        episode FloorPlan_Train1_1_Apple_0, 19 steps, 21.4 fps, reset 1.92 s
    frames    rgb (480, 640, 3) uint8, depth (480, 640, 1) 0.31..4.87 m
    pose      start (0.00, 0.00, 0.00, -0.52) -> end (1.00, 0.00, 0.00, -0.52)
    metrics   success 0, spl 0.000, distance_to_goal 2.14
    extra     spl_ai2thor 0.000

`ok` or `FAILED <the error, with its fix>`; `frames`: each image's shape, dtype and value range;
`pose`: (x, y, yaw, pitch) relative to the start, as every ObjectNav env reports it; `metrics`:
the env's own episode metrics; `extra`: backend-specific checks (THOR: SPL recomputed by
`ai2thor.util.metrics.compute_single_spl`; Habitat: the dataset's geodesic distance next to the
navmesh's, goal pixels seen; iTHOR: the rearrangement metrics after walkthrough and unshuffle).
`--json` prints the full reports instead. Exit status: 0 when every backend ran, 1 otherwise.
`--fake` runs the same checks on the tests' fakes (no simulator needed): what the output looks
like, and that the script itself works.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {"thor": "experiments/cow_robothor.yaml", "habitat": "experiments/cow_habitat_hm3d.yaml",
            "ithor": "experiments/csr_ithor_rearrange.yaml"}
#: overrides that put each backend on its fake (``--fake``)
FAKE = {"thor": ["env.controller=fake", "env.dataset=tests/data/robothor", "env.max_steps=40",
                 "env.thor.width=160", "env.thor.height=120"],
        "habitat": ["env.simulator=fake", "env.split=tests/data/habitat/objectnav_fake.json.gz"],
        "ithor": ["env.controller=fake", "env.split=fake", "env.width=160", "env.height=120"]}


def _env_config(path: str, overrides: list[str]) -> Any:
    from embodied import registry
    from embodied.config import load_config

    registry.load_builtin()
    return load_config(REPO / path if not Path(path).is_absolute() else Path(path), overrides).env


def check_thor(path: str, overrides: list[str]) -> dict[str, Any]:
    from embodied.envs.ai2thor.check import check_episode

    cfg = _env_config(path, overrides)
    # privileged (instance masks) only when the experiment renders them
    r = check_episode(cfg, privileged=bool(cfg.thor.render_instance_segmentation))
    return {"env": r["env"], "episode": r["episode_id"], "steps": r["steps"], "fps": r["fps"],
            "reset_seconds": r["reset_seconds"],
            "frames": {"rgb": r["rgb"], "depth": [r["depth"][0], "float32", *r["depth"][1:]]},
            "pose_start": r["pose_start"], "pose_end": r["pose_end"], "metrics": r["metrics"],
            "extra": {"spl_ai2thor": r.get("spl_ai2thor")}, "report": r}


def check_habitat(path: str, overrides: list[str]) -> dict[str, Any]:
    from embodied.envs.habitat.check import check_episode

    cfg = _env_config(path, overrides)
    backend = None
    if cfg.simulator == "fake":
        from embodied.envs.habitat import fake as backend   # noqa: F811 (the fake simulator module)
    r = check_episode(cfg, backend=backend)
    frames = r["frames"]
    return {"env": cfg.id, "episode": r["episode_id"], "steps": r["steps"], "fps": r["fps"],
            "reset_seconds": r["reset_seconds"],
            "frames": {k: [v["shape"], v["dtype"], v.get("min"), v.get("max")] for k, v in frames.items()
                       if k in ("rgb", "depth")},
            "pose_start": r["pose_start"], "pose_end": r["pose_end"], "metrics": r["metrics"],
            "extra": {"geodesic_file": r["geodesic_distance_file"],
                      "geodesic_navmesh": r["geodesic_distance_navmesh"],
                      "goal_pixels_max": r["goal_pixels_max"], "simulator": r["simulator"]},
            "report": r}


def check_ithor(path: str, overrides: list[str]) -> dict[str, Any]:
    """One two-phase episode: walk the walkthrough a few steps, done; the same in the unshuffle."""
    from embodied import registry
    from embodied.interfaces import RearrangeAction

    cfg = _env_config(path, overrides)
    episode = registry.list_episodes(cfg)[0]
    env = registry.make_env(cfg, privileged=False)
    policy = [RearrangeAction.ROTATE_RIGHT] * 4 + [RearrangeAction.MOVE_AHEAD] * 2 + [RearrangeAction.DONE]
    try:
        t0 = time.perf_counter()
        obs, info = env.reset(seed=0, options={"episode": episode})
        reset_s = time.perf_counter() - t0
        first = obs
        steps, step_s, end = 0, 0.0, {}
        done = False
        for _phase in range(2):
            for action in policy:
                t = time.perf_counter()
                obs, _, terminated, truncated, end = env.step(int(action))
                step_s += time.perf_counter() - t
                steps += 1
                done = terminated or truncated
                if done or action == RearrangeAction.DONE:
                    break
            if done:
                break
        rgb, depth = np.asarray(first["rgb"]), np.asarray(first["depth"])
        return {"env": cfg.id, "episode": info.get("episode_id"), "steps": steps,
                "fps": steps / step_s if step_s else None, "reset_seconds": reset_s,
                "frames": {"rgb": [list(rgb.shape), str(rgb.dtype), int(rgb.min()), int(rgb.max())],
                           "depth": [list(depth.shape), str(depth.dtype), float(depth.min()), float(depth.max())]},
                "pose_start": np.asarray(first["pose"]).tolist(), "pose_end": np.asarray(obs["pose"]).tolist(),
                "metrics": end.get("metrics"), "extra": {"phases_done": bool(done)}, "report": None}
    finally:
        env.close()


CHECKS: dict[str, Callable[[str, list[str]], dict[str, Any]]] = {
    "thor": check_thor, "habitat": check_habitat, "ithor": check_ithor}


def _range(v: list[Any]) -> str:
    shape, dtype, lo, hi = v
    unit = " m" if "float" in str(dtype) else ""
    rng = f" {lo:.2f}..{hi:.2f}{unit}" if isinstance(lo, float) else f" {lo}..{hi}"
    return f"{tuple(shape)} {dtype}{rng if lo is not None else ''}"


def _pose(p: list[float]) -> str:
    return "(" + ", ".join(f"{x:.2f}" for x in p) + ")"


def _metrics(m: dict[str, Any] | None) -> str:
    if not m:
        return "-"
    return ", ".join(f"{k} {int(v)}" if isinstance(v, bool) else f"{k} {v:.3f}" if isinstance(v, float)
                     else f"{k} {v}" for k, v in m.items() if isinstance(v, (int, float)))


def render(name: str, path: str, r: dict[str, Any] | None, error: str | None) -> str:
    """One backend's block (the format the module docstring documents)."""
    head = f"== {name}: {r['env'] if r else ''} ({path})"
    if error is not None:
        return f"{head}\nFAILED    {error}"
    fps = f"{r['fps']:.1f} fps" if r["fps"] else "- fps"
    lines = [head,
             f"ok        episode {r['episode']}, {r['steps']} steps, {fps}, reset {r['reset_seconds']:.2f} s",
             "frames    " + ", ".join(f"{k} {_range(v)}" for k, v in r["frames"].items()),
             f"pose      start {_pose(r['pose_start'])} -> end {_pose(r['pose_end'])}",
             f"metrics   {_metrics(r['metrics'])}",
             "extra     " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in r["extra"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", choices=sorted(CHECKS), default=["thor", "habitat"])
    for name in CHECKS:
        ap.add_argument(f"--{name}", default=DEFAULTS[name], metavar="CONFIG",
                        help=f"experiment file for {name} (default {DEFAULTS[name]})")
    ap.add_argument("--fake", action="store_true", help="run on the tests' fakes (no simulator)")
    ap.add_argument("--json", action="store_true", help="print the full reports as JSON")
    args = ap.parse_args(argv)
    failed, reports = 0, {}
    for name in args.backends:
        path = getattr(args, name)
        overrides = FAKE[name] if args.fake else []
        try:
            r, error = CHECKS[name](path, overrides), None
        except Exception as exc:  # noqa: BLE001 - each backend reports its own failure and the rest go on
            r, error = None, f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, (ImportError, OSError)) and "ConfigError" not in type(exc).__name__ \
                    and "Unavailable" not in type(exc).__name__:
                error += "\n" + traceback.format_exc(limit=3)
        failed += error is not None
        reports[name] = {"config": path, "error": error, **({k: v for k, v in r.items() if k != "report"} if r else {})}
        if not args.json:
            print(render(name, path, r, error), flush=True)
    if args.json:
        print(json.dumps(reports, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
