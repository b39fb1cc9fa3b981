"""embodied: an embodied-AI research framework (CoW, CSR, SfA on Gymnasium-wrapped simulators).

Importing the package registers its Gymnasium ids cheaply (string entry points, nothing heavy is
imported), so `gymnasium.make("embodied/ObjectNav-PyBullet-v0")` works after `import embodied`.
This is the only place Gym ids are registered: an env's `*_registration.py` module registers it
with the project registry (`embodied.registry`) only, and tests/test_envs.py checks that the two
list the same ids and classes.
"""
import os

import gymnasium as _gym

__version__ = "0.1.0"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time

#: every Gymnasium id of the package -> its entry point (module:class, imported on first make)
_GYM_IDS = {
    "embodied/ObjectNav-PyBullet-v0": "embodied.envs.objectnav:ObjectNavEnv",
    "embodied/Articulation-PyBullet-v0": "embodied.envs.articulation:ArticulationEnv",
    "embodied/Rearrange-PyBullet-v0": "embodied.envs.rearrange:RearrangeEnv",
    "embodied/ObjectNav-RoboTHOR-v0": "embodied.envs.ai2thor.objectnav:RobothorObjectNavEnv",
    "embodied/Rearrange-iTHOR-v0": "embodied.envs.ai2thor.rearrange:IthorRearrangeEnv",
    "embodied/ObjectNav-Habitat-v0": "embodied.envs.habitat.objectnav:HabitatObjectNavEnv",
}
for _id, _entry in _GYM_IDS.items():
    if _id not in _gym.registry:
        _gym.register(id=_id, entry_point=_entry)
