"""Gymnasium environments: tasks over simulator backends. Importing this registers them."""
from embodied.envs import objectnav_registration  # noqa: F401  (registers ObjectNav-PyBullet)
from embodied.envs import articulation_registration  # noqa: F401  (registers Articulation-PyBullet)
from embodied.envs import rearrange_registration  # noqa: F401  (registers Rearrange-PyBullet)
