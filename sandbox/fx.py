"""A stand-in for the ECB's reference rates, with rates that move.

GET /stats/eurofxref/eurofxref-daily.xml  the ECB daily document (gesmes:Envelope, EUR base), dated
                                          today, at the current simulated rates
GET /stream                               Server-Sent Events: `event: rates` with JSON
                                          {"base": "EUR", "time": ..., "rates": {"USD": "1.0850", ...}}
                                          every --interval seconds
POST /sim/rates                           set rates (JSON {"USD": "1.1", ...}) and, optionally, the
                                          document's date ({"time": "2024-01-05"}): tests and demos

python -m sandbox.fx --host 127.0.0.1 --port N  (ready when the port accepts connections)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

ECB_PATH = "/stats/eurofxref/eurofxref-daily.xml"
# A day of the ECB's published reference rates (units per one EUR), as the simulation's start.
START: dict[str, str] = {
    "USD": "1.0850", "JPY": "163.85", "BGN": "1.9558", "CZK": "25.312", "DKK": "7.4582", "GBP": "0.85430",
    "HUF": "395.20", "PLN": "4.2860", "RON": "4.9730", "SEK": "11.3455", "CHF": "0.95480", "ISK": "150.10",
    "NOK": "11.6470", "TRY": "37.2010", "AUD": "1.6402", "BRL": "5.9480", "CAD": "1.4950", "CNY": "7.8420",
    "HKD": "8.4780", "IDR": "17215.30", "ILS": "4.0120", "INR": "90.845", "KRW": "1512.44", "MXN": "21.742",
    "MYR": "4.8610", "NZD": "1.8120", "PHP": "61.830", "SGD": "1.4560", "THB": "37.520", "ZAR": "19.6540",
}


@dataclass
class FxStandIn:
    rates: dict[str, Decimal] = field(default_factory=lambda: {k: Decimal(v) for k, v in START.items()})
    day: date | None = None  # None: today (UTC)
    interval_s: float = 1.0
    seed: int = 7
    base_url: str = ""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def step(self) -> None:
        """Every rate moves by up to 2 bp."""
        for code, rate in self.rates.items():
            move = Decimal(str(self._random.uniform(-0.0002, 0.0002)))
            digits = -rate.as_tuple().exponent  # type: ignore[operator]
            self.rates[code] = (rate * (1 + move)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_EVEN)

    def document(self) -> bytes:
        day = (self.day or datetime.now(UTC).date()).isoformat()
        cubes = "\n".join(f"\t\t\t<Cube currency='{c}' rate='{r}'/>" for c, r in self.rates.items())
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
            'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">\n'
            "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
            "\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n"
            f"\t<Cube>\n\t\t<Cube time='{day}'>\n{cubes}\n\t\t</Cube>\n\t</Cube>\n"
            "</gesmes:Envelope>\n"
        ).encode()

    async def _daily(self, request: Request) -> Response:
        return Response(self.document(), media_type="text/xml")

    async def _stream(self, request: Request) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            while True:
                self.step()
                body = orjson.dumps({"base": "EUR", "time": datetime.now(UTC).isoformat(),
                                     "rates": {c: str(r) for c, r in self.rates.items()}})
                yield b"event: rates\ndata: " + body + b"\n\n"
                await asyncio.sleep(self.interval_s)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def _set(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if "time" in body:
            self.day = date.fromisoformat(body.pop("time")) if body["time"] else None
        self.rates.update({str(k).upper(): Decimal(str(v)) for k, v in body.items()})
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route(ECB_PATH, self._daily), Route("/stream", self._stream),
                                 Route("/sim/rates", self._set, methods=["POST"])])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def fx_standin(**options: object) -> AsyncIterator[FxStandIn]:
    """The stand-in in this process on a free loopback port (tests)."""
    stand_in = FxStandIn(**options)  # type: ignore[arg-type]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(stand_in.app(), host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    stand_in.base_url = f"http://127.0.0.1:{port}"
    try:
        yield stand_in
    finally:
        server.should_exit = True
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description="ECB reference-rate stand-in with moving rates")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between streamed updates")
    args = parser.parse_args()
    stand_in = FxStandIn(seed=args.seed, interval_s=args.interval)
    uvicorn.run(stand_in.app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
