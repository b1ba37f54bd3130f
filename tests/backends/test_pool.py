import math
import threading
import time

import pytest

from autonom.backends.pool import ModelPool
from autonom.errors import CapacityError

MB = 2**20


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Engine:
    """Records loads and unloads; handles are strings."""

    def __init__(self):
        self.loaded: list[str] = []
        self.events: list[str] = []

    def loader(self, name):
        def load():
            self.loaded.append(name)
            self.events.append(f"load {name}")
            return f"handle:{name}"
        return load

    def unloader(self, handle):
        name = handle.removeprefix("handle:")
        self.loaded.remove(name)
        self.events.append(f"unload {name}")


def use(pool, engine, name, keep_alive=300.0, size=100 * MB):
    with pool.lease((name, "chat"), size, engine.loader(name), engine.unloader, keep_alive) as h:
        assert h == f"handle:{name}"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine():
    return Engine()


def make_pool(clock, **kw):
    kw.setdefault("max_loaded", 2)
    kw.setdefault("budget_bytes", 1000 * MB)
    return ModelPool(clock=clock, wait_timeout=0.5, **kw)


def test_model_loads_once_and_stays_for_keep_alive(clock, engine):
    pool = make_pool(clock)
    use(pool, engine, "a")
    use(pool, engine, "a")
    assert engine.events == ["load a"]
    clock.now += 299
    assert pool.reap() == 0
    clock.now += 2
    assert pool.reap() == 1
    assert engine.loaded == []


def test_keep_alive_zero_unloads_after_the_request(clock, engine):
    pool = make_pool(clock)
    use(pool, engine, "a", keep_alive=0)
    assert engine.events == ["load a", "unload a"]
    assert pool.snapshot() == []


def test_infinite_keep_alive_never_expires(clock, engine):
    pool = make_pool(clock)
    use(pool, engine, "a", keep_alive=math.inf)
    clock.now += 10**9
    assert pool.reap() == 0
    assert pool.snapshot()[0].expires_in is None


def test_least_recently_used_is_unloaded_first(clock, engine):
    pool = make_pool(clock, max_loaded=2)
    use(pool, engine, "a")
    clock.now += 1
    use(pool, engine, "b")
    clock.now += 1
    use(pool, engine, "a")  # a is now more recent than b
    clock.now += 1
    use(pool, engine, "c")
    assert sorted(engine.loaded) == ["a", "c"]
    assert engine.events[-2:] == ["unload b", "load c"]


def test_memory_budget_limits_what_is_loaded_together(clock, engine):
    pool = make_pool(clock, max_loaded=5, budget_bytes=250 * MB)
    use(pool, engine, "a", size=100 * MB)
    use(pool, engine, "b", size=100 * MB)
    use(pool, engine, "c", size=100 * MB)
    assert sorted(engine.loaded) == ["b", "c"]


def test_model_bigger_than_budget_is_refused(clock, engine):
    pool = make_pool(clock, budget_bytes=50 * MB)
    with pytest.raises(CapacityError, match="memory budget"):
        use(pool, engine, "riesig", size=100 * MB)
    assert engine.events == []


def test_busy_model_is_never_unloaded_and_waiters_time_out(clock, engine):
    pool = make_pool(clock, max_loaded=1)
    with pool.lease(("a", "chat"), MB, engine.loader("a"), engine.unloader, 300):
        with pytest.raises(CapacityError, match="busy"):
            # the fake clock does not move, so the wait ends by the real 1 s poll + timeout
            clock_thread = threading.Timer(0.2, lambda: setattr(clock, "now", clock.now + 1))
            clock_thread.start()
            use(pool, engine, "b")
        assert engine.loaded == ["a"]
    clock_thread.join()


def test_failed_load_leaves_no_entry(clock, engine):
    pool = make_pool(clock)

    def broken():
        raise RuntimeError("kaputt")

    with pytest.raises(RuntimeError), pool.lease(("x", "chat"), MB, broken, engine.unloader, 5):
        pass
    assert pool.snapshot() == []
    use(pool, engine, "a")
    assert engine.loaded == ["a"]


def test_concurrent_first_requests_load_once(engine):
    pool = ModelPool(max_loaded=2, budget_bytes=1000 * MB)
    gate = threading.Event()

    def slow_loader():
        gate.wait(5)
        return engine.loader("a")()

    results = []

    def worker():
        with pool.lease(("a", "chat"), MB, slow_loader, engine.unloader, 300) as h:
            results.append(h)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(10)
    assert results == ["handle:a"] * 4
    assert engine.events == ["load a"]
    pool.close()
    assert engine.loaded == []


def test_reaper_thread_unloads_expired_models_on_its_own(engine):
    changes = []
    pool = ModelPool(max_loaded=2, budget_bytes=1000 * MB, on_change=changes.append)
    use(pool, engine, "a", keep_alive=0.2)
    deadline = time.monotonic() + 10
    while engine.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.loaded == []
    assert changes[-1] == []


def test_unload_by_name_only_touches_idle_models(clock, engine):
    pool = make_pool(clock)
    use(pool, engine, "a")
    assert pool.unload("a") is True
    assert pool.unload("a") is False
    assert engine.loaded == []
