"""The framework's rearrangement actions (`embodied.interfaces.REARRANGE_ACTION_NAMES`) as THOR
controller calls, with the challenge's rules for which object an action acts on.

Why a module of its own: the rules are the challenge's (allenai/ai2thor-rearrangement
`rearrange/tasks.py` and `rearrange/environment.py`), they are what makes a result comparable,
and they are pure decisions on an Event's metadata -- testable without a controller. Nothing
here imports `ai2thor`; `execute` takes any object with the Controller's `step` and `last_event`.

* Navigation: `move_*` -> MoveAhead/MoveLeft/MoveRight/MoveBack (the controller's gridSize, 0.25 m),
  `rotate_*` -> RotateLeft/RotateRight (rotateStepDegrees, 90), `look_*` -> LookUp/LookDown (30 deg);
  each with the challenge's physics-determinism keywords.
* `pickup_<type>`: refused with full hands; else the *visible* objects of that type sorted by
  (`distance`, `name`), the first one -> PickupObject. THOR's `visible` already means within
  visibilityDistance (1.5 m) and in view.
* `open_by_type_<type>`, `open_mode: goal` (2021/2022 rule): the first visible openable of that
  type, in metadata order, that is not at its goal openness (|difference| > 0.2) -> CloseObject
  if it is open at all, then OpenObject(openness = its goal openness).
  `open_mode: toggle` (2023 rule): the visible openables of the type ranked by a per-episode
  priority (those whose openness was shuffled first), the first one toggles between its
  unshuffle-start openness and a second value (its goal when that differs, else a random value
  more than 0.2 away), seeded by the episode: `toggle_schedule`.
* `drop_held_object_with_snap`: the held object is put at its goal (walkthrough) pose when the
  agent's current pose is one from which the object, at that goal pose, is interactable -- asked
  of THOR as the challenge's cache asks it (TeleportObject to the goal pose, then
  GetInteractablePoses for the agent's own position, rotation, horizon and stance); then the
  action succeeds if the object's pose equals its goal (energy 0). Otherwise the object goes back
  into the hand and is put on the nearest visible receptacle (PutObject, by (distance, objectId)),
  else dropped ahead (DropHeldObjectAhead); the action then returns False.
* `done`: no THOR call. Interactions in the walkthrough return False without a THOR call (the
  walkthrough's action space has none).
"""
from __future__ import annotations

import hashlib
import random
from typing import Any, Callable, Mapping, Sequence

from embodied.interfaces import (ITHOR_OPENABLE_TYPES, ITHOR_PICKUPABLE_TYPES, REARRANGE_OPENABLE_TYPES,
                                 REARRANGE_PICKUPABLE_TYPES, open_action_name, pickup_action_name)

__all__ = ["NAVIGATION", "PICKUP", "OPEN", "PHYSICS_KWARGS", "OPENNESS_THRESHOLD",
           "pickup_target", "open_target", "toggle_schedule", "execute"]

#: framework action name -> THOR action
NAVIGATION = {"move_ahead": "MoveAhead", "move_left": "MoveLeft", "move_right": "MoveRight",
              "move_back": "MoveBack", "rotate_left": "RotateLeft", "rotate_right": "RotateRight",
              "look_up": "LookUp", "look_down": "LookDown"}
#: every pickup / open action of either action set (the challenge's types include the embedded
#: task's); the env accepts only those of its own list
PICKUP = {pickup_action_name(t): t for t in (*ITHOR_PICKUPABLE_TYPES, *REARRANGE_PICKUPABLE_TYPES)}
OPEN = {open_action_name(t): t for t in (*ITHOR_OPENABLE_TYPES, *REARRANGE_OPENABLE_TYPES)}
#: The challenge's `physics_step_kwargs` (enhanced physics determinism), sent with every action
#: that moves something.
PHYSICS_KWARGS = {"actionSimulationSeconds": 0.26, "fixedDeltaTime": 0.02}
OPENNESS_THRESHOLD = 0.2


def pickup_target(objects: Sequence[Mapping[str, Any]], type_name: str) -> Mapping[str, Any] | None:
    """The object `pickup_<type>` takes: the nearest visible one of the type, ties by name."""
    found = [o for o in objects if o.get("visible") and o.get("objectType") == type_name]
    return min(found, key=lambda o: (float(o["distance"]), str(o["name"])), default=None)


def open_target(objects: Sequence[Mapping[str, Any]], type_name: str, mode: str,
                goal_openness: Mapping[str, float], priority: Mapping[str, int] | None = None
                ) -> Mapping[str, Any] | None:
    """The object `open_by_type_<type>` acts on (module docstring): `goal` mode, the first visible
    openable of the type (metadata order) more than 0.2 off its goal openness; `toggle` mode, the
    visible openable of the type with the smallest priority."""
    found = [o for o in objects if o.get("visible") and o.get("objectType") == type_name
             and o.get("openable")]
    if mode == "goal":
        for o in found:
            goal = goal_openness.get(str(o["name"]))
            if goal is not None and abs(float(o["openness"]) - goal) > OPENNESS_THRESHOLD:
                return o
        return None
    ranks = priority or {}
    found = [o for o in found if str(o["name"]) in ranks]
    return min(found, key=lambda o: ranks[str(o["name"])], default=None)


def toggle_schedule(unshuffle_openness: Mapping[str, float], goal_openness: Mapping[str, float],
                    seed_text: str) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The 2023 rule's per-object values and priorities: each openable toggles between a second
    value and its unshuffle-start openness (`values[name]` = [next, following], rotated by each
    use); the second value is the goal when the openness was shuffled, else drawn uniformly from
    [0, 1] minus the 0.2 band around the start. Priorities: the shuffled ones first, then the
    others, each group in a random order. Seeded by `seed_text` (the episode id) as the challenge
    seeds by a hash of its task spec, so an episode always gets the same schedule."""
    rng = random.Random(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big"))
    values: dict[str, list[float]] = {}
    changed, others = [], []
    for name in sorted(unshuffle_openness):
        start = float(unshuffle_openness[name])
        goal = float(goal_openness.get(name, start))
        if goal == start:
            t = OPENNESS_THRESHOLD
            a, b, c, d = 0.0, max(start - t, 0.0), min(start + t, 1.0), 1.0
            below = b - a
            second = rng.uniform(a, b) if rng.random() < below / (below + (d - c)) \
                else rng.uniform(c, d)
            others.append(name)
        else:
            second = goal
            changed.append(name)
        values[name] = [second, start]
    rng.shuffle(changed)
    rng.shuffle(others)
    return values, {n: i for i, n in enumerate(changed + others)}


def _objects(controller: Any) -> list[Mapping[str, Any]]:
    return list(controller.last_event.metadata["objects"])


def _ok(controller: Any) -> bool:
    return bool(controller.last_event.metadata["lastActionSuccess"])


def _held(controller: Any) -> Mapping[str, Any] | None:
    inventory = controller.last_event.metadata.get("inventoryObjects") or []
    if not inventory:
        return None
    held_id = inventory[0]["objectId"]
    return next((o for o in _objects(controller) if o["objectId"] == held_id), None)


def _pickup(controller: Any, type_name: str) -> bool:
    if controller.last_event.metadata.get("inventoryObjects"):
        return False
    target = pickup_target(_objects(controller), type_name)
    if target is None:
        return False
    controller.step(action="PickupObject", objectId=target["objectId"], **PHYSICS_KWARGS)
    return _ok(controller) and _held(controller) is not None


def _open(controller: Any, type_name: str, mode: str, goal_openness: Mapping[str, float],
          toggles: dict[str, list[float]], priority: Mapping[str, int]) -> bool:
    target = open_target(_objects(controller), type_name, mode, goal_openness, priority)
    if target is None:
        return False
    name = str(target["name"])
    if mode == "goal":
        value = float(goal_openness[name])
    else:
        value = toggles[name][0]
        toggles[name].reverse()           # the next use toggles back (even if this one fails)
    if float(target["openness"]) > 0.0:
        controller.step(action="CloseObject", objectId=target["objectId"], **PHYSICS_KWARGS)
    controller.step(action="OpenObject", objectId=target["objectId"], openness=value,
                    **PHYSICS_KWARGS)
    return _ok(controller)


def _snap(controller: Any, goal_pose: Callable[[str], Mapping[str, Any] | None],
          at_goal: Callable[[Mapping[str, Any]], bool]) -> bool:
    held = _held(controller)
    if held is None:
        return False
    before = controller.last_event
    object_id, name = held["objectId"], str(held["name"])
    goal = goal_pose(name)
    agent = before.metadata["agent"]
    if goal is not None:
        controller.step(action="MakeObjectBreakable", objectId=object_id)
        controller.step(action="TeleportObject", objectId=object_id,
                        position=dict(goal["position"]), rotation=dict(goal["rotation"]),
                        forceAction=True, allowTeleportOutOfHand=True, forceKinematic=True,
                        makeUnbreakable=True)
        if _ok(controller):
            controller.step(action="GetInteractablePoses", objectId=object_id,
                            positions=[dict(agent["position"])],
                            rotations=[round(float(agent["rotation"]["y"]) / 90.0) * 90 % 360],
                            horizons=[round(float(agent["cameraHorizon"]))],
                            standings=[bool(agent.get("isStanding", True))])
            poses = controller.last_event.metadata.get("actionReturn") or []
            if _ok(controller) and len(poses) > 0:
                placed = next((o for o in _objects(controller) if o["objectId"] == object_id), None)
                return placed is not None and at_goal(placed)
            # not from here: back into the hand, then put down as the challenge does
            controller.step(action="PickupObject", objectId=object_id, forceAction=True)
    receptacles = sorted((o for o in before.metadata["objects"] if o.get("visible")
                          and o.get("receptacle") and o["objectId"] != object_id),
                         key=lambda o: (float(o["distance"]), str(o["objectId"])))
    for r in receptacles:
        controller.step(action="PutObject", objectId=r["objectId"], **PHYSICS_KWARGS)
        if _ok(controller):
            return False
    controller.step(action="DropHeldObjectAhead", forceAction=True, autoSimulation=False,
                    **{**PHYSICS_KWARGS, "actionSimulationSeconds": 1.5})
    return False


def execute(controller: Any, name: str, phase: int, *, mode: str = "goal",
            goal_openness: Mapping[str, float] | None = None,
            toggles: dict[str, list[float]] | None = None,
            priority: Mapping[str, int] | None = None,
            goal_pose: Callable[[str], Mapping[str, Any] | None] = lambda _: None,
            at_goal: Callable[[Mapping[str, Any]], bool] = lambda _: False) -> bool:
    """Carry out framework action `name` in `phase` (0 walkthrough, 1 unshuffle) on the
    controller; returns the action's success (module docstring). `goal_openness` (name ->
    openness), `toggles`/`priority` (`toggle_schedule`), `goal_pose(name)` (the walkthrough
    metadata pose: position, rotation) and `at_goal(object metadata)` come from the env."""
    if name == "done":
        return True
    if name in NAVIGATION:
        controller.step(action=NAVIGATION[name], **PHYSICS_KWARGS)
        return _ok(controller)
    if phase == 0:
        return False
    if name in PICKUP:
        return _pickup(controller, PICKUP[name])
    if name in OPEN:
        return _open(controller, OPEN[name], mode, goal_openness or {}, toggles or {},
                     priority or {})
    if name == "drop_held_object_with_snap":
        return _snap(controller, goal_pose, at_goal)
    raise ValueError(f"unknown rearrangement action {name!r}")
