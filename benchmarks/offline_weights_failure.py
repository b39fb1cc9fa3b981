"""How long a CLIP localizer takes to fail when its weights are not on disk (target: < 5 s).

    .venv/bin/python benchmarks/offline_weights_failure.py [--repeats 3]

A missing checkpoint must stop a run at once with instructions, never wait on the network. The
test suite checks the behaviour (no connection is attempted: tests/test_localization.py,
test_openai_weights_offline_fail_fast_with_instructions); this measures the time, which a test
must not assert (it depends on the machine and its load). Each repeat runs in a fresh process
with an empty Hugging Face cache and HOME, like a first run on a new machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import time
start = time.perf_counter()
import open_clip, torch
from embodied.perception import localization as loc
from embodied.perception.localization import clip_model
imported = time.perf_counter()
try:
    loc.ClipGradLocalizer(loc.ClipGradConfig(model="ViT-B-32", pretrained="openai"))
except clip_model.WeightsNotFoundError:
    print(imported - start, time.perf_counter() - imported)
else:
    raise SystemExit("the weights were found: nothing to measure")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    imports, times = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, HOME=home, HF_HOME=os.path.join(home, "hf"), HF_HUB_OFFLINE="1")
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                                 check=True)
            imported, failed = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
            imports.append(imported)
            times.append(failed)
    print(f"from the localizer's constructor to WeightsNotFoundError: median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s (target < 5 s); importing torch + open_clip before it: "
          f"median {statistics.median(imports):.2f} s; {os.cpu_count()} CPUs, load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
