# The README's two commands: `make demo` (set up + run the main job) and `make test`.
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test bench mutation mutation-smoke

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/embodied run experiments/cow_pybullet.yaml

test: setup
	.venv/bin/python -m pytest -q tests

bench: setup
	.venv/bin/python benchmarks/env_throughput.py

# Mutation testing (README "Development"): plant small bugs in the modules whose bugs corrupt
# results and print, per module, how many the tests catch. Slow (tens of minutes): not in CI.
mutation: setup
	.venv/bin/python scripts/mutation_report.py run

# The same on metrics.py alone (a minute or two), run by .ci/run so the harness cannot rot: it fails
# when mutmut cannot run or the tests no longer reach the mutated code, never on the score.
mutation-smoke: setup
	.venv/bin/python scripts/mutation_report.py run --module metrics
