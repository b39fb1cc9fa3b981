"""A FAKE iTHOR controller for the rearrangement adapter's tests: no Unity, no GPU, no download.

THIS IS A FAKE. It stands in for `ai2thor.controller.Controller` so that the rearrangement adapter
(`embodied.envs.ai2thor.rearrange`) can be driven end to end on a machine without the THOR player.
What it returns is real: every `step`/`reset` answers a genuine `ai2thor.server.Event` built from
metadata of the shape THOR 5 sends (`objects` with `objectOrientedBoundingBox`, `openness`,
`visible`, `distance`, ...; `agent`, `inventoryObjects`, `colors`, `actionReturn`, ...) and
frames handed to the Event's own decoders (`add_image`, `add_image_depth`, `add_image_ids`), so
`event.frame`, `event.depth_frame`, `event.instance_masks` and `event.instance_detections2D` are
the package's own objects. What it simulates is small and not THOR:

* one scene, `FakeRearrangeRoom` (5 m x 5 m, y up, floor at y = 0): a dining table, a side table
  and a coffee table (receptacles), a Cabinet and a Fridge (openable; their door is a panel that
  swings 90 deg * openness about its hinge, and blocks the agent when it swings into it), and
  pickupables of the framework's types (Apple, two Mugs, Bowl, Vase, AlarmClock) plus a Pen (a
  challenge type the framework's 23 actions cannot pick up);
* boxes only, drawn by a ray caster (flat colours, z-depth in metres, one instance colour per
  objectId); no physics: objects stay where they are put, nothing falls or breaks;
* the agent: a 0.2 m-radius disc on the 0.25 m grid (snapToGrid), camera 0.675 m above the
  agent's position (THOR's standing iTHOR agent), rotations of rotateStepDegrees, horizon in
  [-30, 60] deg; a move succeeds when the target disc touches no furniture, object or open door;
* `visible`: at least one pixel in the last frame and the object's box within visibilityDistance
  (1.5 m) of the camera in the floor plane; `distance`: agent to object position, 3-D;
* a held object is carried 0.5 m ahead of the agent, 0.3 m below the camera, and not drawn;
* `GetInteractablePoses`: the poses (of those asked for) from which the object, where it is
  now, is visible -- what THOR answers, by this fake's visibility;
* `PutObject` puts the held object on the nearest free spot of the receptacle's top; `DropHandObject`
  and `DropHeldObjectAhead` put it on the floor 0.4-0.8 m ahead.

Actions it knows: TeleportFull, Teleport, MoveAhead/Back/Left/Right, RotateLeft/Right, LookUp/Down,
PickupObject, OpenObject, CloseObject, SetObjectPoses, TeleportObject, GetInteractablePoses,
GetReachablePositions, PutObject, DropHandObject, DropHeldObjectAhead, and the no-ops THOR users
send (PausePhysicsAutoSim, MakeObjectBreakable, Done, Pass). Anything else fails the step with an
errorMessage, as THOR does for an unknown action.
"""
from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FAKE_SCENE", "FakeRearrangeController", "fake_tasks", "AGENT_Y", "CAMERA_OFFSET"]

IS_FAKE = True
FAKE_SCENE = "FakeRearrangeRoom"
ROOM = (0.0, 0.0, 5.0, 5.0)          # x0, z0, x1, z1
WALL_HEIGHT = 2.6
AGENT_Y = 0.9009992                  # THOR's standing agent's position y above a floor at 0
CAMERA_OFFSET = 0.675                # camera above the agent's position (standing iTHOR agent)
AGENT_RADIUS = 0.2
AGENT_HEIGHT = 1.8
HORIZON_RANGE = (-30.0, 60.0)
NEAR, FAR = 0.1, 20.0
HAND_AHEAD, HAND_BELOW = 0.5, 0.3


@dataclass
class _Obj:
    """One simulated object (THOR frame: `position` is the bottom centre of its box)."""

    name: str
    type: str
    size: tuple[float, float, float]          # x, y, z extent in its own frame
    position: list[float]
    yaw: float = 0.0                          # rotation.y, degrees
    pickupable: bool = False
    openable: bool = False
    receptacle: bool = False
    moveable: bool = False
    openness: float = 0.0
    door: dict[str, float] | None = None      # hinge x, z, width, height, sign
    held: bool = False
    rotation_xz: tuple[float, float] = (0.0, 0.0)   # rotation.x, rotation.z, kept as given
    object_id: str = ""
    color: tuple[int, int, int] = (128, 128, 128)
    id_color: tuple[int, int, int] = (0, 0, 0)


def _furniture() -> list[_Obj]:
    return [
        _Obj("Floor_fake0001", "Floor", (5.0, 0.05, 5.0), [2.5, -0.05, 2.5], receptacle=True),
        _Obj("DiningTable_fake0002", "DiningTable", (1.0, 0.75, 0.8), [1.1, 0.0, 4.0],
             receptacle=True),
        _Obj("SideTable_fake0003", "SideTable", (0.7, 0.6, 0.6), [4.05, 0.0, 4.1], receptacle=True),
        _Obj("CoffeeTable_fake0004", "CoffeeTable", (0.9, 0.45, 0.5), [2.45, 0.0, 0.75],
             receptacle=True),
        _Obj("Cabinet_fake0005", "Cabinet", (0.5, 0.9, 0.8), [4.75, 0.0, 1.9], openable=True,
             receptacle=True, door={"x": 4.5, "z": 1.5, "width": 0.8, "height": 0.88,
                                    "sign": -1.0}),
        _Obj("Fridge_fake0006", "Fridge", (0.7, 1.8, 0.7), [0.35, 0.0, 1.35], openable=True,
             receptacle=True, door={"x": 0.7, "z": 1.0, "width": 0.7, "height": 1.78,
                                    "sign": 1.0}),
    ]


def _pickupables() -> list[_Obj]:
    def p(name: str, kind: str, size: tuple[float, float, float], pos: list[float]) -> _Obj:
        return _Obj(name, kind, size, pos, pickupable=True, moveable=True,
                    receptacle=kind in ("Bowl", "Mug"))
    return [
        p("Apple_fake0101", "Apple", (0.08, 0.08, 0.08), [0.85, 0.75, 3.85]),
        p("Mug_fake0102", "Mug", (0.1, 0.1, 0.1), [1.35, 0.75, 4.15]),
        p("Mug_fake0103", "Mug", (0.1, 0.1, 0.1), [3.95, 0.6, 4.0]),
        p("Bowl_fake0104", "Bowl", (0.18, 0.07, 0.18), [2.2, 0.45, 0.75]),
        p("Vase_fake0105", "Vase", (0.12, 0.25, 0.12), [2.75, 0.45, 0.7]),
        p("AlarmClock_fake0106", "AlarmClock", (0.14, 0.1, 0.07), [4.2, 0.6, 4.2]),
        p("Pen_fake0107", "Pen", (0.14, 0.02, 0.02), [1.1, 0.75, 4.2]),
    ]


def _color(text: str, salt: str) -> tuple[int, int, int]:
    d = hashlib.sha256((salt + text).encode()).digest()
    return int(d[0]), int(d[1]), int(d[2])


def _object_id(o: _Obj) -> str:
    x, y, z = o.position
    return f"{o.type}|{x:+06.2f}|{y:+06.2f}|{z:+06.2f}"


def _rot_y(deg: float) -> np.ndarray:
    """Unity's rotation about +y by `deg` (maps +z towards +x), as a matrix on column vectors."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass
class _Box:
    key: int                       # index into the instance table (-1: wall / ceiling)
    centre: np.ndarray
    half: np.ndarray
    yaw: float


def fake_tasks() -> dict[str, list[dict[str, Any]]]:
    """Built-in tasks in the challenge's format for FakeRearrangeRoom (the env's `split: fake`)."""
    goal = {o.name: o for o in _pickupables()}

    def pose(name: str, pos: list[float] | None = None, yaw: float | None = None) -> dict[str, Any]:
        o = goal[name]
        x, y, z = pos if pos is not None else o.position
        return {"name": name, "objectName": name, "position": {"x": x, "y": y, "z": z},
                "rotation": {"x": 0.0, "y": o.yaw if yaw is None else yaw, "z": 0.0}}

    def task(moves: dict[str, tuple[list[float], float]], opened: list[dict[str, Any]],
             start: tuple[float, float], rotation: float) -> dict[str, Any]:
        return {
            "agent_position": {"x": start[0], "y": AGENT_Y, "z": start[1]},
            "agent_rotation": rotation,
            "target_poses": [pose(n) for n in goal],
            "starting_poses": [pose(n, *moves[n]) if n in moves else pose(n) for n in goal],
            "openable_data": opened,
            "object_rearrangement_count": len(moves) + len(opened),
            "position_diff_count": len(moves), "open_diff_count": len(opened),
        }

    cabinet = {"name": "Cabinet_fake0005", "objectName": "Cabinet_fake0005",
               "objectId": "Cabinet|+04.75|+00.00|+01.90", "start_openness": 0.8,
               "target_openness": 0.0}
    return {FAKE_SCENE: [
        task({"Apple_fake0101": ([2.6, 0.45, 0.85], 30.0)}, [cabinet], (2.5, 2.5), 0.0),
        task({"Mug_fake0102": ([4.2, 0.6, 3.95], 90.0), "Bowl_fake0104": ([0.8, 0.75, 4.2], 0.0)},
             [], (2.5, 2.5), 90.0),
        task({"Vase_fake0105": ([3.8, 0.6, 4.25], 0.0), "Pen_fake0107": ([2.3, 0.45, 0.6], 0.0)},
             [], (2.25, 2.75), 180.0),
    ]}


class FakeRearrangeController:
    """THIS IS A FAKE `ai2thor.controller.Controller` for FakeRearrangeRoom (module docstring).

    Built with the Controller's keyword names (width, height, fieldOfView, gridSize,
    rotateStepDegrees, visibilityDistance, scene, ...); unknown keywords are accepted and kept in
    `initialization_parameters`, as THOR passes them to Initialize. `steps` counts the actions
    taken, `actions` records them (name and keywords), so tests can see what the adapter sent.
    """

    is_fake = True

    def __init__(self, width: int = 300, height: int = 300, fieldOfView: float = 90.0,
                 gridSize: float = 0.25, rotateStepDegrees: float = 90.0,
                 visibilityDistance: float = 1.5, scene: str = FAKE_SCENE, **kwargs: Any) -> None:
        self.width, self.height = int(width), int(height)
        self.field_of_view = float(fieldOfView)
        self.grid_size = float(gridSize)
        self.rotate_step = float(rotateStepDegrees)
        self.visibility_distance = float(visibilityDistance)
        self.initialization_parameters = dict(kwargs)
        self.steps = 0
        self.actions: list[tuple[str, dict[str, Any]]] = []
        self.stopped = False
        self.last_event: Any = None
        self.reset(scene)

    # ------------------------------------------------------------------------------ lifetime
    def reset(self, scene: str | None = None, **kwargs: Any) -> Any:
        scene = scene or FAKE_SCENE
        self.scene = scene
        if scene.replace("_physics", "") != FAKE_SCENE:
            raise ValueError(f"the fake controller has only {FAKE_SCENE!r}, not {scene!r} "
                             "(this is a fake: it cannot load iTHOR's scenes)")
        self.objects = _furniture() + _pickupables()
        for o in self.objects:
            o.object_id = _object_id(o)
            o.color = _color(o.name, "rgb")
            o.id_color = _color(o.object_id, "id")
        self.agent = {"x": 2.5, "y": AGENT_Y, "z": 2.5, "rotation": 0.0, "horizon": 0.0}
        return self._emit("Initialize", True, "", None)

    def stop(self) -> None:
        self.stopped = True

    # ------------------------------------------------------------------------------ stepping
    def step(self, action: Any = None, **kwargs: Any) -> Any:
        if isinstance(action, dict):
            kwargs = {**action, **kwargs}
            action = kwargs.pop("action")
        if action is None:
            action = kwargs.pop("action")
        self.steps += 1
        self.actions.append((str(action), copy.deepcopy(kwargs)))
        handler = getattr(self, f"_a_{action}", None)
        if handler is None:
            return self._emit(action, False, f"Invalid action: {action} (the fake knows few)", None)
        ok, error, ret = handler(**kwargs)
        return self._emit(action, ok, error, ret)

    # agent ---------------------------------------------------------------------------------
    def _a_TeleportFull(self, x: float, y: float, z: float, rotation: Any = None,
                        horizon: float = 0.0, standing: bool = True, forceAction: bool = False,
                        **_: Any) -> tuple[bool, str, Any]:
        rot = rotation["y"] if isinstance(rotation, dict) else float(rotation or 0.0)
        if not forceAction and self._agent_blocked(x, z):
            return False, "the agent would collide there", None
        self.agent.update(x=float(x), y=float(y), z=float(z), rotation=float(rot) % 360.0,
                          horizon=float(horizon))
        return True, "", None

    _a_Teleport = _a_TeleportFull

    def _move(self, offset: float, moveMagnitude: float | None = None, **_: Any
              ) -> tuple[bool, str, Any]:
        step = self.grid_size if moveMagnitude is None else float(moveMagnitude)
        a = math.radians(self.agent["rotation"] + offset)
        x = round(self.agent["x"] + step * math.sin(a), 4)
        z = round(self.agent["z"] + step * math.cos(a), 4)
        if self._agent_blocked(x, z):
            return False, "the agent would collide", None
        self.agent.update(x=x, z=z)
        return True, "", None

    def _a_MoveAhead(self, **kw: Any) -> tuple[bool, str, Any]:
        return self._move(0.0, **kw)

    def _a_MoveRight(self, **kw: Any) -> tuple[bool, str, Any]:
        return self._move(90.0, **kw)

    def _a_MoveBack(self, **kw: Any) -> tuple[bool, str, Any]:
        return self._move(180.0, **kw)

    def _a_MoveLeft(self, **kw: Any) -> tuple[bool, str, Any]:
        return self._move(270.0, **kw)

    def _a_RotateRight(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        d = self.rotate_step if degrees is None else float(degrees)
        self.agent["rotation"] = (self.agent["rotation"] + d) % 360.0
        return True, "", None

    def _a_RotateLeft(self, degrees: float | None = None, **_: Any) -> tuple[bool, str, Any]:
        d = self.rotate_step if degrees is None else float(degrees)
        self.agent["rotation"] = (self.agent["rotation"] - d) % 360.0
        return True, "", None

    def _look(self, delta: float) -> tuple[bool, str, Any]:
        h = self.agent["horizon"] + delta
        if not HORIZON_RANGE[0] - 1e-6 <= h <= HORIZON_RANGE[1] + 1e-6:
            return False, "horizon out of range", None
        self.agent["horizon"] = h
        return True, "", None

    def _a_LookUp(self, degrees: float = 30.0, **_: Any) -> tuple[bool, str, Any]:
        return self._look(-float(degrees))

    def _a_LookDown(self, degrees: float = 30.0, **_: Any) -> tuple[bool, str, Any]:
        return self._look(float(degrees))

    def _a_GetReachablePositions(self, **_: Any) -> tuple[bool, str, Any]:
        return True, "", [{"x": x, "y": self.agent["y"], "z": z} for x, z in self._reachable()]

    # objects -------------------------------------------------------------------------------
    def _find(self, object_id: str | None = None, name: str | None = None) -> _Obj | None:
        for o in self.objects:
            if (object_id is not None and o.object_id == object_id) or \
                    (name is not None and o.name == name):
                return o
        return None

    def _held(self) -> _Obj | None:
        return next((o for o in self.objects if o.held), None)

    def _a_PickupObject(self, objectId: str, forceAction: bool = False, **_: Any
                        ) -> tuple[bool, str, Any]:
        o = self._find(objectId)
        if o is None or not o.pickupable:
            return False, f"{objectId} is not a pickupable object", None
        if self._held() is not None:
            return False, "the agent's hand is full", None
        if not forceAction and not self._visible.get(o.object_id, False):
            return False, f"{objectId} is not interactable", None
        o.held = True
        return True, "", None

    def _set_openness(self, o: _Obj, value: float) -> tuple[bool, str, Any]:
        before = o.openness
        o.openness = float(min(max(value, 0.0), 1.0))
        if self._agent_blocked(self.agent["x"], self.agent["z"]):
            o.openness = before
            return False, "the door would hit the agent", None
        return True, "", None

    def _a_OpenObject(self, objectId: str, openness: float = 1.0, forceAction: bool = False,
                      **_: Any) -> tuple[bool, str, Any]:
        o = self._find(objectId)
        if o is None or not o.openable:
            return False, f"{objectId} is not openable", None
        if not forceAction and not self._visible.get(o.object_id, False):
            return False, f"{objectId} is not interactable", None
        return self._set_openness(o, openness)

    def _a_CloseObject(self, objectId: str, forceAction: bool = False, **_: Any
                       ) -> tuple[bool, str, Any]:
        return self._a_OpenObject(objectId, 0.0, forceAction)

    def _a_SetObjectPoses(self, objectPoses: list[dict[str, Any]], **_: Any
                          ) -> tuple[bool, str, Any]:
        for pose in objectPoses:
            o = self._find(name=pose.get("objectName", pose.get("name")))
            if o is None:
                return False, f"no object named {pose.get('objectName')!r}", None
            if not o.pickupable:
                continue
            self._place(o, pose["position"], pose.get("rotation"))
        return True, "", None

    def _place(self, o: _Obj, position: dict[str, float], rotation: Any) -> None:
        o.held = False
        o.position = [float(position["x"]), float(position["y"]), float(position["z"])]
        if isinstance(rotation, dict):
            o.yaw = float(rotation.get("y", 0.0)) % 360.0
            o.rotation_xz = (float(rotation.get("x", 0.0)), float(rotation.get("z", 0.0)))

    def _a_TeleportObject(self, objectId: str, position: dict[str, float] | None = None,
                          rotation: Any = None, positions: list[dict[str, float]] | None = None,
                          allowTeleportOutOfHand: bool = False, forceAction: bool = False,
                          **kw: Any) -> tuple[bool, str, Any]:
        o = self._find(objectId)
        if o is None or not o.moveable:
            return False, f"{objectId} cannot be teleported", None
        if o.held and not allowTeleportOutOfHand:
            return False, f"{objectId} is in the agent's hand", None
        if position is None and positions:
            position = positions[0]
        if position is None and "x" in kw:
            position = {"x": kw["x"], "y": kw["y"], "z": kw["z"]}
        if position is None:
            return False, "no position given", None
        self._place(o, position, rotation)
        return True, "", None

    def _a_GetInteractablePoses(self, objectId: str, positions: list[dict[str, float]] | None = None,
                                rotations: list[float] | None = None,
                                horizons: list[float] | None = None,
                                standings: list[bool] | None = None, **_: Any
                                ) -> tuple[bool, str, Any]:
        o = self._find(objectId)
        if o is None:
            return False, f"no object {objectId}", None
        if positions is None:
            positions = [{"x": x, "y": self.agent["y"], "z": z} for x, z in self._reachable()]
        out = []
        for pos in positions:
            for rot in (rotations if rotations is not None else (0.0, 90.0, 180.0, 270.0)):
                for hor in (horizons if horizons is not None else (-30.0, 0.0, 30.0, 60.0)):
                    for standing in (standings if standings is not None else (True,)):
                        if not standing:
                            continue
                        view = {"x": pos["x"], "y": pos.get("y", self.agent["y"]), "z": pos["z"],
                                "rotation": float(rot), "horizon": float(hor)}
                        was = o.held
                        o.held = False        # THOR answers for the object where it is put
                        seen = self._visible_from(o, view)
                        o.held = was
                        if seen:
                            out.append({"x": view["x"], "y": view["y"], "z": view["z"],
                                        "rotation": view["rotation"], "horizon": view["horizon"],
                                        "standing": True})
        return True, "", out

    def _a_PutObject(self, objectId: str, forceAction: bool = False, **_: Any
                     ) -> tuple[bool, str, Any]:
        held = self._held()
        r = self._find(objectId)
        if held is None:
            return False, "nothing in hand", None
        if r is None or not r.receptacle or r.type == "Floor":
            return False, f"{objectId} is not a receptacle", None
        if not forceAction and not self._visible.get(r.object_id, False):
            return False, f"{objectId} is not interactable", None
        top = r.position[1] + r.size[1]
        hx, hz = r.size[0] / 2 - held.size[0] / 2 - 0.01, r.size[2] / 2 - held.size[2] / 2 - 0.01
        if hx < 0 or hz < 0:
            return False, "it does not fit", None
        spots = sorted(((dx, dz) for dx in np.linspace(-hx, hx, 9) for dz in np.linspace(-hz, hz, 9)),
                       key=lambda s: (abs(s[0]) + abs(s[1]), s))
        for dx, dz in spots:
            pos = {"x": round(r.position[0] + dx, 4), "y": top, "z": round(r.position[2] + dz, 4)}
            if self._spot_free(held, pos):
                self._place(held, pos, {"x": 0.0, "y": held.yaw, "z": 0.0})
                return True, "", None
        return False, "no free spot on the receptacle", None

    def _a_DropHandObject(self, **_: Any) -> tuple[bool, str, Any]:
        held = self._held()
        if held is None:
            return False, "nothing in hand", None
        a = math.radians(self.agent["rotation"])
        for ahead in (0.4, 0.6, 0.8):
            pos = {"x": round(self.agent["x"] + ahead * math.sin(a), 4), "y": 0.0,
                   "z": round(self.agent["z"] + ahead * math.cos(a), 4)}
            if self._spot_free(held, pos) and self._inside(pos["x"], pos["z"], 0.1):
                self._place(held, pos, {"x": 0.0, "y": held.yaw, "z": 0.0})
                return True, "", None
        return False, "no room to drop it", None

    _a_DropHeldObjectAhead = _a_DropHandObject

    def _noop(self, **_: Any) -> tuple[bool, str, Any]:
        return True, "", None

    _a_PausePhysicsAutoSim = _a_MakeObjectBreakable = _a_Done = _a_Pass = _noop

    # ------------------------------------------------------------------------------ geometry
    def _hand_position(self) -> list[float]:
        a = math.radians(self.agent["rotation"])
        return [self.agent["x"] + HAND_AHEAD * math.sin(a),
                self.agent["y"] + CAMERA_OFFSET - HAND_BELOW,
                self.agent["z"] + HAND_AHEAD * math.cos(a)]

    def _where(self, o: _Obj) -> list[float]:
        return self._hand_position() if o.held else o.position

    def _boxes(self, o: _Obj) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """(centre, half extents, yaw) of the object's boxes (the body, plus an open door)."""
        x, y, z = self._where(o)
        half = np.array(o.size) / 2.0
        out = [(np.array([x, y + half[1], z]), half, o.yaw)]
        if o.door is not None and o.openness > 0.0:
            d = o.door
            a = math.radians(90.0 * o.openness)
            sx = d["sign"] * math.sin(a)
            cx, cz = d["x"] + 0.5 * d["width"] * sx, d["z"] + 0.5 * d["width"] * math.cos(a)
            out.append((np.array([cx, d["height"] / 2 + 0.01, cz]),
                        np.array([0.01, d["height"] / 2, d["width"] / 2]),
                        math.degrees(d["sign"] * a)))
        return out

    def _corners(self, o: _Obj) -> np.ndarray:
        centre, half, yaw = self._boxes(o)[0]
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        return centre + (signs * half) @ _rot_y(yaw).T

    def _footprint_hits(self, x: float, z: float, r: float, skip: _Obj | None = None,
                        low: float = 0.05, high: float = AGENT_HEIGHT) -> bool:
        for o in self.objects:
            if o is skip or o.held or o.type == "Floor":
                continue
            for centre, half, yaw in self._boxes(o):
                if centre[1] + half[1] < low or centre[1] - half[1] > high:
                    continue
                a = math.radians(yaw)
                dx, dz = x - centre[0], z - centre[2]
                lx, lz = math.cos(a) * dx - math.sin(a) * dz, math.sin(a) * dx + math.cos(a) * dz
                qx, qz = max(abs(lx) - half[0], 0.0), max(abs(lz) - half[2], 0.0)
                if math.hypot(qx, qz) < r:
                    return True
        return False

    def _inside(self, x: float, z: float, r: float) -> bool:
        return ROOM[0] + r <= x <= ROOM[2] - r and ROOM[1] + r <= z <= ROOM[3] - r

    def _agent_blocked(self, x: float, z: float) -> bool:
        return not self._inside(x, z, AGENT_RADIUS) or self._footprint_hits(x, z, AGENT_RADIUS)

    def _spot_free(self, o: _Obj, pos: dict[str, float]) -> bool:
        """No other object's box (furniture excluded: it is what things stand on) overlaps the
        object's footprint at `pos`, and the agent is not standing there."""
        r = 0.5 * math.hypot(o.size[0], o.size[2])
        if math.hypot(pos["x"] - self.agent["x"], pos["z"] - self.agent["z"]) < AGENT_RADIUS + r:
            return False
        for other in self.objects:
            if other is o or other.held or not other.pickupable:
                continue
            ox, oy, oz = other.position
            if abs(oy - pos["y"]) > 0.3:
                continue
            ro = 0.5 * math.hypot(other.size[0], other.size[2])
            if math.hypot(ox - pos["x"], oz - pos["z"]) < r + ro:
                return False
        return True

    def _reachable(self) -> list[tuple[float, float]]:
        g = self.grid_size
        xs = np.arange(math.ceil((ROOM[0] + AGENT_RADIUS) / g), math.floor((ROOM[2] - AGENT_RADIUS) / g) + 1) * g
        zs = np.arange(math.ceil((ROOM[1] + AGENT_RADIUS) / g), math.floor((ROOM[3] - AGENT_RADIUS) / g) + 1) * g
        return [(round(float(x), 4), round(float(z), 4)) for x in xs for z in zs
                if not self._agent_blocked(float(x), float(z))]

    # ------------------------------------------------------------------------------ rendering
    def _scene_boxes(self) -> list[_Box]:
        boxes = []
        for k, o in enumerate(self.objects):
            if o.held:
                continue
            for centre, half, yaw in self._boxes(o):
                boxes.append(_Box(k, centre, half, yaw))
        x0, z0, x1, z1 = ROOM
        t = 0.05
        for centre, half in (((x0 - t, WALL_HEIGHT / 2, (z0 + z1) / 2), (t, WALL_HEIGHT / 2, 3.0)),
                             ((x1 + t, WALL_HEIGHT / 2, (z0 + z1) / 2), (t, WALL_HEIGHT / 2, 3.0)),
                             (((x0 + x1) / 2, WALL_HEIGHT / 2, z0 - t), (3.0, WALL_HEIGHT / 2, t)),
                             (((x0 + x1) / 2, WALL_HEIGHT / 2, z1 + t), (3.0, WALL_HEIGHT / 2, t)),
                             (((x0 + x1) / 2, WALL_HEIGHT + t, (z0 + z1) / 2), (3.0, t, 3.0))):
            boxes.append(_Box(-1, np.array(centre), np.array(half), 0.0))
        return boxes

    def _camera(self, view: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Camera position and ray directions (H, W, 3) with forward component 1 (so the ray
        parameter is the z-depth). Pixel (row, col) centres; THOR's fieldOfView is vertical."""
        h, w = self.height, self.width
        f = (h / 2.0) / math.tan(math.radians(self.field_of_view) / 2.0)
        rot, hor = math.radians(view["rotation"]), math.radians(view["horizon"])
        fwd = np.array([math.sin(rot) * math.cos(hor), -math.sin(hor), math.cos(rot) * math.cos(hor)])
        right = np.array([math.cos(rot), 0.0, -math.sin(rot)])
        up = np.array([math.sin(rot) * math.sin(hor), math.cos(hor), math.cos(rot) * math.sin(hor)])
        u = (np.arange(w) - (w - 1) / 2.0) / f
        v = ((h - 1) / 2.0 - np.arange(h)) / f
        dirs = fwd + u[None, :, None] * right + v[:, None, None] * up
        cam = np.array([view["x"], view["y"] + CAMERA_OFFSET, view["z"]])
        return cam, dirs

    def _raycast(self, view: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(key per pixel (H, W) int, -2 for nothing; z-depth (H, W) float32)."""
        cam, dirs = self._camera(view)
        d = dirs.reshape(-1, 3)
        best = np.full(len(d), np.inf)
        key = np.full(len(d), -2, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            for b in self._scene_boxes():
                rt = _rot_y(b.yaw)                      # local -> world; world -> local is .T
                o = (cam - b.centre) @ rt
                dl = d @ rt
                t1 = (-b.half - o) / dl
                t2 = (b.half - o) / dl
                lo = np.nanmax(np.minimum(t1, t2), axis=1)
                hi = np.nanmin(np.maximum(t1, t2), axis=1)
                hit = (lo <= hi) & (lo > NEAR) & (lo < best)
                best[hit] = lo[hit]
                key[hit] = b.key
        depth = np.where(np.isfinite(best), np.minimum(best, FAR), FAR).astype(np.float32)
        return key.reshape(self.height, self.width), depth.reshape(self.height, self.width)

    def _visible_from(self, o: _Obj, view: dict[str, float]) -> bool:
        key, _ = self._raycast(view)
        k = self.objects.index(o)
        if not (key == k).any():
            return False
        return self._near_enough(o, view)

    def _near_enough(self, o: _Obj, view: dict[str, float]) -> bool:
        c = self._corners(o)
        lo, hi = c.min(0), c.max(0)
        gx = max(lo[0] - view["x"], view["x"] - hi[0], 0.0)
        gz = max(lo[2] - view["z"], view["z"] - hi[2], 0.0)
        return math.hypot(gx, gz) <= self.visibility_distance

    # ------------------------------------------------------------------------------ events
    def _emit(self, action: str, success: bool, error: str, ret: Any) -> Any:
        from ai2thor.server import DepthFormat, Event  # the real types (ai2thor is installed)

        view = dict(self.agent)
        key, depth = self._raycast(view)
        rgb = np.zeros((self.height, self.width, 3), np.uint8)
        ids = np.zeros((self.height, self.width, 4), np.uint8)
        ids[..., 3] = 255
        wall = key == -1
        rgb[wall] = (200, 200, 190)
        ids[wall, :3] = (250, 250, 250)
        counts = np.bincount(key[key >= 0].ravel(), minlength=len(self.objects))
        self._visible = {}
        for k, o in enumerate(self.objects):
            if counts[k]:
                mask = key == k
                shade = np.clip(1.1 - 0.08 * depth[mask], 0.5, 1.0)[:, None]
                rgb[mask] = (np.array(o.color)[None, :] * shade).astype(np.uint8)
                ids[mask, :3] = o.id_color
            self._visible[o.object_id] = bool(counts[k]) and self._near_enough(o, view)
        event = Event(self._metadata(action, success, error, ret))
        event.add_image(np.ascontiguousarray(np.flipud(rgb)).tobytes())
        event.add_image_depth(np.ascontiguousarray(np.flipud(depth)).tobytes(),
                              depth_format=DepthFormat.Meters, camera_near_plane=NEAR,
                              camera_far_plane=FAR)
        event.add_image_ids(np.ascontiguousarray(np.flipud(ids)).tobytes())
        self.last_event = event
        return event

    def _object_metadata(self, o: _Obj) -> dict[str, Any]:
        x, y, z = (float(v) for v in self._where(o))
        a = self.agent
        corners = self._corners(o)
        lo, hi = corners.min(0), corners.max(0)
        aabb = {"cornerPoints": [[float(v) for v in p] for p in
                                 (np.array([[sx, sy, sz] for sx in (hi[0], lo[0])
                                            for sy in (hi[1], lo[1]) for sz in (hi[2], lo[2])]))],
                "center": {"x": float((lo[0] + hi[0]) / 2), "y": float((lo[1] + hi[1]) / 2),
                           "z": float((lo[2] + hi[2]) / 2)},
                "size": {"x": float(hi[0] - lo[0]), "y": float(hi[1] - lo[1]),
                         "z": float(hi[2] - lo[2])}}
        parents = [] if o.held or o.type == "Floor" else [
            r.object_id for r in self.objects if r.receptacle and not r.pickupable
            and r is not o and abs(r.position[1] + r.size[1] - o.position[1]) < 0.02
            and abs(r.position[0] - o.position[0]) <= r.size[0] / 2
            and abs(r.position[2] - o.position[2]) <= r.size[2] / 2]
        return {
            "name": o.name, "objectId": o.object_id, "objectType": o.type,
            "position": {"x": x, "y": y, "z": z},
            "rotation": {"x": o.rotation_xz[0], "y": o.yaw, "z": o.rotation_xz[1]},
            "visible": self._visible.get(o.object_id, False),
            "isInteractable": self._visible.get(o.object_id, False),
            "obstructed": False,
            "distance": math.dist((a["x"], a["y"], a["z"]), (x, y, z)),
            "receptacle": o.receptacle, "toggleable": False, "isToggled": False,
            "breakable": False, "isBroken": False, "canFillWithLiquid": False,
            "isFilledWithLiquid": False, "fillLiquid": None, "dirtyable": False, "isDirty": False,
            "canBeUsedUp": False, "isUsedUp": False, "cookable": False, "isCooked": False,
            "temperature": "RoomTemp", "isHeatSource": False, "isColdSource": False,
            "sliceable": False, "isSliced": False,
            "openable": o.openable, "isOpen": o.openable and o.openness > 0.0,
            "openness": float(o.openness) if o.openable else 0.0,
            "pickupable": o.pickupable, "isPickedUp": o.held, "moveable": o.moveable,
            "mass": 0.2 if o.pickupable else 0.0, "salientMaterials": ["Plastic"],
            "receptacleObjectIds": None, "parentReceptacles": parents or None,
            "controlledObjects": None, "isMoving": False,
            "objectOrientedBoundingBox": ({"cornerPoints": [[float(v) for v in p] for p in corners]}
                                          if o.pickupable or o.moveable else None),
            "axisAlignedBoundingBox": aabb,
            "assetId": f"fake_{o.type}",
        }

    def _metadata(self, action: str, success: bool, error: str, ret: Any) -> dict[str, Any]:
        a = self.agent
        held = self._held()
        return {
            "objects": [self._object_metadata(o) for o in self.objects],
            "isSceneAtRest": True,
            "agent": {"name": "agent", "position": {"x": a["x"], "y": a["y"], "z": a["z"]},
                      "rotation": {"x": 0.0, "y": a["rotation"], "z": 0.0},
                      "cameraHorizon": a["horizon"], "isStanding": True,
                      "inHighFrictionArea": False},
            "heldObjectPose": None,
            "arm": None,
            "fov": self.field_of_view,
            "cameraPosition": {"x": a["x"], "y": a["y"] + CAMERA_OFFSET, "z": a["z"]},
            "cameraOrthSize": 0.0,
            "thirdPartyCameras": [],
            "collided": False, "collidedObjects": [],
            "inventoryObjects": ([{"objectId": held.object_id, "objectType": held.type}]
                                 if held is not None else []),
            "sceneName": self.scene, "lastAction": action, "errorMessage": error,
            "errorCode": "", "lastActionSuccess": bool(success), "screenWidth": self.width,
            "screenHeight": self.height, "agentId": 0,
            "colors": ([{"name": o.object_id, "color": list(o.id_color)} for o in self.objects]
                       + [{"name": "Walls", "color": [250, 250, 250]}]),
            "colorBounds": [], "flatSurfacesOnGrid": [], "distances": [], "normals": [],
            "isOpenableGrid": [], "segmentedObjectIds": [], "objectIdsInBox": [],
            "actionIntReturn": 0, "actionFloatReturn": 0.0, "actionStringsReturn": [],
            "actionFloatsReturn": [], "actionVector3sReturn": [], "visibleRange": [],
            "currentTime": float(self.steps), "sceneBounds": {
                "cornerPoints": [], "center": {"x": 2.5, "y": 1.3, "z": 2.5},
                "size": {"x": 5.0, "y": 2.6, "z": 5.0}},
            "actionReturn": ret,
            "depthFormat": "Meters",
            "fake": "FakeRearrangeController (embodied.envs.ai2thor.rearrange_fake): not AI2-THOR",
        }
