"""AI2-THOR backend: the THOR core (controller.py), RoboTHOR ObjectNav (objectnav.py) and a FAKE
controller for tests (fake.py). Importing this package never imports `ai2thor`."""
