"""The main job's CLIP localizer per step, and the whole 50-episode CoW eval, timed on this machine.

    .venv/bin/python benchmarks/cow_clip_speed.py [--config experiments/cow_pybullet.yaml]
                                                 [--frames 60] [--threads 1] [--no-run]

1. **localizer step**: the main job's `agent.localizer` (the shipped checkpoint) built as the agent
   builds it, `detect(obs, goal)` timed with `time.perf_counter` on `--frames` rendered val frames
   (`embodied eval localization`'s frames, at the env's size) after 5 warm-up calls, torch on
   `--threads` threads (a CoW worker uses 1 of the 2 cores). Target: <= 20 ms.
2. **50-episode eval**: `embodied run CONFIG` into a fresh temporary folder (2 workers, as the
   YAML says), wall time of the whole command including start-up. Target: <= 3 min.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def localizer_step(config: str, frames: int, threads: int) -> dict[str, float]:
    import torch

    from embodied.config import load_config
    from embodied.evaluation import localization
    from embodied.perception.localization import make_localizer

    torch.set_num_threads(threads)
    cfg = load_config(config)
    env = cfg.env
    loc_cfg = localization.LocalizationEvalConfig(
        frames=frames, split=env.split if hasattr(env, "split") else "val",
        width=int(getattr(env, "width", 224)), height=int(getattr(env, "height", 224)),
        localizers=[cfg.agent.localizer])
    rendered = localization.render_frames(loc_cfg)
    localizer = make_localizer(cfg.agent.localizer)
    for f in rendered[:5]:
        localizer.reset(f.info)
        localizer.detect(f.obs, f.goal)
    times = []
    for f in rendered:
        localizer.reset(f.info)
        t0 = time.perf_counter()
        localizer.detect(f.obs, f.goal)
        times.append(1000.0 * (time.perf_counter() - t0))
    t = np.array(times)
    return {"frames": len(t), "mean": float(t.mean()), "median": float(np.median(t)),
            "p95": float(np.percentile(t, 95))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/cow_pybullet.yaml")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-run", action="store_true", help="time the localizer only")
    args = parser.parse_args(argv)

    from embodied.config import load_config

    loc = load_config(args.config).agent.localizer
    step = localizer_step(args.config, args.frames, args.threads)
    print(f"localizer {loc.id} ({getattr(loc, 'model', '')}, {getattr(loc, 'pretrained', '')}), "
          f"{args.threads} thread(s), {step['frames']} frames: mean {step['mean']:.1f} ms, "
          f"median {step['median']:.1f} ms, p95 {step['p95']:.1f} ms (target <= 20 ms)")
    if not args.no_run:
        with tempfile.TemporaryDirectory() as tmp:
            exe = Path(sys.executable).with_name("embodied")
            t0 = time.perf_counter()
            proc = subprocess.run([str(exe), "run", args.config, f"run.output={tmp}/run"],
                                  capture_output=True, text=True, env=os.environ.copy())
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
                return proc.returncode
            import json

            metrics = json.loads((Path(tmp) / "run" / "summary.json").read_text())
            print(f"{args.config}: {metrics['episodes']} episodes in {wall:.0f} s wall "
                  f"(target <= 180 s); Success {metrics['metrics']['success']:.3f}, "
                  f"SPL {metrics['metrics']['spl']:.3f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
