"""The dockyard command line: argv -> calls -> output; the only place that prints or exits.

The console scripts start in :mod:`.launch`.
"""
