"""Procedural articulated objects (cabinets, microwaves, ovens, boxes, fridges) for SfA."""
