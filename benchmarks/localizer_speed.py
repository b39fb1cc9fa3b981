"""Milliseconds per call of each CLIP localizer on CPU, and the peak RSS with ViT-B-32 loaded.

    .venv/bin/python benchmarks/localizer_speed.py [--calls 10] [--threads 1] [--models tiny-vit ViT-B-32]

Weights are random (`pretrained: null`): a call's cost is the architecture's, not the weights'.
Each row: build time (model + first text encoding excluded), the first call (encodes and caches the
goal's prompts) and the median of `--calls` warm calls on a 224x224 frame (CoW's default frame).
Peak RSS is measured in a fresh process that imports torch + open_clip, builds the three
localizers on one shared ViT-B-32 and runs each once.

Threads matter more than anything else here: with 2 cores and another busy process, 2 torch
threads run ~10x slower than 1 (OpenMP threads wait on each other). The load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LOCALIZERS = (("clip_grad", {}), ("clip_patch", {"grid": 3}), ("clip_patch", {"grid": 4}),
              ("clip_ref", {"grid": 3}))


def frame(size: int = 224) -> np.ndarray:
    """A fixed, structured frame (the content does not change the cost)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def time_localizer(ident: str, extra: dict, model: str, calls: int, size: int) -> dict:
    from embodied import registry
    from embodied.config import LocalizerConfig, validate_section
    from embodied.perception.localization import make_localizer

    registry.load_builtin()
    cfg = validate_section(LocalizerConfig, {"id": ident, "model": model, "pretrained": None, **extra},
                           "localizer")
    t0 = time.perf_counter()
    localizer = make_localizer(cfg)
    build = time.perf_counter() - t0
    obs = {"rgb": frame(size)}
    t0 = time.perf_counter()
    localizer.relevance(obs, "AlarmClock")
    first = time.perf_counter() - t0
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        localizer.relevance(obs, "AlarmClock")
        times.append(time.perf_counter() - t0)
    name = ident + "".join(f" {k}={v}" for k, v in extra.items())
    return {"localizer": name, "model": model, "build_s": build, "first_ms": first * 1e3,
            "median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3}


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a
    child started by a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_child(model: str, size: int) -> None:
    """Runs in a fresh process: peak RSS after importing, loading `model` and one call of each."""
    import open_clip  # noqa: F401
    import torch  # noqa: F401

    after_import = peak_rss_mb()
    from embodied.perception.localization import (ClipGradConfig, ClipGradLocalizer, ClipPatchConfig,
                                                  ClipPatchLocalizer, ClipRefConfig, ClipRefLocalizer)

    obs = {"rgb": frame(size)}
    grad = ClipGradLocalizer(ClipGradConfig(model=model, pretrained=None))
    loaded = peak_rss_mb()
    for localizer in (grad, ClipPatchLocalizer(ClipPatchConfig(model=model, pretrained=None, grid=4)),
                      ClipRefLocalizer(ClipRefConfig(model=model, pretrained=None))):
        localizer.relevance(obs, "AlarmClock")
    peak = peak_rss_mb()
    print(json.dumps({"after_import_mb": after_import, "loaded_mb": loaded, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--models", nargs="+", default=["tiny-vit", "ViT-B-32"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rss-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import open_clip  # noqa: F401  (imported here so that "build s" is the model's time, not the imports')
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.rss_child:
        peak_rss_child(args.rss_child, args.size)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, frame {args.size}x{args.size}")
    print(f"{'model':>9} {'localizer':<18} {'build s':>8} {'first ms':>9} {'median ms':>10} {'min ms':>8}")
    for model in args.models:
        for ident, extra in LOCALIZERS:
            row = time_localizer(ident, extra, model, args.calls, args.size)
            print(f"{model:>9} {row['localizer']:<18} {row['build_s']:>8.2f} {row['first_ms']:>9.1f} "
                  f"{row['median_ms']:>10.1f} {row['min_ms']:>8.1f}")
    cmd = [sys.executable, __file__, "--rss-child", "ViT-B-32", "--size", str(args.size)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rss = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"peak RSS (fresh process): torch+open_clip imported {rss['after_import_mb']:.0f} MB, "
          f"+ ViT-B-32 loaded {rss['loaded_mb']:.0f} MB, after one call of each localizer {rss['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
