"""Builds: the Dockerfile front end (:mod:`.dockerfile`, pure: parser, typed instructions,
shell words, .dockerignore), the stage graph, cache keys, the context and the builder."""
