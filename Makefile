# The README's two commands: `make demo` (set up + run the main job) and `make test`.
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/embodied run experiments/cow_pybullet.yaml

test: setup
	.venv/bin/python -m pytest -q tests

bench: setup
	.venv/bin/python benchmarks/env_throughput.py
