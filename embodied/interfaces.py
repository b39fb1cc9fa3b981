"""The vocabulary envs and agents share: action sets and action types, and nothing else.

Why a module of its own: an agent must be able to say "MoveAhead" without importing an env (and
with it a simulator), and an env must not restate what the agents send it. Both import this
module, so the numbers exist once. It imports only the standard library: never `embodied.envs`,
a simulator or a model (tests/test_envs.py checks that).
"""
from __future__ import annotations

from enum import IntEnum
from typing import Any, TypedDict

__all__ = ["DiscreteNavigationAction", "NAVIGATION_ACTION_NAMES", "ArticulationAction",
           "REARRANGE_PICKUPABLE_TYPES", "REARRANGE_OPENABLE_TYPES", "REARRANGE_PHASES",
           "REARRANGE_ACTION_NAMES", "RearrangeAction", "snake_case", "pickup_action", "open_action",
           "ITHOR_PICKUPABLE_TYPES", "ITHOR_OPENABLE_TYPES", "rearrange_action_names",
           "pickup_action_name", "open_action_name", "REARRANGE_FIXED_ACTIONS"]


class DiscreteNavigationAction(IntEnum):
    """ObjectNav's six discrete actions (RoboTHOR's action set), as `Discrete(6)` numbers them.

    An `IntEnum`, so a member is the plain int the env's action space holds (`env.step(STOP)` and
    `env.step(5)` are the same call), while code and logs read as names. The order and values are
    the env's contract with every agent and every recorded run: never reorder them.
    """

    MOVE_AHEAD = 0
    ROTATE_LEFT = 1
    ROTATE_RIGHT = 2
    LOOK_UP = 3
    LOOK_DOWN = 4
    STOP = 5

    @property
    def robothor_name(self) -> str:
        """RoboTHOR's spelling ("MoveAhead", ...), which the env hands out in `info["actions"]`."""
        return "".join(word.capitalize() for word in self.name.split("_"))


#: RoboTHOR's names of the navigation actions, indexed by action number.
NAVIGATION_ACTION_NAMES: tuple[str, ...] = tuple(a.robothor_name for a in DiscreteNavigationAction)


class _ArticulationMove(TypedDict):
    """The keys every SfA interaction has (see ArticulationAction)."""

    point: Any       # (3,) float array, world frame, m
    direction: Any   # (3,) float array
    distance: Any    # (1,) float array, m


class ArticulationAction(_ArticulationMove, total=False):
    """An SfA interaction: grab the object at `point` (world, m) and move it `distance` m along
    `direction`. `distance` 0 is "done"; it may carry the agent's model as `estimate` (JSON) for
    the env to score. `pixel` = (camera, row, col) replaces `point` by what that pixel sees.
    (Two classes because `NotRequired` needs Python 3.11 and the project supports 3.10.)"""

    pixel: Any
    estimate: dict[str, Any]


# ------------------------------------------------------------------------------ rearrangement
#: Object types the rearrangement env's agent can pick up (`pickup_<type>`), in the order that
#: fixes `obs["held"]` (an index into this tuple, -1 for empty hands). The embedded houses' small
#: objects that AI2-THOR marks pickupable (its `OBJECT_TYPES_WITH_PROPERTIES`); GarbageCan,
#: HousePlant and Television are not pickupable there, so not here either.
REARRANGE_PICKUPABLE_TYPES: tuple[str, ...] = (
    "AlarmClock", "Apple", "BaseballBat", "BasketBall", "Bowl", "Laptop", "Mug", "SprayBottle",
    "Vase",
)
#: Object types `open_by_type_<type>` acts on: the articulated parts of the SfA generator's
#: objects, named as AI2-THOR names them (a cabinet's doors are "Cabinet"s, its drawers "Drawer"s).
REARRANGE_OPENABLE_TYPES: tuple[str, ...] = ("Cabinet", "Drawer", "Fridge", "Microwave")
#: The two phases of a rearrangement episode, as `obs["phase"]` numbers them.
REARRANGE_PHASES: tuple[str, ...] = ("walkthrough", "unshuffle")


def snake_case(type_name: str) -> str:
    """"SprayBottle" -> "spray_bottle": how ai2thor-rearrangement spells types in action names
    (`stringcase.snakecase`), so recorded action names read the same as the challenge's."""
    out = []
    for i, ch in enumerate(type_name):
        if ch.isupper() and i > 0:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


#: The AI2-THOR rearrangement challenge's own type lists (its `rearrange/constants.py`:
#: PICKUPABLE_OBJECTS, and OPENABLE_OBJECTS = openable and not pickupable), which
#: `embodied/Rearrange-iTHOR-v0` acts on by default (`env.action_set: challenge`).
ITHOR_PICKUPABLE_TYPES: tuple[str, ...] = (
    "AlarmClock", "AluminumFoil", "Apple", "BaseballBat", "BasketBall", "Book", "Boots", "Bottle",
    "Bowl", "Box", "Bread", "ButterKnife", "CD", "Candle", "CellPhone", "Cloth", "CreditCard", "Cup",
    "DishSponge", "Dumbbell", "Egg", "Footstool", "Fork", "HandTowel", "Kettle", "KeyChain", "Knife",
    "Ladle", "Laptop", "Lettuce", "Mug", "Newspaper", "Pan", "PaperTowelRoll", "Pen", "Pencil",
    "PepperShaker", "Pillow", "Plate", "Plunger", "Pot", "Potato", "RemoteControl", "SaltShaker",
    "ScrubBrush", "SoapBar", "SoapBottle", "Spatula", "Spoon", "SprayBottle", "Statue",
    "TableTopDecor", "TeddyBear", "TennisRacket", "TissueBox", "ToiletPaper", "Tomato", "Towel", "Vase",
    "Watch", "WateringCan", "WineBottle",
)
ITHOR_OPENABLE_TYPES: tuple[str, ...] = (
    "Blinds", "Cabinet", "Drawer", "Fridge", "LaundryHamper", "Microwave", "Safe", "ShowerCurtain",
    "ShowerDoor", "Toilet",
)


def pickup_action_name(type_name: str) -> str:
    """`pickup_<snake type>`: the action that picks up an object of a type."""
    return f"pickup_{snake_case(type_name)}"


def open_action_name(type_name: str) -> str:
    """`open_by_type_<snake type>`: the action that opens (or closes) an object of a type."""
    return f"open_by_type_{snake_case(type_name)}"


#: The actions every rearrangement action set starts with, in this order (the per-type ones follow).
REARRANGE_FIXED_ACTIONS: tuple[str, ...] = (
    "done", "move_ahead", "move_left", "move_right", "move_back", "rotate_right", "rotate_left",
    "look_up", "look_down", "drop_held_object_with_snap")


def rearrange_action_names(pickupable: tuple[str, ...], openable: tuple[str, ...]) -> tuple[str, ...]:
    """The two-phase challenge's discrete actions for these types, in its order
    (`RearrangeBaseExperimentConfig.actions()`, without `stand`/`crouch`, which the agents here do
    not use): navigation, `drop_held_object_with_snap`, then `open_by_type_*` and `pickup_*`
    sorted by name. An env hands its list out in `info["actions"]` (with `pickupable_types`,
    `openable_types`); agents find an action by name there."""
    return (*REARRANGE_FIXED_ACTIONS,
            *sorted(open_action_name(t) for t in openable),
            *sorted(pickup_action_name(t) for t in pickupable))


#: The embedded task's actions (its 9 pickupable and 4 openable types).
REARRANGE_ACTION_NAMES: tuple[str, ...] = rearrange_action_names(REARRANGE_PICKUPABLE_TYPES,
                                                                  REARRANGE_OPENABLE_TYPES)

#: The same actions as an IntEnum (`RearrangeAction.PICKUP_MUG`, `RearrangeAction.DONE`): members
#: are the plain ints of the env's `Discrete` space. Never reorder REARRANGE_ACTION_NAMES.
RearrangeAction = IntEnum("RearrangeAction",
                          {name.upper(): i for i, name in enumerate(REARRANGE_ACTION_NAMES)})


def pickup_action(type_name: str) -> int:
    """The action number of `pickup_<type>` (ValueError for a type that cannot be picked up)."""
    if type_name not in REARRANGE_PICKUPABLE_TYPES:
        raise ValueError(f"{type_name!r} is not pickupable; pickupable: {REARRANGE_PICKUPABLE_TYPES}")
    return REARRANGE_ACTION_NAMES.index(f"pickup_{snake_case(type_name)}")


def open_action(type_name: str) -> int:
    """The action number of `open_by_type_<type>` (ValueError for a type that does not open)."""
    if type_name not in REARRANGE_OPENABLE_TYPES:
        raise ValueError(f"{type_name!r} is not openable; openable: {REARRANGE_OPENABLE_TYPES}")
    return REARRANGE_ACTION_NAMES.index(f"open_by_type_{snake_case(type_name)}")
