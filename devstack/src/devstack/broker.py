"""Apache Kafka in KRaft mode, one node (broker and controller in one JVM), on 127.0.0.1.

The broker's jars come from Maven Central by the coordinates pinned in
``devstack/kafka/pom.xml`` (``mvn dependency:copy-dependencies``, kept in ``~/.m2`` and
copied once into a cache directory). Its log lives under the stack's data directory, so
it survives a restart like PostgreSQL's cluster does; storage formatted anew (a wiped
data directory) gets a new cluster id, and the relays find no epoch marker and republish
from the event stores (``kernel.relay``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import structlog
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from devstack.aio import run_sync
from devstack.errors import StackError
from devstack.pgbin import is_root
from devstack.ports import HOST, ensure_free, free_port, is_listening
from devstack.procs import child_preexec, stop_all

log = structlog.get_logger("devstack.broker")

KAFKA_DIR = Path(__file__).resolve().parents[2] / "kafka"
"""``devstack/kafka``: the pinned ``pom.xml`` and the broker's ``log4j2.properties``."""

JAVA_MAJOR = 17
"""The oldest Java the broker runs on."""

DEBIAN_PACKAGES = ("openjdk-17-jre-headless", "maven")

JVM_OPTIONS = (
    "-Xms128m", "-Xmx512m",  # the platform's topics are small; a dev box is too
    "-XX:+UseSerialGC",  # one GC thread: 2 shared cores, a heap this size
    "-XX:TieredStopAtLevel=1",  # C1 only: starts in ~60 % of the time, little to lose here
    "-XX:+ExitOnOutOfMemoryError",  # die and be restarted rather than limp
    "-Djava.awt.headless=true",
)
"""Tuned for start-up on a small machine; ``DEVSTACK_KAFKA_OPTS`` adds to (and, being
later on the command line, overrides) them."""

PARTITIONS = 4
"""``num.partitions`` (also what ``contracts.topics.PARTITIONS`` says a topic has)."""


def server_properties(port: int, controller_port: int, log_dir: Path) -> dict[str, str]:
    """The broker's configuration: one combined node, everything replicated once."""
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        # As deploy/ runs it: topics are made by devstack and the relays, never by a
        # client's metadata request with the broker's defaults.
        "auto.create.topics.enable": "false",
        "num.partitions": str(PARTITIONS),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": str(PARTITIONS),
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": str(PARTITIONS),
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Registration and unfencing come sooner; the session timeout stays the default
        # so a JVM stalled on a loaded machine is not fenced.
        "broker.heartbeat.interval.ms": "500",
        # Small machine: fewer threads than Kafka's server defaults.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "2",
        # The cleaner looks for dirty compacted logs every second (default 15 s).
        "log.cleaner.backoff.ms": "1000",
    }


def _java_major(java: str) -> int:
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)  # noqa: S603 - argv built here
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "java")] if home else []
    candidates += [c for c in (shutil.which("java"),) if c]
    for java in candidates:
        if Path(java).is_file() and _java_major(java) >= JAVA_MAJOR:
            return java
    return None


def find_tools(install: bool = True) -> tuple[str, str]:
    """``java`` (17 or newer) and ``mvn``, installed from Debian's packages when missing.

    Looks at ``$JAVA_HOME`` then ``PATH``. When either is missing and the runner is root
    on a Debian-like system, installs :data:`DEBIAN_PACKAGES` with apt-get.

    Raises:
        StackError: They are missing and cannot be installed here.
    """
    java, mvn = _find_java(), shutil.which("mvn")
    if java and mvn:
        return java, mvn
    if install and is_root() and shutil.which("apt-get"):
        log.info("broker.installing", packages=DEBIAN_PACKAGES)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *DEBIAN_PACKAGES],
        ):
            done = subprocess.run(  # noqa: S603 - argv built here
                argv, env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise StackError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
        java, mvn = _find_java(), shutil.which("mvn")
        if java and mvn:
            return java, mvn
    missing = [name for name, found in (("Java 17 or newer", java), ("Maven", mvn))
               if not found]
    raise StackError(
        f"{' and '.join(missing)} not found; the embedded Kafka broker needs both. Install "
        "them (Debian/Ubuntu: `sudo apt-get install -y openjdk-17-jre-headless maven`; "
        "elsewhere any JDK or JRE 17+ and Apache Maven 3 on PATH, or JAVA_HOME set)."
    )


def cache_dir() -> Path:
    """Where the broker's jars are kept (``$DEVSTACK_CACHE``, else the user's cache)."""
    override = os.environ.get("DEVSTACK_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "secondjob-devstack"


def kafka_jars(install: bool = True) -> Path:
    """The directory holding the broker's jars, resolved with Maven on first use.

    Keyed by the pom's content: changing the pinned version resolves the new one beside
    the old. Resolving goes to a private directory renamed into place, so concurrent
    runners never see half a copy.

    Raises:
        StackError: Java or Maven is missing, or Maven could not resolve the jars.
    """
    pom = KAFKA_DIR / "pom.xml"
    if not pom.is_file():
        raise StackError(f"the broker's pom is missing: {pom}")
    key = hashlib.sha256(pom.read_bytes()).hexdigest()[:16]
    jars = cache_dir() / f"kafka-{key}"
    if (jars / "kafka-jars.ok").is_file():
        return jars
    _, mvn = find_tools(install)
    jars.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".kafka-{key}-", dir=jars.parent))
    try:
        done = subprocess.run(  # noqa: S603 - argv built here
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={staging}"],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            raise StackError(
                f"Maven could not resolve the Kafka broker ({pom}): "
                f"{(done.stdout + done.stderr)[-2000:]}"
            )
        (staging / "kafka-jars.ok").write_text("complete\n")
        try:
            staging.rename(jars)
        except OSError:
            if not (jars / "kafka-jars.ok").is_file():  # not another runner's copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("broker.jars_resolved", path=str(jars), seconds=round(time.monotonic() - began, 1))
    return jars


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form (a UUID, base64url without padding)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka's own Uuid.randomUuid() avoids these too
            return text


def class_archive(java: str, jars: Path) -> Path:
    """The broker's class-data archive (AppCDS) for this JVM and these jars.

    The first broker that stops cleanly writes it (``-XX:ArchiveClassesAtExit``); every
    start after maps the classes it holds instead of loading and verifying them, which
    takes a third to a half off a start on a busy machine. A JVM that cannot use it
    (another build) ignores it.
    """
    real = Path(java).resolve()
    stat = real.stat()
    key = hashlib.sha256(f"{real}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    return jars / f"classes-{key[:16]}.jsa"


class Kafka:
    """One Apache Kafka node (KRaft, broker and controller) on 127.0.0.1.

    Args:
        port: The Kafka listener port clients use.
        root: The broker's directory: ``server.properties`` and ``data/`` (the log).
        log_file: Where the broker's own output goes.
    """

    def __init__(self, port: int, root: Path, log_file: Path) -> None:
        self.port = port
        self.root = Path(root).absolute()
        self.log_file = Path(log_file).absolute()
        self.controller_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._archiving: tuple[Path, Path] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"{HOST}:{self.port}"

    @property
    def data(self) -> Path:
        """The broker's log directory (``log.dirs``)."""
        return self.root / "data"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """Whether the broker process runs."""
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        """The broker's exit code once it has exited."""
        return self._proc.poll() if self._proc is not None else None

    def cluster_id(self) -> str | None:
        """The cluster id its storage was formatted with (``None`` before formatting)."""
        meta = self.data / "meta.properties"
        if not meta.is_file():
            return None
        for line in meta.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
        return None

    def _write_config(self, controller_port: int) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "server.properties"
        props = server_properties(self.port, controller_port, self.data)
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _format(self, java: str, jvm: list[str], config: Path) -> None:
        """Format empty storage with a new cluster id (the broker refuses unformatted)."""
        done = subprocess.run(  # noqa: S603 - argv built here
            [java, *jvm, "kafka.tools.StorageTool", "format", "--ignore-formatted",
             "-t", new_cluster_id(), "-c", str(config)],
            capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise StackError(f"formatting the broker's storage failed: "
                             f"{(done.stdout + done.stderr)[-2000:]}")
        log.info("broker.formatted", cluster_id=self.cluster_id())

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker (formatting its storage first if empty); return once it serves.

        Raises:
            StackError: The port is taken, or the broker exited or never served.
        """
        began = time.monotonic()
        ensure_free(self.port, "the Kafka broker")
        java, _ = find_tools()
        jars = kafka_jars()
        jvm = [*JVM_OPTIONS, f"-Dlog4j2.configurationFile={KAFKA_DIR}/log4j2.properties",
               *os.environ.get("DEVSTACK_KAFKA_OPTS", "").split(), "-cp", str(jars / "*")]
        archive = class_archive(java, jars)
        self._archiving = None
        if archive.is_file():
            jvm.insert(0, f"-XX:SharedArchiveFile={archive}")
        self.controller_port = free_port()
        config = self._write_config(self.controller_port)
        if self.cluster_id() is None:
            self._format(java, jvm, config)
        if not archive.is_file():
            pending = archive.with_name(f".{archive.name}.{uuid.uuid4().hex[:8]}")
            jvm.insert(0, f"-XX:ArchiveClassesAtExit={pending}")
            self._archiving = (pending, archive)
        argv = [java, *jvm, "kafka.Kafka", str(config)]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - argv built here
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        try:
            run_sync(self._wait_serving(began + timeout))
        except BaseException:
            self.stop(grace=1.0)
            raise
        log.info(
            "broker.started",
            bootstrap=self.bootstrap,
            pid=self._proc.pid,
            cluster_id=self.cluster_id(),
            seconds=round(time.monotonic() - began, 2),
        )

    async def _wait_serving(self, deadline: float) -> None:
        """Until a metadata request names this broker (its port accepts earlier: the
        acceptor binds before the broker has caught up with its metadata)."""
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise StackError(f"Kafka exited with code {code} before serving on port "
                                 f"{self.port}; see {self.log_file}")
            if time.monotonic() > deadline:
                raise StackError(f"Kafka did not serve on port {self.port} in time; "
                                 f"see {self.log_file}")
            if is_listening(self.port):
                client = AIOKafkaClient(bootstrap_servers=self.bootstrap,
                                        request_timeout_ms=5000, client_id="devstack-probe")
                try:
                    await client.bootstrap()
                    if client.cluster.brokers():
                        return
                except (KafkaError, OSError):
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        await client.close()
            await asyncio.sleep(0.1)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the broker (a clean shutdown: no log recovery next start), SIGKILL it
        after ``grace`` seconds."""
        if self._proc is None:
            return
        if self._archiving is not None:
            grace = max(grace, 60.0)  # the JVM writes the class archive as it exits
        (code,) = stop_all([self._proc], grace)
        self._proc = None
        if self._archiving is not None:
            pending, archive = self._archiving
            self._archiving = None
            if code in (0, 143) and pending.is_file():  # written whole by a clean exit
                pending.replace(archive)
                log.info("broker.class_archive_written", path=str(archive))
            pending.unlink(missing_ok=True)
        log.info("broker.stopped", bootstrap=self.bootstrap, exit_code=code)
