"""Gymnasium environments: tasks over simulator backends. Importing this registers them."""
from embodied.envs import objectnav_registration  # noqa: F401  (registers ObjectNav-PyBullet)
from embodied.envs import articulation_registration  # noqa: F401  (registers Articulation-PyBullet)
from embodied.envs import rearrange_registration  # noqa: F401  (registers Rearrange-PyBullet)
from embodied.envs.ai2thor import registration as ai2thor_registration  # noqa: F401  (ObjectNav-RoboTHOR; imports no ai2thor)
from embodied.envs.ai2thor import rearrange_registration as ithor_rearrange_registration  # noqa: F401  (Rearrange-iTHOR; imports no ai2thor)
from embodied.envs.habitat import registration as habitat_registration  # noqa: F401  (ObjectNav-Habitat; imports no habitat_sim)
