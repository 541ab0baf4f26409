"""The container engine boundary: the ONLY package that imports ``docker``. The Docker backend,
the reflector that keeps engine state current from its event stream, the pure container spec and
the label vocabulary, the workspace network and its firewall, and GPU device requests.

May import: ``gpus.model``, ``errors``. A Swarm engine and a remote broker client plug in here."""
