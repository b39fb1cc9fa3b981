"""The Habitat backend: ObjectNav on habitat-sim (`embodied/ObjectNav-Habitat-v0`).

Optional: habitat-sim comes from conda (`conda install habitat-sim headless -c conda-forge -c
aihabitat`) and renders with EGL on a GPU. Nothing in this package imports it at import time;
building an env with `simulator: habitat_sim` checks for it (and for a GPU) first and says what is
missing. Modules: `objectnav` (the env and its config), `episodes` (habitat-lab's episode files),
`sim` (building the simulator, the checks), `registration` (the registry entry), `check` (one
measured episode on a real simulator), `fake` (a test double of habitat_sim's API -- not Habitat).

This file imports nothing: `registry.load_builtin()` imports the package, and registration stays
explicit (`embodied.envs.habitat.registration`, imported from `embodied/envs/__init__.py`).
"""
