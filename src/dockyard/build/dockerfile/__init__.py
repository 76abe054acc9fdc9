"""The Dockerfile front end: text -> nodes (:mod:`.parser`) -> typed instructions, with the
shell-word rules (:mod:`.shellwords`) and .dockerignore matching (:mod:`.dockerignore`). Pure:
no I/O beyond what the caller passes in, tested from strings."""
