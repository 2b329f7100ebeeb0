"""Every registered trading platform with a simulator speaking its wire format: the conformance suite runs
once per entry. A platform package registered without an entry here fails the suite
(test_every_registered_platform_has_a_simulator)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from domain.platforms.port import TradingPlatform
from tests.platforms.conftest import SimServer


@dataclass(frozen=True)
class Simulated:
    pushes: bool  # the platform pushes its deals (port.DealStream); the pull stays the safety net
    idempotent_balance: bool  # the server itself settles a resent balance operation by its external id


# One line per platform: its simulator is SimServer(kind=<name>).
SIMULATED: dict[str, Simulated] = {
    "mt5": Simulated(pushes=False, idempotent_balance=False),
    "mt4": Simulated(pushes=True, idempotent_balance=True),
}


@pytest.fixture(scope="module", params=sorted(SIMULATED))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    kind = str(request.param)
    sim = SimServer(tmp_path_factory.mktemp(f"conformance-{kind}"), password=secrets.token_urlsafe(12) + "Aa1!",
                    seed=3, kind=kind)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
async def adapter(server: SimServer) -> AsyncIterator[TradingPlatform]:
    platform = server.adapter()
    yield platform
    await platform.aclose()
