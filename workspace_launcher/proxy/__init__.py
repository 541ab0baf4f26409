"""How the browser reaches a workspace: each on an origin of its own, through the host server.

- ``origins``: the admin's origin template (``http://{id}.localhost:{port}`` by default) and the
  pure rules around it; ``sessions``: one-time codes and workspace session cookies;
- ``host``: the host origin's side, the handshake's first half (``open/<id>``) and the old
  ``workspaces/<id>/`` route (served only with the admin's same-origin opt-in);
- ``workspace_origin``: a workspace's own origin, the handshake's second half and the proxy;
- ``relay``: the streaming HTTP relay both proxies share, with ``websocket_relay`` (its WebSocket
  half) and ``splice`` (big downloads socket to socket in the kernel), over ``client`` (the one
  aiohttp session to workspaces); ``pages``: the proxy's own error answers; ``rules`` and
  ``policy``: the pure rules of what crosses, and of which browser requests may;
  ``log_limit``: once-per-interval log lines for the tabs left open on an ended workspace.

May import the launcher's ``errors``, ``api.handlers`` (the shared handler context),
``workspaces.upstream`` and ``workspaces.readiness``; never the engine.
"""
