"""Reading the live server's WebSocket messages in the protocol tests."""

import json

import anyio

WAIT_S = 120  # only a guard against a hung session (a failure, reported as such); no timing is asserted


def receive(ws, wait: float = WAIT_S) -> dict:
    """The next JSON message of a Starlette test-client WebSocket, failing (not
    hanging) when none comes within ``wait`` seconds. The wait reads the test
    client's own receive stream (``_send_rx``, through its ``portal``): its
    public ``receive`` has no timeout."""
    async def one():
        with anyio.fail_after(wait):
            return await ws._send_rx.receive()

    try:
        message = ws.portal.call(one) if hasattr(ws, "_send_rx") else ws.receive()
    except TimeoutError:
        raise AssertionError(f"no message from the server within {wait} s: the session stopped answering") from None
    assert message["type"] != "websocket.close", f"the server closed the socket: {message}"
    return json.loads(message["text"])
