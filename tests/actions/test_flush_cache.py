"""flush_cache against the real Redis on 127.0.0.1:6379 (dbs 13–15, keys under a prefix of our own),
a private redis-server that requires a password, and a memcached stand-in speaking the text protocol."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from pydantic import ValidationError

from handrail.actions.base import ActionContext, ActionScope
from handrail.actions.flush_cache import CacheConnection, FlushCacheAction, FlushCacheParams
from handrail.errors import ActionError
from support.servers import refused_port, silent_port

pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]

REDIS = "redis://127.0.0.1:6379"
PATTERN_DB, OTHER_DB, FLUSH_DB = 13, 14, 15
"""PATTERN_DB is only ever touched under our prefix; FLUSH_DB is emptied whole."""
PASSWORD = "hunter2-s3cret"


def params(**config: Any) -> FlushCacheParams:
    return FlushCacheParams.model_validate(config)


def context(timeout: float = 10.0, **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-9",
        idempotency_key="inc-9:flush:1",
        template={"labels": labels, "annotations": {}},
        timeout=timeout,
    )


def cache(url: str, timeout: float = 5.0) -> CacheConnection:
    return CacheConnection.model_validate({"url": url, "timeout": timeout})


@pytest.fixture
def prefix() -> str:
    return f"hr-test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def db() -> AsyncIterator[Any]:
    """`db(n)`: a plain client on db n of the shared server; keys under `hr-test-` are removed afterwards."""
    clients: dict[int, redis.Redis] = {}

    def open_db(number: int) -> redis.Redis:
        if number not in clients:
            clients[number] = redis.Redis.from_url(f"{REDIS}/{number}")
        return clients[number]

    yield open_db
    for client in clients.values():
        async for key in client.scan_iter(match="hr-test-*", count=1000):
            await client.unlink(key)
        await client.aclose()


@pytest.fixture
async def action_for() -> AsyncIterator[Any]:
    """`action_for(caches, **options)`: a FlushCacheAction, closed afterwards."""
    actions: list[FlushCacheAction] = []

    def build(caches: dict[str, CacheConnection], **options: int) -> FlushCacheAction:
        action = FlushCacheAction(caches, **options)
        actions.append(action)
        return action

    yield build
    for action in actions:
        await action.aclose()


async def command_calls(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (`INFO commandstats`): what was really sent, by anyone."""
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def delta(before: dict[str, int], after: dict[str, int], command: str) -> int:
    return after.get(command, 0) - before.get(command, 0)


async def fill(client: redis.Redis, keys: list[str]) -> None:
    await client.mset(dict.fromkeys(keys, "x"))


async def remaining(client: redis.Redis, prefix: str) -> set[str]:
    return {key.decode() async for key in client.scan_iter(match=f"{prefix}*", count=1000)}


# -- FLUSHDB ----------------------------------------------------------------------------------


async def test_flushdb_empties_only_its_db_and_reports_how_many_keys_it_held(
    db: Any, action_for: Any, prefix: str
) -> None:
    target, other = db(FLUSH_DB), db(OTHER_DB)
    await fill(target, [f"{prefix}{n}" for n in range(5)])
    await fill(other, [f"{prefix}kept"])
    held = int(await target.dbsize())
    before = await command_calls(target)
    # the URL names the other db; the params' db wins (and the other db is the one that must survive)
    action = action_for({"sessions": cache(f"{REDIS}/{OTHER_DB}")})

    outcome = await action.execute(params(connection="sessions", db=FLUSH_DB), context())

    after = await command_calls(target)
    assert outcome.ok, outcome
    assert outcome.message == f"flushed db {FLUSH_DB} (it held {held} keys)"
    assert "FLUSHDB ASYNC: OK" in outcome.output
    assert await target.dbsize() == 0
    assert await remaining(other, prefix) == {f"{prefix}kept"}
    assert delta(before, after, "flushdb") >= 1
    assert delta(before, after, "flushall") == 0


async def test_flushdb_uses_the_db_in_the_url_when_the_params_name_none(db: Any, action_for: Any, prefix: str) -> None:
    target = db(FLUSH_DB)
    await fill(target, [f"{prefix}a"])
    action = action_for({"sessions": cache(f"{REDIS}/{FLUSH_DB}")})

    outcome = await action.execute(params(connection="sessions"), context())

    assert outcome.ok, outcome
    assert outcome.message.startswith(f"flushed db {FLUSH_DB} ")
    assert await target.dbsize() == 0


# -- SCAN + UNLINK ----------------------------------------------------------------------------


async def test_pattern_unlinks_only_matching_keys_with_scan_and_unlink_never_keys(
    db: Any, action_for: Any, prefix: str
) -> None:
    client = db(PATTERN_DB)
    sessions = [f"{prefix}session:{n}" for n in range(25)]
    others = [f"{prefix}user:{n}" for n in range(5)] + [f"{prefix}sessions", f"{prefix}xsession:1"]
    await fill(client, sessions + others)
    await fill(db(OTHER_DB), [f"{prefix}session:elsewhere"])
    before = await command_calls(client)
    action = action_for({"sessions": cache(f"{REDIS}/{PATTERN_DB}")}, scan_count=7)

    outcome = await action.execute(params(connection="sessions", pattern=f"{prefix}session:*"), context())

    after = await command_calls(client)
    assert outcome.ok, outcome
    assert outcome.message == f"unlinked 25 keys matching '{prefix}session:*'"
    assert "UNLINK: 25 keys named, 25 of them unlinked" in outcome.output
    assert await remaining(client, prefix) == set(others)
    assert await remaining(db(OTHER_DB), prefix) == {f"{prefix}session:elsewhere"}
    assert delta(before, after, "scan") >= 2  # COUNT 7 cannot walk the db in one call
    assert delta(before, after, "unlink") >= 1
    for never in ("keys", "flushall", "flushdb"):
        assert delta(before, after, never) == 0, never


@pytest.mark.parametrize(
    ("label", "unlinked"),
    [
        pytest.param("*", "user:*", id="star"),
        pytest.param("a*", "user:a*", id="prefix-star"),
        pytest.param("?", "user:?", id="question-mark"),
        pytest.param("[ab]", "user:[ab]", id="character-class"),
        pytest.param("\\*", "user:\\*", id="backslash"),
        pytest.param("nobody", None, id="no-match"),
    ],
)
async def test_a_label_inside_the_pattern_only_matches_itself(
    db: Any, action_for: Any, prefix: str, label: str, unlinked: str | None
) -> None:
    client = db(PATTERN_DB)
    names = ["user:*", "user:a*", "user:?", "user:[ab]", "user:\\*", "user:a", "user:b", "user:abc", "user:x"]
    await fill(client, [prefix + name for name in names])
    action = action_for({"sessions": cache(f"{REDIS}/{PATTERN_DB}")})

    outcome = await action.execute(
        params(connection="sessions", pattern=prefix + "user:{{ labels.user }}"), context(user=label)
    )

    assert outcome.ok, outcome
    assert outcome.message.startswith(f"unlinked {0 if unlinked is None else 1} key")
    assert await remaining(client, prefix) == {prefix + name for name in names if name != unlinked}


async def test_max_keys_stops_early_and_says_so(db: Any, action_for: Any, prefix: str) -> None:
    client = db(PATTERN_DB)
    await fill(client, [f"{prefix}session:{n}" for n in range(30)])
    action = action_for({"sessions": cache(f"{REDIS}/{PATTERN_DB}")}, max_keys=12, scan_count=5)

    outcome = await action.execute(params(connection="sessions", pattern=f"{prefix}session:*"), context())

    # ok: the limit is the rail working; a failed outcome would invite a retry and 12 more keys
    assert outcome.ok, outcome
    assert (
        outcome.message
        == f"unlinked 12 keys matching '{prefix}session:*' (stopped at the limit of 12; more may remain)"
    )
    assert "stopped at the limit of 12 keys (max_keys); more may remain" in outcome.output
    assert len(await remaining(client, prefix)) == 18


async def test_max_keys_above_the_matches_does_not_claim_a_stop(db: Any, action_for: Any, prefix: str) -> None:
    client = db(PATTERN_DB)
    await fill(client, [f"{prefix}session:{n}" for n in range(3)])
    action = action_for({"sessions": cache(f"{REDIS}/{PATTERN_DB}")}, max_keys=4, scan_count=2)

    outcome = await action.execute(params(connection="sessions", pattern=f"{prefix}session:*"), context())

    assert outcome.ok, outcome
    assert outcome.message == f"unlinked 3 keys matching '{prefix}session:*'"
    assert "stopped" not in outcome.output


async def test_pattern_with_a_label_that_is_missing_is_an_action_error(action_for: Any) -> None:
    action = action_for({"sessions": cache(f"{REDIS}/{PATTERN_DB}")})
    with pytest.raises(ActionError, match=r"flush_cache pattern: .*labels\.user"):
        await action.execute(params(connection="sessions", pattern="user:{{ labels.user }}"), context())


# -- failures -------------------------------------------------------------------------------


async def test_nothing_listening_fails_within_the_timeout(action_for: Any) -> None:
    with refused_port() as port:
        action = action_for({"sessions": cache(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout=2.0)})
        started = time.monotonic()
        outcome = await action.execute(params(connection="sessions"), context())
    assert time.monotonic() - started < 2.0
    assert not outcome.ok
    assert outcome.message.startswith(f"cache 'sessions' (redis://:***@127.0.0.1:{port}/0): Error 111 connecting")
    assert PASSWORD not in outcome.message + outcome.output


@pytest.mark.parametrize(
    ("connection_timeout", "step_timeout", "pattern"),
    [
        pytest.param(0.4, 10.0, None, id="connection-timeout-flushdb"),
        pytest.param(10.0, 0.4, None, id="step-timeout-flushdb"),
        pytest.param(0.4, 10.0, "session:*", id="connection-timeout-pattern"),
    ],
)
async def test_a_server_that_never_answers_fails_after_the_shorter_timeout(
    action_for: Any, connection_timeout: float, step_timeout: float, pattern: str | None
) -> None:
    with silent_port() as port:
        action = action_for({"sessions": cache(f"redis://127.0.0.1:{port}/0", timeout=connection_timeout)})
        started = time.monotonic()
        outcome = await action.execute(params(connection="sessions", pattern=pattern), context(timeout=step_timeout))
        elapsed = time.monotonic() - started
    assert not outcome.ok
    assert outcome.message == f"cache 'sessions' (redis://127.0.0.1:{port}/0): timed out after 0.4s"
    assert 0.3 < elapsed < 3.0


async def test_an_unknown_user_is_refused_and_the_password_never_shown(action_for: Any) -> None:
    url = f"redis://handrail-nobody:{PASSWORD}@127.0.0.1:6379/{FLUSH_DB}"
    action = action_for({"sessions": cache(url)})

    outcome = await action.execute(params(connection="sessions"), context())

    assert not outcome.ok
    assert outcome.message == (
        f"cache 'sessions' (redis://handrail-nobody:***@127.0.0.1:6379/{FLUSH_DB}): authentication failed:"
        " invalid username-password pair or user is disabled."
    )
    assert PASSWORD not in outcome.message + outcome.output


async def test_a_password_for_a_server_that_has_none_is_what_the_server_decides(
    db: Any, action_for: Any, prefix: str
) -> None:
    """The shared server has no requirepass: its default user is `nopass`, so HELLO … AUTH accepts any password."""
    client = db(FLUSH_DB)
    if (await client.config_get("requirepass")).get("requirepass"):
        pytest.skip("the shared Redis requires a password")
    await fill(client, [f"{prefix}a"])
    action = action_for({"sessions": cache(f"redis://:wrong@127.0.0.1:6379/{FLUSH_DB}")})

    outcome = await action.execute(params(connection="sessions"), context())

    assert outcome.ok, outcome
    assert await client.dbsize() == 0


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A redis-server of our own on a free port, with `requirepass` (the shared one has no password)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    directory: Path = tmp_path_factory.mktemp("redis")
    with refused_port() as port:
        pass  # a port nobody holds now; redis-server takes it a moment later
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(directory), "--requirepass", PASSWORD, "--logfile", str(directory / "log")]
    log = directory / "log"
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not (log.exists() and "Ready to accept" in log.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start: {log.read_text() if log.exists() else 'no log'}")
            time.sleep(0.02)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=5)


@pytest.mark.parametrize(
    ("password", "ok"),
    [pytest.param("wrong-password", False, id="wrong"), pytest.param(PASSWORD, True, id="right")],
)
async def test_a_server_that_requires_a_password_checks_it(
    private_redis: int, action_for: Any, password: str, ok: bool
) -> None:
    action = action_for({"sessions": cache(f"redis://:{password}@127.0.0.1:{private_redis}/3")})

    outcome = await action.execute(params(connection="sessions"), context())

    assert outcome.ok is ok, outcome
    if ok:
        assert outcome.message == "flushed db 3 (it held 0 keys)"
    else:
        assert outcome.message == (
            f"cache 'sessions' (redis://:***@127.0.0.1:{private_redis}/3): authentication failed:"
            " invalid username-password pair or user is disabled."
        )
    assert password not in outcome.message + outcome.output


DOCUMENTED_ACL = "+hello +client|setname +select +dbsize +flushdb +scan +unlink"
"""What docs/actions/flush_cache.md says the Redis user needs."""


@pytest.mark.parametrize(
    ("rules", "ok"),
    [
        pytest.param(DOCUMENTED_ACL, True, id="documented-acl"),
        pytest.param(DOCUMENTED_ACL.replace(" +unlink", "").replace(" +flushdb", ""), False, id="no-unlink-flushdb"),
    ],
)
async def test_an_acl_user_needs_only_the_documented_commands(
    private_redis: int, action_for: Any, prefix: str, rules: str, ok: bool
) -> None:
    admin = redis.Redis(port=private_redis, password=PASSWORD, db=2)
    user = f"handrail-{uuid.uuid4().hex[:8]}"
    try:
        await admin.execute_command(
            "ACL", "SETUSER", user, "on", ">user-pw", "~*", "resetchannels", "-@all", *rules.split()
        )
        await fill(admin, [f"{prefix}a:1", f"{prefix}a:2", f"{prefix}b:1"])
        action = action_for({"c": cache(f"redis://{user}:user-pw@127.0.0.1:{private_redis}/2")})

        by_pattern = await action.execute(params(connection="c", pattern=f"{prefix}a:*"), context())
        whole_db = await action.execute(params(connection="c"), context())

        assert (by_pattern.ok, whole_db.ok) == (ok, ok), (by_pattern, whole_db)
        if ok:
            assert by_pattern.message == f"unlinked 2 keys matching '{prefix}a:*'"
            assert whole_db.message == "flushed db 2 (it held 1 key)"
        else:
            assert "no permissions to run the 'unlink' command" in by_pattern.message
            assert "no permissions to run the 'flushdb' command" in whole_db.message
            assert "more may remain" in by_pattern.message
            assert await admin.dbsize() == 3
        assert "user-pw" not in by_pattern.message + by_pattern.output + whole_db.message
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.flushdb()
        await admin.aclose()


async def test_an_unknown_connection_is_an_action_error(action_for: Any) -> None:
    action = action_for({"sessions": cache(f"{REDIS}/0"), "pages": cache(f"{REDIS}/1")})
    with pytest.raises(ActionError, match=r"no cache connection 'nope' .*known: 'pages', 'sessions'"):
        await action.execute(params(connection="nope"), context())
    with pytest.raises(ActionError, match="no cache connection 'nope'"):
        action.describe(params(connection="nope"), context())
    with pytest.raises(ActionError, match="no cache connection 'nope'"):
        action.scope(params(connection="nope"), context())


async def test_a_backend_that_does_not_match_the_url_is_an_action_error(action_for: Any) -> None:
    action = action_for({"mc": cache("memcached://127.0.0.1:11211"), "sessions": cache(f"{REDIS}/0")})
    with pytest.raises(ActionError, match="'mc' is a memcached connection, but the action says `backend: redis`"):
        await action.execute(params(connection="mc"), context())
    with pytest.raises(ActionError, match="'sessions' is a redis connection"):
        action.describe(params(connection="sessions", backend="memcached"), context())


# -- describe, scope, aclose ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "config", "labels", "text"),
    [
        pytest.param(
            f"redis://:{PASSWORD}@cache.internal:6379/0",
            {"db": 2},
            {},
            "FLUSHDB ASYNC on redis://:***@cache.internal:6379/2 (cache 'sessions')",
            id="flushdb-db-override",
        ),
        pytest.param(
            f"rediss://app:{PASSWORD}@cache.internal/4?ssl_cert_reqs=none",
            {},
            {},
            "FLUSHDB ASYNC on rediss://app:***@cache.internal:6379/4 (cache 'sessions')",
            id="flushdb-tls-url-db",
        ),
        pytest.param(
            "redis://app@cache.internal/1",
            {},
            {},
            "FLUSHDB ASYNC on redis://app@cache.internal:6379/1 (cache 'sessions')",
            id="flushdb-user-without-password",
        ),
        pytest.param(
            "redis://cache.internal:6380",
            {"pattern": "session:*"},
            {},
            "SCAN 0 MATCH 'session:*' COUNT 1000 + UNLINK (at most 100000 keys) on redis://cache.internal:6380/0"
            " (cache 'sessions')",
            id="pattern",
        ),
        pytest.param(
            "redis://cache.internal",
            {"pattern": "session:{{ labels.user }}:*"},
            {"user": "a*'[x]"},
            "SCAN 0 MATCH 'session:a\\*\\'\\[x\\]:*' COUNT 1000 + UNLINK (at most 100000 keys)"
            " on redis://cache.internal:6379/0 (cache 'sessions')",
            id="pattern-escaped-label",
        ),
        pytest.param(
            "memcached://mc.internal",
            {"backend": "memcached"},
            {},
            "flush_all on memcached://mc.internal:11211 (cache 'sessions')",
            id="memcached",
        ),
    ],
)
def test_describe_shows_the_exact_command_and_hides_the_password(
    url: str, config: dict[str, Any], labels: dict[str, str], text: str
) -> None:
    action = FlushCacheAction({"sessions": cache(url)})
    assert action.describe(params(connection="sessions", **config), context(**labels)) == text


@pytest.mark.parametrize(
    ("url", "config", "scope"),
    [
        pytest.param(f"{REDIS}/0", {"db": 3}, ActionScope(target="redis:sessions/3", cache="sessions"), id="db"),
        pytest.param(
            f"{REDIS}/5", {"pattern": "x:*"}, ActionScope(target="redis:sessions/5", cache="sessions"), id="url"
        ),
        pytest.param(
            "memcached://mc",
            {"backend": "memcached"},
            ActionScope(target="memcached:sessions", cache="sessions"),
            id="mc",
        ),
    ],
)
def test_scope_names_the_connection_and_db(url: str, config: dict[str, Any], scope: ActionScope) -> None:
    action = FlushCacheAction({"sessions": cache(url)})
    assert action.scope(params(connection="sessions", **config), context()) == scope


async def client_connections(client: redis.Redis) -> int:
    return sum(1 for entry in await client.client_list() if entry.get("name") == "handrail-flush-cache")


async def test_one_client_per_connection_and_db_is_reused_and_closed(db: Any, prefix: str) -> None:
    watcher = db(0)
    before = await client_connections(watcher)
    action = FlushCacheAction({"sessions": cache(f"{REDIS}/{PATTERN_DB}")})
    try:
        for _ in range(3):
            outcome = await action.execute(params(connection="sessions", pattern=f"{prefix}*"), context())
            assert outcome.ok, outcome
        assert await client_connections(watcher) == before + 1
    finally:
        await action.aclose()
    assert await client_connections(watcher) == before


# -- memcached --------------------------------------------------------------------------------


class MemcachedStandIn:
    """Speaks the memcached text protocol (doc/protocol.txt) for `stats` and `flush_all`; records every line."""

    def __init__(self, *, flush_reply: bytes | None = b"OK\r\n", stats_reply: bytes | None = None) -> None:
        self.lines: list[bytes] = []
        self.flush_reply = flush_reply
        """None: never answer flush_all."""
        self.stats_reply = stats_reply or b"STAT pid 1\r\nSTAT curr_items 3\r\nSTAT total_items 9\r\nEND\r\n"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MemcachedStandIn:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        # Python 3.11's wait_closed does not wait for the connections; each ends when the client hangs up
        async with asyncio.timeout(2):
            await asyncio.gather(*self._handlers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        while line := await reader.readline():
            self.lines.append(line)
            if line == b"stats\r\n":
                writer.write(self.stats_reply)
            elif line == b"flush_all\r\n":
                if self.flush_reply is not None:
                    writer.write(self.flush_reply)
            else:
                writer.write(b"ERROR\r\n")
            await writer.drain()
        writer.close()


async def test_memcached_sends_stats_then_flush_all_in_the_text_protocol(action_for: Any) -> None:
    async with MemcachedStandIn() as server:
        action = action_for({"mc": cache(f"memcached://127.0.0.1:{server.port}")})
        outcome = await action.execute(params(connection="mc", backend="memcached"), context())
    assert outcome.ok, outcome
    assert outcome.message == "flushed memcached (it held 3 items)"
    assert server.lines == [b"stats\r\n", b"flush_all\r\n"]


async def test_memcached_refusing_flush_all_is_a_failed_outcome(action_for: Any) -> None:
    async with MemcachedStandIn(flush_reply=b"CLIENT_ERROR flush_all not allowed\r\n") as server:
        action = action_for({"mc": cache(f"memcached://127.0.0.1:{server.port}")})
        outcome = await action.execute(params(connection="mc", backend="memcached"), context())
    assert not outcome.ok
    assert outcome.message == (
        f"cache 'mc' (memcached://127.0.0.1:{server.port}): flush_all refused:"
        " the server answered 'CLIENT_ERROR flush_all not allowed'"
    )


async def test_memcached_without_stats_still_flushes(action_for: Any) -> None:
    async with MemcachedStandIn(stats_reply=b"ERROR\r\n") as server:
        action = action_for({"mc": cache(f"memcached://127.0.0.1:{server.port}")})
        outcome = await action.execute(params(connection="mc", backend="memcached"), context())
    assert outcome.ok, outcome
    assert outcome.message == "flushed memcached"
    assert server.lines == [b"stats\r\n", b"flush_all\r\n"]


async def test_memcached_silent_after_flush_all_says_the_result_is_unknown(action_for: Any) -> None:
    async with MemcachedStandIn(flush_reply=None) as server:
        action = action_for({"mc": cache(f"memcached://127.0.0.1:{server.port}", timeout=0.3)})
        outcome = await action.execute(params(connection="mc", backend="memcached"), context())
    assert not outcome.ok
    assert outcome.message == (
        f"cache 'mc' (memcached://127.0.0.1:{server.port}): timed out after 0.3s"
        " (flush_all was sent; whether it took effect is unknown)"
    )


async def test_memcached_with_nothing_listening_is_a_failed_outcome(action_for: Any) -> None:
    with refused_port() as port:
        action = action_for({"mc": cache(f"memcached://127.0.0.1:{port}", timeout=2.0)})
        outcome = await action.execute(params(connection="mc", backend="memcached"), context())
    assert not outcome.ok
    assert outcome.message.startswith(f"cache 'mc' (memcached://127.0.0.1:{port}): ConnectionRefusedError")


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        pytest.param({"pattern": "session:*"}, "memcached cannot match keys", id="pattern"),
        pytest.param({"db": 1}, "`db` applies to redis only", id="db"),
    ],
)
async def test_memcached_with_a_pattern_or_db_is_an_action_error(
    action_for: Any, config: dict[str, Any], problem: str
) -> None:
    action = action_for({"mc": cache("memcached://127.0.0.1:11211")})
    # the linter refuses it already; an action handed such params anyway refuses too
    with pytest.raises(ValidationError, match=problem):
        params(connection="mc", backend="memcached", **config)
    unchecked = FlushCacheParams.model_construct(
        **{"connection": "mc", "backend": "memcached", "pattern": None, "db": None, **config}
    )
    with pytest.raises(ActionError, match=problem):
        await action.execute(unchecked, context())


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param(f"http://:{PASSWORD}@cache:6379", "must be redis://", id="scheme"),
        pytest.param(f"cache.internal:{PASSWORD}", "must be redis://", id="no-scheme"),
        pytest.param(f"redis://:{PASSWORD}@/0", "names no host", id="no-host"),
        pytest.param(f"redis://:{PASSWORD}@cache:port/0", "port in `url` is not a number", id="port"),
        pytest.param(f"redis://:{PASSWORD}@cache:6379/sessions", "the db number", id="db-path"),
        pytest.param(f"memcached://user:{PASSWORD}@mc:11211", "has no authentication", id="memcached-password"),
        pytest.param("memcached://mc:11211/0", "without a path", id="memcached-path"),
        pytest.param(f"redis://:{PASSWORD}@cache/0?socket_timeout=soon", "'socket_timeout'", id="query-option"),
    ],
)
def test_a_cache_url_is_checked_without_quoting_it(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        cache(url)
    assert problem in str(caught.value)
    errors = caught.value.errors(include_input=False, include_url=False)
    assert PASSWORD not in str(errors)


def test_the_action_refuses_limits_that_are_not_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        FlushCacheAction({}, max_keys=0)
    with pytest.raises(ValueError, match="scan_count"):
        FlushCacheAction({}, scan_count=0)
