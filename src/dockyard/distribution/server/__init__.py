"""The registry server (``dockyard registry serve``): the OCI distribution API over a content
store and the registry's own index, with users, teams, grants and a read-only web page.

Modules, bottom up: ``names`` (grammars), ``apierror`` (the spec's error codes), ``access``
(pure access decisions), ``config``; ``storage`` (content store + index), ``manifests``
(manifest checks and negotiation), ``uploads`` (upload sessions); ``passwords``, ``tokens``,
``auth`` (who is asking, and may they); ``routing`` (paths to endpoints), the ``api_*``
handlers, ``web`` (the HTML page), ``app`` (the aiohttp application), ``serve`` (the process);
``admin``, ``gc`` and ``check`` for the CLI. Only this package imports aiohttp, bcrypt and jwt;
importing this ``__init__`` imports none of them.
"""

from __future__ import annotations
