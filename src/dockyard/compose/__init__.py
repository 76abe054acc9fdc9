"""Compose: compose files -> a typed :class:`~.model.Project` -> ``plan(desired, actual)`` ->
apply over the engine.

The modules, in the order a ``compose up`` uses them:

- :mod:`.files` finds the files, the project directory, name and environment;
- :mod:`.yamlfile` reads YAML (anchors, merge keys, ``!reset``/``!override``);
  :mod:`.interpolation` substitutes ``${VAR}``; :mod:`.schema` validates strictly and
  normalises short syntaxes (:mod:`.syntax`); :mod:`.merge` merges files, ``extends`` and
  ``include``; :mod:`.loader` runs all of that and :mod:`.parse` (with :mod:`.service`) builds
  the model;
- :mod:`.plan` decides (pure) what to create, recreate, start and remove;
- :mod:`.observe` reads what exists, :mod:`.translate` turns a service into the engine's
  :class:`~dockyard.engine.create.CreateRequest`, :mod:`.replicas` makes one container,
  :mod:`.apply` acts, :mod:`.waits` waits for conditions, :mod:`.ops` runs the other verbs,
  :mod:`.images` builds and pulls.

Nothing here prints: progress goes to a callback the CLI gives.
"""

from __future__ import annotations
