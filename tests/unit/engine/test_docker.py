"""The Docker backend's side of the workspace firewall (``engine/docker.py``): the network it
creates, the settings it reads, the rules refreshed at a start; with a fake engine behind it."""

from __future__ import annotations

from traitlets.config import Config

from workspace_launcher.engine import firewall as fw


class FakeEngine:
    """Just enough of DockerEngine for create_network: no engine behind it."""

    def __init__(self):
        self.created = []
        engine = self

        class Networks:
            def list(self, names):
                return []

            def create(self, **kwargs):
                engine.created.append(kwargs)
                return type("Network", (), {"attrs": {"Name": kwargs["name"], "Id": "f" * 64}})()

        self.started = []
        self.client = type("Client", (), {"networks": Networks()})()
        self.api = type("Api", (), {
            "base_url": "http+docker://localhost",
            "inspect_network": lambda api, name: {"Name": name, "Id": "e" * 64, "Options": {}},
            "start": lambda api, container_id: engine.started.append(container_id),
        })()

    async def call(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)


def test_a_bridge_name_another_engine_holds_is_never_taken_over(monkeypatch):
    import asyncio

    from workspace_launcher.engine import docker as backend_module

    engine = FakeEngine()
    backend = backend_module.DockerBackend(engine)
    monkeypatch.setattr(backend_module, "bridge_on_this_host", lambda name: name == "wl-workspaces")
    asyncio.run(backend.create_network())
    (created,) = engine.created
    assert "com.docker.network.bridge.name" not in created["options"]  # Docker names it br-<id>
    assert created["options"]["com.docker.network.bridge.enable_icc"] == "false"
    monkeypatch.setattr(backend_module, "bridge_on_this_host", lambda name: False)
    asyncio.run(backend.create_network())
    assert engine.created[1]["options"]["com.docker.network.bridge.name"] == "wl-workspaces"


def test_the_backend_reads_its_settings_from_its_parent_config():
    from workspace_launcher.engine.docker import DockerBackend

    config = Config()
    config.WorkspaceNetwork.blocked_ranges = ["192.168.0.0/16"]
    parent = fw.WorkspaceNetwork(config=config)  # any configurable holding the config
    backend = DockerBackend(FakeEngine(), parent=parent)
    assert backend.network.blocked_ranges == ["192.168.0.0/16"]
    assert DockerBackend(FakeEngine()).network.blocked_ranges == []  # no parent: the defaults (protect_host on)


def test_starting_a_stopped_workspace_refreshes_the_rules_too(monkeypatch):
    """After a reboot (which flushes the firewall) a user's start must not run unprotected."""
    import asyncio

    from workspace_launcher.engine import docker as backend_module

    checked = []
    monkeypatch.setattr(backend_module, "protect",
                        lambda settings, attrs, **kw: checked.append(attrs["Name"]) or fw.Outcome("ok", "in place"))
    engine = FakeEngine()
    backend = backend_module.DockerBackend(engine)
    asyncio.run(backend.start("c1"))
    assert checked == ["workspace-launcher"] and engine.started == ["c1"]
    asyncio.run(backend.start("c2"))  # a moment later: the check stands
    assert checked == ["workspace-launcher"] and engine.started == ["c1", "c2"]
    backend._protected_at -= backend_module.PROTECTION_FRESH_S
    asyncio.run(backend.start("c3"))
    assert checked == ["workspace-launcher"] * 2
