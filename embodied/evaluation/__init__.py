"""Evaluations of components outside an embodied episode (e.g. `embodied eval localization`)."""
