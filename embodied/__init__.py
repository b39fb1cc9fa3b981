"""embodied: an embodied-AI research framework (CoW, CSR, SfA on Gymnasium-wrapped simulators).

Importing the package registers its Gymnasium ids cheaply (string entry points, nothing heavy is
imported), so `gymnasium.make("embodied/ObjectNav-PyBullet-v0")` works after `import embodied`.
"""
import os

import gymnasium as _gym

__version__ = "0.1.0"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at run time

_GYM_IDS = {
    "embodied/ObjectNav-PyBullet-v0": "embodied.envs.objectnav:ObjectNavEnv",
    "embodied/Articulation-PyBullet-v0": "embodied.envs.articulation:ArticulationEnv",
}
for _id, _entry in _GYM_IDS.items():
    if _id not in _gym.registry:
        _gym.register(id=_id, entry_point=_entry)
