"""The WebSocket half of the proxy relay: the browser's WebSocket and the workspace's, message by
message both ways, with the workspace's subprotocol, refusals and close codes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from tornado import web, websocket

from workspace_launcher.proxy.client import Target, upstream_session
from workspace_launcher.proxy.rules import sendable_close_code


class WebSocketRelay(websocket.WebSocketHandler):
    """Relays an upgraded request to ``self._target`` (which the relay's ``prepare`` sets)."""

    _target: Target | None
    _ws: aiohttp.ClientWebSocketResponse | None

    def _upstream_headers(self, target: Target) -> Any:
        raise NotImplementedError

    def _keep(self, task: asyncio.Future[Any]) -> asyncio.Future[Any]:
        raise NotImplementedError

    async def _open_websocket(self) -> None:
        """Connect upstream first, so the browser gets the subprotocol the workspace chose, or
        the workspace's refusal (a missing kernel's 404) as the answer to its upgrade."""
        assert self._target is not None
        offered = [p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        offered = [p for p in offered if p]
        try:
            self._ws = await upstream_session().ws_connect(
                self._target.url("ws"), headers=self._upstream_headers(self._target), protocols=offered,
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as e:
            raise web.HTTPError(e.status if 400 <= e.status < 600 else 502,
                                "the workspace refused the WebSocket: %s", e.message) from e
        except aiohttp.ClientError as e:
            raise web.HTTPError(503, "workspace %s is not answering", self._target.workspace_id) from e
        try:
            await websocket.WebSocketHandler.get(self)  # returns when the WebSocket is over
        finally:
            if self.get_status() != 101:  # refused here (Origin, version): close the workspace's side
                await self._ws.close()

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self._ws.protocol if self._ws is not None else None

    def open(self, *args: str, **kwargs: str) -> None:
        # Kernel replies are bursts of small messages; with Nagle's algorithm on, each after the
        # first waits for the browser's delayed ACK (40 ms). aiohttp's upstream side has it off.
        self.set_nodelay(True)
        self._keep(asyncio.ensure_future(self._from_upstream()))

    async def _from_upstream(self) -> None:
        """Workspace to browser, message by message, until either side closes."""
        assert self._ws is not None and self._target is not None
        code, reason = None, None
        while True:
            message = await self._ws.receive()
            if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                self.manager.record_activity(self._target.workspace_id)
                try:
                    await self.write_message(message.data, binary=message.type is aiohttp.WSMsgType.BINARY)
                except websocket.WebSocketClosedError:
                    break
            else:  # CLOSE carries the workspace's code and reason; CLOSED and ERROR end it too
                if message.type is aiohttp.WSMsgType.CLOSE:
                    code, reason = message.data, message.extra
                else:
                    code = self._ws.close_code
                break
        self.close(sendable_close_code(code), reason)

    async def on_message(self, message: str | bytes) -> None:
        """Browser to workspace; tornado reads the next message only once this one is sent."""
        assert self._ws is not None and self._target is not None
        self.manager.record_activity(self._target.workspace_id)
        try:
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            else:
                await self._ws.send_str(message)
        except (ConnectionError, aiohttp.ClientError):
            self.close(1011, "the workspace's end of the WebSocket is gone")

