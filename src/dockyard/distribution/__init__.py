"""Registries: the distribution client (pull, push, login) and the registry server."""
