"""The dockyard command line: argv -> calls -> output; the only place that prints or exits."""

from __future__ import annotations

from dockyard._util import codecache

codecache.install()  # before the commands define their dataclasses
