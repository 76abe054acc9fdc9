"""Helpers shared by the test suite (and the README demo): test images, CLI runner, probes."""
