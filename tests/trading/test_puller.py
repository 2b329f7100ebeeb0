"""The puller: malformed pages, servers that are down, a crash mid-ingestion, gap detection."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from domain.platforms.port import DealCursor, utc_from_ms
from domain.trading.positions import reconcile_positions
from domain.trading.puller import pull_server, read_cursor, verify_periods
from domain.trading.servers import due_server_ids, server_statuses
from tests.conftest import ROOT
from tests.trading.conftest import all_sim_deals, new_server


async def _rows(session_factory: Any, sql: str, **params: Any) -> list[Any]:
    async with session_factory() as session:
        return list((await session.execute(text(sql), params)).all())


async def _deal_ids(session_factory: Any, server_id: int) -> list[int]:
    rows = await _rows(session_factory, "SELECT deal_id FROM trading_deals WHERE server_id = :s ORDER BY deal_id",
                       s=server_id)
    return [r[0] for r in rows]


async def test_malformed_page_is_recorded_and_the_pull_continues(
    session_factory: Any, server_id: int, platform: Any, trading_sim: Any
) -> None:
    # given the simulator will cut its next deal page in half
    trading_sim.ok("POST", "faults", {"truncate_next_deal_page": True})

    # when the server is pulled
    result = await pull_server(session_factory, server_id, platform, page_size=300)

    # then the malformed page is in the error queue and every deal still arrived
    assert result.error is None and result.malformed_pages == 1
    errors = await _rows(session_factory, "SELECT kind FROM trading_ingestion_errors WHERE server_id = :s",
                         s=server_id)
    assert [e[0] for e in errors] == ["malformed_page"]
    assert await _deal_ids(session_factory, server_id) == sorted(d.deal for d in await all_sim_deals(platform))


async def test_server_down_backs_off_and_does_not_block_others(
    session_factory: Any, server_id: int, platform: Any, trading_sim: Any
) -> None:
    from tests.conftest import free_port
    from tests.trading.conftest import sim_platform

    # given a second server whose address answers nothing
    dead_id = await new_server(session_factory, f"http://127.0.0.1:{free_port()}", "Whatever1!")
    trading_sim_dead = type(trading_sim)(trading_sim.data_dir, trading_sim.password)
    trading_sim_dead.port = int((await _rows(session_factory, "SELECT base_url FROM trading_servers WHERE id = :s",
                                             s=dead_id))[0][0].rsplit(":", 1)[1])
    dead_platform = sim_platform(trading_sim_dead)

    # when both are pulled concurrently
    dead, alive = await asyncio.gather(
        pull_server(session_factory, dead_id, dead_platform), pull_server(session_factory, server_id, platform)
    )

    # then the dead one reports its failure and backs off; the other ingested everything
    assert dead.error == "PLATFORM_UNAVAILABLE" and dead.next_attempt_at is not None
    assert alive.error is None and alive.inserted == len(await all_sim_deals(platform))
    async with session_factory() as session:
        status = {s.id: s for s in await server_statuses(session)}
        failed_at = status[dead_id].last_attempt_at
        due = await due_server_ids(session, now=failed_at)
        due_later = await due_server_ids(session, now=dead.next_attempt_at)
    assert status[dead_id].consecutive_failures == 1 and status[dead_id].last_error
    assert status[dead_id].next_attempt_at is not None and status[dead_id].last_success_at is None
    assert status[server_id].last_error is None and status[server_id].last_success_at is not None
    assert dead_id not in due and server_id in due and dead_id in due_later
    kinds = await _rows(session_factory, "SELECT kind FROM trading_ingestion_errors WHERE server_id = :s", s=dead_id)
    assert [k[0] for k in kinds] == ["unavailable"]

    # and a pull before the backoff expires does not even try
    again = await pull_server(session_factory, dead_id, dead_platform, now=failed_at)
    assert again.skipped and again.pages == 0
    await dead_platform.aclose()


async def test_killed_puller_resumes_without_loss_or_duplicates(
    session_factory: Any, server_id: int, platform: Any, trading_sim: Any, settings: Any
) -> None:
    sim_ids = sorted(d.deal for d in await all_sim_deals(platform))
    cmd = [sys.executable, "-m", "tests.trading.puller_process", settings.database_url, str(server_id),
           trading_sim.base_url, trading_sim.password, "40", "0.05"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # given a puller in its own process, killed with SIGKILL after a few pages
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    try:
        for _ in range(400):
            async with session_factory() as session:
                cursor = await read_cursor(session, server_id)
            if cursor.deal_id > 0 and cursor > DealCursor(0, 0):
                stored = len(await _deal_ids(session_factory, server_id))
                if stored >= 120:
                    break
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    partial = await _deal_ids(session_factory, server_id)
    assert 0 < len(partial) < len(sim_ids), "the kill must land in the middle of ingestion"

    # when it is started again and runs to the end
    done = subprocess.run([*cmd[:-2], "500", "0"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()

    # then every simulator deal is stored exactly once
    assert await _deal_ids(session_factory, server_id) == sim_ids
    keys = await _rows(session_factory, "SELECT count(*) FROM trading_deal_keys WHERE server_id = :s", s=server_id)
    assert keys[0][0] == len(sim_ids)
    events = await _rows(session_factory, "SELECT coalesce(sum((payload->>'inserted')::int), 0) FROM outbox "
                         "WHERE topic = 'trading.deals_ingested' AND (payload->>'server_id')::bigint = :s",
                         s=server_id)
    assert events[0][0] == len(sim_ids)  # consumers saw each deal exactly once
    positions = await _rows(session_factory, "SELECT position_id, volume FROM trading_positions WHERE server_id = :s",
                            s=server_id)
    assert dict(positions) == {p.position: p.volume for p in await platform.open_positions()}


async def test_gap_is_detected_by_period_counts_and_refetched(
    session_factory: Any, server_id: int, platform: Any
) -> None:
    await pull_server(session_factory, server_id, platform)
    all_ids = await _deal_ids(session_factory, server_id)
    times = await _rows(session_factory, "SELECT min(time), max(time) FROM trading_deals WHERE server_id = :s",
                        s=server_id)
    start, end = times[0][0].replace(second=0, microsecond=0), times[0][0] + timedelta(minutes=30)
    # given deals lost from one minute in the middle (keys and rows)
    hole = start + timedelta(minutes=3)
    async with session_factory() as session, session.begin():
        for table in ("trading_deals", "trading_deal_keys"):
            await session.execute(text(
                f"DELETE FROM {table} WHERE server_id = :s AND time >= :a AND time < :b"),
                {"s": server_id, "a": hole, "b": hole + timedelta(minutes=1)})
    assert len(await _deal_ids(session_factory, server_id)) < len(all_ids)

    # when the periods are verified against the server's totals
    refetched = await verify_periods(session_factory, server_id, platform, start, end, timedelta(minutes=1))

    # then only the damaged minute was refetched and the store is whole again
    assert refetched == [hole]
    assert await _deal_ids(session_factory, server_id) == all_ids


async def test_positions_snapshot_reconciliation_repairs_drift(
    session_factory: Any, server_id: int, platform: Any
) -> None:
    await pull_server(session_factory, server_id, platform)
    snapshot = await platform.open_positions()
    lost, skewed = snapshot[0].position, snapshot[1].position
    async with session_factory() as session, session.begin():
        await session.execute(text("DELETE FROM trading_positions WHERE server_id = :s AND position_id = :p"),
                              {"s": server_id, "p": lost})
        await session.execute(text("UPDATE trading_positions SET volume = volume * 3 WHERE server_id = :s "
                                   "AND position_id = :p"), {"s": server_id, "p": skewed})
        await session.execute(text("INSERT INTO trading_positions (server_id, position_id, login, symbol, side, "
                                   "volume) VALUES (:s, 1, 1, 'X', 'BUY', 1)"), {"s": server_id})
        cursor = await read_cursor(session, server_id)
        result = await reconcile_positions(session, server_id, snapshot, cursor)
    assert (result.missing, result.extra, result.different, result.skipped) == (1, 1, 1, 0)
    rows = await _rows(session_factory, "SELECT position_id, volume FROM trading_positions WHERE server_id = :s",
                       s=server_id)
    assert dict(rows) == {p.position: p.volume for p in snapshot}
    assert utc_from_ms(cursor.time_ms) is not None


async def test_partition_maintenance_creates_months_ahead(session_factory: Any) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(text("SELECT trading_ensure_deal_partitions(6)"))
        again = await session.scalar(text("SELECT trading_ensure_deal_partitions(6)"))
        parts = await session.scalar(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'trading_deals'::regclass"))
    assert again == 0 and parts >= 9  # default + previous, current and 6+ months ahead
