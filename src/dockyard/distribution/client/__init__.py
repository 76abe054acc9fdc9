"""The registry client: the OCI distribution spec / Docker Registry HTTP API v2 as a client.

Modules, from the pure ones up (only the last four import httpx, so importing the others
costs the ``run`` path nothing):

- ``endpoints``: which URLs serve a registry (mirrors for docker.io, insecure registries and
  their plain-HTTP fallback, ``certs.d`` CA and client certificates); pure decisions.
- ``challenge``: ``WWW-Authenticate`` parsing, token scopes, token responses; pure.
- ``credentials``: ``~/.docker/config.json`` ``auths`` and credential helpers.
- ``platforms``: choosing a manifest from an index for a platform; pure.
- ``progress``: the events a pull or push reports (the CLI draws them).
- ``auth``: the Bearer token flow (anonymous or with credentials, cached, refreshed) and Basic.
- ``transport``: HTTP to one registry: TLS, retries with back-off, auth on challenge.
- ``registry``: the API: ping, manifests, blobs (download with resume), uploads, tags, search.
- ``session``: the entry point the image store uses: references -> repositories (mirrors
  first), login.

Nothing here writes images: ``dockyard.image.pull`` and ``dockyard.image.push`` do, verifying
every byte against its descriptor before anything is committed.
"""

from __future__ import annotations
