"""Ray runner: the same shard calls as the local runner, mapped as Ray tasks.

Starts a local Ray (num_cpus = processes) when no cluster address is given,
and shuts it down afterwards; joins an existing cluster with ``address``.
A step's ``resources`` become the task's ``num_cpus``/``num_gpus``/``memory``; GPUs asked
of a cluster that has none are dropped (with a note) rather than waited for forever.

Failures, two kinds:
- the task's own (bad input, a bug): run_shard retries what is transient and records
  the rest once; Ray never runs it again (``retry_exceptions`` is off);
- the system's (the node died, the worker was killed or ran out of memory, its result
  was lost): the task is submitted again, on any node alive, up to ``SYSTEM_RETRIES``
  times (resubmitted here rather than by Ray's ``max_retries``, so each retry is counted
  and the summary can say which shards moved). Past that, the runner gives the item
  back to the driver as lost (``fn.lost(item, error)``: a failure record; the rerun
  redoes it) and the other tasks go on.
Ray holds only as many tasks as the cluster can run, plus a few queued (``_Window``); the
rest wait in the runner, where a task run again goes to the front of the line, so a loss
late in a step is not redone alone at its end.
Every task is safe to run twice, even at once (a zombie on a partitioned node): its
outputs are written under temporary names and renamed, the completion marker last.
A task that goes silent is run again without waiting for Ray to declare its node dead
(by default Ray waits ~15 s of missed health checks, and never for a worker that hangs):
on a cluster of several nodes each running task pings a small actor on the driver's node
every ``BEAT_SECONDS``; a task whose pings stop for ``silent_seconds`` while it has not
finished gets a second copy on any node (a backup: counted with the retries). The first
copy to finish gives the result; the other is cancelled, and if it still runs (a node cut
off, not dead) its writes replace the first's with the same bytes, never half a file.
When no node that can run a task is left for ``NO_NODES_SECONDS``, the step stops with
one line instead of waiting forever. ``stats`` (nodes seen and lost, retries) reach the
console and manifest.json through ``describe()`` and ``notes()``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from grassroots.errors import FatalError, InputError
from grassroots.step import Resources


def _system_failures() -> tuple[type, ...]:
    import ray.exceptions as e

    return (e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError, e.LocalRayletDiedError, e.OutOfMemoryError,
            e.TaskUnschedulableError, e.RaySystemError)


SYSTEM_RETRIES = 3  # resubmissions of a task whose node or worker was lost
NO_NODES_SECONDS = 60.0  # how long the cluster may have no node able to run a pending task
BEAT_SECONDS = 1.0  # how often a running task pings the driver's heartbeat actor
SETTLE_SECONDS = 3.0  # at a step's end, how long to wait for Ray to declare dead a node whose tasks were lost
SILENT_SECONDS = 3.0  # a running task not heard from for this long gets a backup copy (a copy too many only costs CPU)


@dataclass(frozen=True)
class RayRunner:
    processes: int = 1
    address: str | None = None
    no_nodes_seconds: float = NO_NODES_SECONDS  # then a step with tasks no node can run stops
    silent_seconds: float = SILENT_SECONDS  # then a running task gets a backup copy
    heartbeats: bool | None = None  # None: on clusters of more than one node (a local Ray has one)
    stats: dict = field(default_factory=dict, compare=False, hash=False, repr=False)  # of the last map

    def describe(self) -> dict:
        return {"runner": "ray", "processes": self.processes, "address": self.address, **self.stats}

    def notes(self) -> list[str]:
        """What the last step's summary should say about the cluster (nothing when all went well)."""
        s = self.stats
        if not (s.get("nodes_lost") or s.get("retries") or s.get("lost_tasks")):
            return []
        n = s.get("retries", 0)
        return [f"ray: {s.get('nodes_seen', 0)} nodes seen, {s.get('nodes_lost', 0)} lost; {n} "
                f"{'task' if n == 1 else 'tasks'} run again after a node or worker was lost"
                f"{' or went silent' if s.get('backups') else ''} "
                f"(shards {', '.join(map(str, s.get('retried', [])))}); {s.get('lost_tasks', 0)} given up"]

    def _init(self) -> bool:
        import ray

        if ray.is_initialized():
            return False
        if self.address:
            _join(self.address)
        else:
            # Workers of a local Ray see the driver's import path, so stages
            # defined outside the installed package (tests, user code) resolve.
            # Through the environment the local Ray inherits, not a runtime_env:
            # that made Ray start a separate worker pool for it.
            path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
            saved = os.environ.get("PYTHONPATH")
            os.environ["PYTHONPATH"] = path
            try:
                ray.init(
                    _node_ip_address="127.0.0.1",  # a local Ray never needs another interface
                    num_cpus=max(1, self.processes),
                    include_dashboard=False,
                    log_to_driver=True,
                )
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
        return True

    @contextlib.contextmanager
    def session(self):
        """Keep one Ray up across several stages (the demo runs two)."""
        import ray

        started_here = self._init()
        try:
            yield self
        finally:
            if started_here:
                ray.shutdown()

    def map(self, fn: Callable, items: Iterable, resources: Resources = Resources()) -> Iterator:
        import ray

        started_here = self._init()
        watch = None
        try:
            remote = ray.remote(max_retries=0, retry_exceptions=False,
                                **ray_options(resources, ray.cluster_resources()))(_call)
            tracker = _Cluster(self.stats, resources, self.no_nodes_seconds)
            watch = _Heartbeats.start() if self._heartbeats(tracker) else None  # None: Ray's detection only
            items = list(items)
            attempts = [0] * len(items)
            pending: dict = {}  # ObjectRef -> item index; an item may have two copies running (a backup)
            copies = [0] * len(items)  # copies of each item in pending
            silent: set = set()  # copies reported silent (their item got a backup)
            waiting = collections.deque(range(len(items)))  # not handed to Ray yet; a task run again goes first
            window = _Window(resources)

            def submit(i: int) -> None:
                ref = remote.remote(fn, items[i], watch.actor if watch else None)
                pending[ref] = i
                copies[i] += 1
                if watch:
                    watch.submitted(ref)

            while pending or waiting:
                for _ in range(window.room(len(pending), len(waiting))):
                    submit(waiting.popleft())
                done, _ = ray.wait(list(pending), num_returns=1,
                                   timeout=BEAT_SECONDS if watch or waiting else min(5.0, self.no_nodes_seconds / 4))
                if watch:
                    for ref in watch.silent(pending, self.silent_seconds):
                        silent.add(ref)
                        i = pending[ref]
                        if copies[i] == 1 and attempts[i] < SYSTEM_RETRIES:  # one backup at a time
                            attempts[i] += 1
                            tracker.retried(items[i], backup=True)
                            submit(i)  # at once: its first copy holds a slot it may never give back
                if not done:
                    tracker.check_schedulable()
                    continue
                i = pending.pop(done[0])
                copies[i] -= 1
                if watch:
                    watch.finished(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as e:  # the task's own exception (a bug, a fatal error)
                    raise (getattr(e, "cause", None) or e.as_instanceof_cause()) from None
                except _system_failures() as e:
                    tracker.lost_node_check(e)
                    if any(j == i and r not in silent for r, j in pending.items()):
                        continue  # another copy runs on and is heard from: that one answers
                    if attempts[i] < SYSTEM_RETRIES:
                        attempts[i] += 1
                        tracker.retried(items[i])
                        waiting.appendleft(i)  # first in line: not behind the rest of the step
                    elif hasattr(fn, "lost"):
                        tracker.gave_up()
                        yield fn.lost(items[i], e)
                    else:
                        raise
                    continue
                if copies[i]:  # the other copy of this item is not needed any more
                    for ref in [r for r, j in pending.items() if j == i]:
                        del pending[ref]
                        copies[i] -= 1
                        if watch:
                            watch.finished(ref)
                        with contextlib.suppress(Exception):  # gone with its node, or just finished
                            ray.cancel(ref)
                yield result
            tracker.lost_node_check()
            tracker.settle()
        finally:
            if watch is not None:  # one actor per map: a session running several steps keeps none
                with contextlib.suppress(Exception):
                    ray.kill(watch.actor)
            if started_here:
                ray.shutdown()

    def _heartbeats(self, tracker: "_Cluster") -> bool:
        """Whether running tasks ping the driver: asked for, or on a cluster of several nodes
        (on one node, the node lost is the driver's: nothing to run a backup on)."""
        return self.heartbeats if self.heartbeats is not None else len(tracker.alive) > 1


class _Heartbeats:
    """The driver's view of its running tasks: a heartbeat actor on the driver's node (it
    dies with the driver, never with a worker node) that tasks ping, and when each task
    was last heard from, by the driver's clock (the actor counts pings: no clocks compared
    across machines)."""

    def __init__(self, actor):
        self.actor = actor
        self.heard: dict = {}  # task id (hex) -> (pings seen, driver's time the count last changed)
        self.ids: dict = {}  # ObjectRef -> task id (hex)
        self.last_poll = 0.0

    @classmethod
    def start(cls) -> "_Heartbeats":
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            here = ray.get_runtime_context().get_node_id()
            strategy = NodeAffinitySchedulingStrategy(here, soft=True)
        except Exception:  # noqa: BLE001 - a driver outside the cluster (Ray client): any node
            strategy = "DEFAULT"
        actor = ray.remote(num_cpus=0, max_restarts=0)(_BeatCounter).options(scheduling_strategy=strategy).remote()
        return cls(actor)

    def submitted(self, ref) -> None:
        self.ids[ref] = ref.task_id().hex()

    def finished(self, ref) -> None:
        self.heard.pop(self.ids.pop(ref, None), None)

    def silent(self, pending: dict, silent_seconds: float) -> list:
        """The pending tasks that pinged at least once and not since ``silent_seconds`` ago
        (a task still queued has never pinged: it is not silent)."""
        import ray

        now = time.monotonic()
        if now - self.last_poll < BEAT_SECONDS:
            return []
        self.last_poll = now
        try:
            counts = ray.get(self.actor.counts.remote(), timeout=max(BEAT_SECONDS, 2.0))
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayError):
            return []  # the actor is busy or starting: try again at the next poll
        out = []
        for ref in pending:
            tid = self.ids.get(ref)
            n = counts.get(tid)
            if n is None:
                continue
            seen = self.heard.get(tid)
            if seen is None or seen[0] != n:
                self.heard[tid] = (n, now)
            elif now - seen[1] >= silent_seconds:
                out.append(ref)
                self.heard[tid] = (n, float("inf"))  # reported once
        return out


class _BeatCounter:
    """The heartbeat actor: how many times each running task pinged."""

    def __init__(self):
        self.pings: dict[str, int] = {}

    def ping(self, task: str) -> None:
        self.pings[task] = self.pings.get(task, 0) + 1

    def counts(self) -> dict[str, int]:
        return self.pings


def _reachable(address: str, timeout: float = 5.0) -> None:
    import socket
    from urllib.parse import urlsplit

    if address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"ray-gcs://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise InputError(address, "is not a Ray cluster address", "use host:port (6379), ray://host:10001 or auto")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise InputError(address, f"no Ray cluster answers there ({e.strerror or type(e).__name__})",
                         "start one with `ray start --head`, or check --ray-address") from None


class _Window:
    """How many tasks Ray holds at once: one per slot the cluster has for the step's
    resources (nodes that join add slots; re-read every ``REFRESH`` seconds), plus a quarter
    more queued so a node never waits on the driver. The rest wait in the runner, where a
    task run again after a loss goes to the front of the line: handed to Ray all at once,
    it queued behind every other task of the step and ran last, alone."""

    REFRESH = 1.0

    def __init__(self, resources: Resources):
        self.resources, self.slots, self.read_at = resources, 0, float("-inf")

    def room(self, pending: int, waiting: int) -> int:
        if not waiting:
            return 0
        now = time.monotonic()
        if now - self.read_at >= self.REFRESH:
            import ray

            self.slots, self.read_at = slots(self.resources, ray.cluster_resources()), now
        limit = self.slots + max(1, self.slots // 4)
        return min(waiting, max(limit - pending, 0 if pending else 1))  # one at least: the starved check needs it


def slots(resources: Resources, cluster: dict) -> int:
    """How many tasks with ``resources`` the ``cluster`` (Ray's resource totals) runs at once."""
    asked = ray_options(resources, cluster)
    fits = [int(cluster.get(name, 0) // need) for name, need in
            (("CPU", asked.get("num_cpus", 0)), ("GPU", asked.get("num_gpus", 0)), ("memory", asked.get("memory", 0)))
            if need and need > 0]
    return min(fits) if fits else 1 << 20


class _Cluster:
    """What the runner saw of the cluster during one map: nodes, losses, retries."""

    def __init__(self, stats: dict, resources: Resources, patience: float):
        import ray

        self.stats, self.resources, self.patience = stats, resources, patience
        stats.clear()
        self.alive = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        self.seen, self.dead = set(self.alive), set()
        stats.update(nodes_seen=len(self.seen), nodes_lost=0, retries=0, backups=0, retried=[], lost_tasks=0)
        self.starved_since: float | None = None

    def lost_node_check(self, error: BaseException | None = None) -> None:
        """Nodes seen and lost so far: Ray's node table (a killed node is marked dead only when
        its heartbeats have been missed for a while), and the node a NodeDiedError names."""
        import re

        import ray

        for n in ray.nodes():
            (self.seen.add if n["Alive"] else self.dead.add)(n["NodeID"])
        if isinstance(error, ray.exceptions.NodeDiedError):
            self.dead.update(m for m in re.findall(r"node ID: ([0-9a-f]{16,})", str(error)) if m in self.seen)
        self.stats.update(nodes_seen=len(self.seen), nodes_lost=len(self.dead & self.seen))

    def settle(self, seconds: float = SETTLE_SECONDS) -> None:
        """After tasks were lost with their workers (not as backups) and no node is known dead yet:
        wait up to ``seconds`` for Ray to declare the node, so the summary does not say "0 lost"
        of a node killed moments before the step ended (a worker crash on a live node waits it out)."""
        deadline = time.monotonic() + seconds
        while (self.stats["retries"] > self.stats["backups"] and not self.stats["nodes_lost"]
               and time.monotonic() < deadline):
            time.sleep(0.25)
            self.lost_node_check()

    def retried(self, item, backup: bool = False) -> None:
        self.stats["retries"] += 1
        self.stats["backups"] += backup
        self.stats["retried"].append(getattr(item, "shard", item))

    def gave_up(self) -> None:
        self.stats["lost_tasks"] += 1

    def check_schedulable(self) -> None:
        """Raise once no node able to run a task has been alive for ``patience`` seconds."""
        import ray

        self.lost_node_check()
        total = ray.cluster_resources()
        if total.get("CPU", 0) >= self.resources.cpus:
            self.starved_since = None
            return
        now = time.monotonic()
        self.starved_since = self.starved_since or now
        if now - self.starved_since >= self.patience:
            raise FatalError(f"the Ray cluster has had no node with {self.resources.cpus:g} CPU for "
                             f"{self.patience:.0f} s ({len(self.dead & self.seen)} of {len(self.seen)} nodes lost): add nodes "
                             "and run the same command again (finished shards are kept)")


def _join(address: str) -> None:
    """Connect to the cluster at ``address``; one clear error when it cannot be. A
    ``host:port`` or ``ray://host:port`` is dialled first (5 s): Ray itself waits for an
    unreachable cluster for minutes, retrying without end."""
    import ray

    _reachable(address)
    try:
        ray.init(address=address, log_to_driver=True)
    except ConnectionError as e:
        raise InputError(address, f"no Ray cluster answers there ({str(e).splitlines()[0][:200]})",
                         "start one with `ray start --head`, or check --ray-address") from None
    except RuntimeError as e:
        if "version" in str(e).lower():
            raise FatalError(f"the Ray cluster at {address} runs another version of Ray or Python than this "
                             f"machine ({_versions(str(e))}): install the same versions on every node") from None
        raise


def _versions(message: str) -> str:
    """Ray's version-mismatch message (the cluster's versions, then this process's, one per
    line) as one line: ``cluster: Ray 1.13.0, Python 3.11.7; here: Ray 2.60.0, Python 3.11.7``."""
    found = re.findall(r"\b(Ray|Python):\s*(\S+)", message)
    if len(found) < 4:
        return " ".join(message.split())[:200]
    side = [", ".join(f"{name} {version}" for name, version in found[i:i + 2]) for i in (0, 2)]
    return f"cluster: {side[0]}; here: {side[1]}"


def ray_options(resources: Resources, cluster: dict) -> dict:
    """Ray task options for a step's resources on a cluster with ``cluster`` resources."""
    opts: dict = {"num_cpus": resources.cpus}
    if resources.gpus > 0:
        if cluster.get("GPU", 0) >= resources.gpus:  # else the step runs on CPUs (never waits forever)
            opts["num_gpus"] = resources.gpus
    if resources.memory:
        opts["memory"] = resources.memory
    return opts


def _call(fn: Callable, item, beats=None):
    """``fn(item)`` in a Ray worker; with ``beats`` (the heartbeat actor), pinging it every
    ``BEAT_SECONDS`` from a thread while ``fn`` runs."""
    if beats is None:
        return fn(item)
    import threading

    import ray

    task = ray.get_runtime_context().get_task_id()
    stop = threading.Event()

    def beat() -> None:
        while True:
            beats.ping.remote(task)
            if stop.wait(BEAT_SECONDS):
                return

    threading.Thread(target=beat, daemon=True, name="grassroots-heartbeat").start()
    try:
        return fn(item)
    finally:
        stop.set()
