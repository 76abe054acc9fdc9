"""Networks: bridges, veth pairs and network namespaces, IPAM, published ports, DNS, and the
per-network helper process that does the netlink and DNS work (ARCHITECTURE.md).

Light modules (imported on the ``run`` path): :mod:`.model`, :mod:`.ipam`, :mod:`.ports`,
:mod:`.store`, :mod:`.client`, :mod:`.sandbox`. Only the helper's modules import pyroute2
and dnslib.
"""
