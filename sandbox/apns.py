"""A stand-in for the Apple Push Notification service: HTTP/2 (cleartext, prior knowledge, on loopback; Apple's is
TLS on 443) with token authentication.

POST /3/device/<device token>   headers `authorization: bearer <ES256 JWT: kid = the key id, iss = the team id, iat
                                within the hour>`, apns-topic (the bundle id), apns-push-type, optional apns-id (a
                                UUID), apns-expiration, apns-priority; a JSON body with "aps", at most 4 KB.
                                -> 200 with apns-id (and apns-unique-id); or 400/403/405/410/413/429/500/503 with
                                {"reason": ...} (410 also {"timestamp"}): MissingProviderToken,
                                InvalidProviderToken, ExpiredProviderToken, MissingTopic, BadTopic, InvalidPushType,
                                BadMessageId, BadExpirationDate, BadDeviceToken, PayloadEmpty, PayloadTooLarge,
                                Unregistered, TooManyRequests, InternalServerError, ServiceUnavailable
GET  /sim/messages              what was accepted, with its headers (tests read this)
POST /sim/unregister            {"token": t}: t answers 410 Unregistered from now on
POST /sim/script                {"token": t, "statuses": [503, 429]}: the next sends to t answer these

python -m sandbox.apns --host 127.0.0.1 --port N  (APNS_TEAM_ID, APNS_KEY_ID, APNS_TOPIC, APNS_PRIVATE_KEY: the
auth key, of which only the public half is used)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
import orjson
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from sandbox.serving import env, free_port

PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity"}
REASONS = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}
_TOKEN = re.compile(r"[0-9a-fA-F]{64}")
Answer = tuple[int, list[tuple[str, str]], bytes]


def _reason(status: int, reason: str, **extra: Any) -> Answer:
    return status, [("content-type", "application/json")], orjson.dumps({"reason": reason, **extra})


@dataclass
class ApnsStandIn:
    team_id: str
    key_id: str
    topic: str
    private_key: str
    received: list[dict[str, Any]] = field(default_factory=list)
    unregistered: dict[str, int] = field(default_factory=dict)
    scripts: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._public_key = load_pem_private_key(self.private_key.encode(), password=None).public_key()

    def handle(self, headers: dict[str, str], body: bytes) -> Answer:
        method, path = headers.get(":method", ""), headers.get(":path", "")
        if path == "/sim/messages" and method == "GET":
            return 200, [("content-type", "application/json")], orjson.dumps(self.received)
        if path in ("/sim/unregister", "/sim/script") and method == "POST":
            sent = orjson.loads(body)
            if path == "/sim/unregister":
                self.unregistered[str(sent["token"])] = int(time.time() * 1000)
            else:
                self.scripts[str(sent["token"])] = [int(s) for s in sent["statuses"]]
            return 200, [("content-type", "application/json")], b'{"ok":true}'
        if not path.startswith("/3/device/"):
            return _reason(404, "BadPath")
        if method != "POST":
            return _reason(405, "MethodNotAllowed")
        return self._push(path.removeprefix("/3/device/"), headers, body)

    def _push(self, device: str, headers: dict[str, str], body: bytes) -> Answer:
        auth = headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return _reason(403, "MissingProviderToken")
        token = auth.removeprefix("bearer ")
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                return _reason(403, "InvalidProviderToken")
            claims = jwt.decode(token, self._public_key, algorithms=["ES256"],  # type: ignore[arg-type]
                                issuer=self.team_id, options={"require": ["iss", "iat"]})
        except jwt.PyJWTError:
            return _reason(403, "InvalidProviderToken")
        if time.time() - float(claims["iat"]) > 3600:
            return _reason(403, "ExpiredProviderToken")
        topic = headers.get("apns-topic")
        if not topic:
            return _reason(400, "MissingTopic")
        if topic != self.topic:
            return _reason(400, "BadTopic")
        if headers.get("apns-push-type", "alert") not in PUSH_TYPES:
            return _reason(400, "InvalidPushType")
        apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        try:
            uuid.UUID(apns_id)
        except ValueError:
            return _reason(400, "BadMessageId")
        if not headers.get("apns-expiration", "0").isdigit():
            return _reason(400, "BadExpirationDate")
        if not _TOKEN.fullmatch(device):
            return _reason(400, "BadDeviceToken")
        if len(body) > 4096:
            return _reason(413, "PayloadTooLarge")
        try:
            payload = orjson.loads(body)
            assert isinstance(payload, dict) and isinstance(payload.get("aps"), dict)
        except (orjson.JSONDecodeError, AssertionError):
            return _reason(400, "PayloadEmpty")
        script = self.scripts.get(device)
        if script:
            status = script.pop(0)
            return _reason(status, REASONS.get(status, "InternalServerError"))
        if device in self.unregistered:
            return _reason(410, "Unregistered", timestamp=self.unregistered[device])
        self.received.append({"token": device, "payload": payload,
                              "headers": {k: v for k, v in headers.items()
                                          if k.startswith("apns-") or k == "authorization"}})
        return 200, [("apns-id", apns_id), ("apns-unique-id", str(uuid.uuid4()))], b""


class _H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection: requests gathered per stream, answered when the stream ends."""

    def __init__(self, stand_in: ApnsStandIn) -> None:
        self._stand_in = stand_in
        self._conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self._streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._conn.initiate_connection()
        transport.write(self._conn.data_to_send())

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        try:
            events = self._conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self._transport.write(self._conn.data_to_send())
            self._transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self._streams[event.stream_id] = ({str(k): str(v) for k, v in event.headers or []}, bytearray())
            elif isinstance(event, h2.events.DataReceived) and event.stream_id in self._streams:
                self._streams[event.stream_id][1].extend(event.data or b"")
                self._conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id in self._streams:
                headers, body = self._streams.pop(event.stream_id)
                status, extra, out = self._stand_in.handle(headers, bytes(body))
                self._conn.send_headers(event.stream_id, [(":status", str(status)),
                                                          ("content-length", str(len(out))), *extra],
                                        end_stream=not out)
                if out:
                    self._conn.send_data(event.stream_id, out, end_stream=True)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._transport.close()
        self._transport.write(self._conn.data_to_send())


@contextlib.asynccontextmanager
async def serving_apns(stand_in: ApnsStandIn, port: int | None = None,
                       host: str = "127.0.0.1") -> AsyncIterator[str]:
    """The stand-in in this event loop (tests); yields its base URL."""
    port = free_port() if port is None else port
    server = await asyncio.get_running_loop().create_server(lambda: _H2Protocol(stand_in), host, port)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.apns", description="The APNs stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    stand_in = ApnsStandIn(env("APNS_TEAM_ID"), env("APNS_KEY_ID"), env("APNS_TOPIC"), env("APNS_PRIVATE_KEY"))

    async def run() -> None:
        async with serving_apns(stand_in, args.port, args.host):
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
