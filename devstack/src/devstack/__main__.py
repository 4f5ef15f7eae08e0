"""``python -m devstack run|infra``: the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import structlog

from devstack import logs
from devstack.errors import StackError
from devstack.procs import become_subreaper
from devstack.services import ports_from_env
from devstack.supervisor import Stack, print_addresses

log = structlog.get_logger("devstack")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind into the clean shutdown."""


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def _ignore_while_stopping(signum: int, frame: FrameType | None) -> None:
    log.info("stack.already_stopping", signal=signal.Signals(signum).name)


def _kafka_port(bootstrap: str) -> int:
    host, _, port = bootstrap.rpartition(":")
    if not port.isdigit() or host not in ("127.0.0.1", "localhost", ""):
        raise StackError(f"MARKET_KAFKA_BOOTSTRAP={bootstrap!r}: expected 127.0.0.1:<port>")
    return int(port)


def _serve(args: argparse.Namespace, with_services: bool) -> int:
    began = time.monotonic()
    stack = Stack(
        data_dir=Path(args.data_dir),
        pg_port=int(os.environ.get("MARKET_PG_PORT", "5433")),
        kafka_port=_kafka_port(os.environ.get("MARKET_KAFKA_BOOTSTRAP", "127.0.0.1:9092")),
        service_ports=ports_from_env(),
    )
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _raise_interrupted)
    become_subreaper()  # a killed postmaster is reaped here, not left to a slow init
    code = 0
    try:
        if with_services:
            stack.check_ports()
        stack.start_infra()
        if with_services:
            stack.start_services()
        stack.write_pids()
        healer = stack.healer()  # from here on: a part may be killed as soon as /readyz says 200
        if with_services:
            stack.wait_ready(args.ready_timeout, heal=healer.tick)
        seconds = time.monotonic() - began
        log.info("stack.ready", seconds=round(seconds, 2), services=with_services)
        print_addresses(stack, seconds, services=with_services)
        while True:
            time.sleep(0.5)
            healer.tick()
    except _Interrupted as stop:
        log.info("stack.stopping", signal=str(stop))
    except StackError as exc:
        log.error("stack.failed", error=str(exc).splitlines()[0])
        sys.stderr.write(f"\ndevstack: {exc}\n")
        code = 1
    finally:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, _ignore_while_stopping)
        stopping = time.monotonic()
        try:
            stack.stop()
        except StackError:
            code = 1
        log.info("stack.stopped", seconds=round(time.monotonic() - stopping, 2))
    return code


def _backup_or_restore(args: argparse.Namespace) -> int:
    from devstack.backup import backup_dir, restore_backup, take_backup

    data_dir = Path(args.data_dir)
    pg_port = int(os.environ.get("MARKET_PG_PORT", "5433"))
    if args.command == "backup":
        path = take_backup(data_dir, pg_port)
        print(f"backup written to {path}")
        return 0
    chosen = Path(args.backup) if args.backup else None
    if chosen is None:
        found = sorted(p for p in backup_dir(data_dir).glob("*/manifest.json"))
        if not found:
            raise StackError(f"no backup in {backup_dir(data_dir)}: name one, or run "
                             "`make backup` first")
        chosen = found[-1].parent
    busy = [*ports_from_env().values(),
            _kafka_port(os.environ.get("MARKET_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))]
    report = restore_backup(chosen, data_dir, pg_port, busy)
    print(f"restored {report.backup} (taken {report.taken_at}); erasure journal: "
          f"{report.journalled} erasure(s), {report.keys_destroyed_again} key(s) destroyed "
          f"again, {report.subjects_requeued} subject(s) to erase again when the services "
          "start (before /readyz answers 200)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("MARKET_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "PostgreSQL, Kafka, topics and every service, until Ctrl-C"),
        ("infra", "PostgreSQL, Kafka and topics only, until Ctrl-C"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--data-dir", default=".stack", help="where state is kept")
        cmd.add_argument(
            "--ready-timeout",
            type=float,
            default=float(os.environ.get("DEVSTACK_READY_TIMEOUT", "240")),
            help="seconds to wait for the gateway's /readyz (run only)",
        )
    topics = sub.add_parser("topics", help="create the topics on a running broker and exit")
    topics.add_argument("--bootstrap", default=os.environ.get("MARKET_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"))
    topics.add_argument("--replication-factor", type=int, default=1,
                        help="copies of each partition (3 on the Kafka cluster of deploy/)")
    backup = sub.add_parser("backup", help="dump PostgreSQL (key store included) and the "
                            "root secrets of a running stack into the backups directory")
    backup.add_argument("--data-dir", default=".stack", help="the stack's data directory")
    restore = sub.add_parser("restore", help="put a backup back (the platform stopped), then "
                             "apply again every erasure journalled since")
    restore.add_argument("backup", nargs="?", help="the backup's directory (default: newest)")
    restore.add_argument("--data-dir", default=".stack", help="the stack's data directory")
    rotate = sub.add_parser("rotate-master-key", help="a new master key, every wrapped key "
                            "rewrapped under it while the platform runs, the old key retired; "
                            "run it again to resume an interrupted rotation")
    rotate.add_argument("--data-dir", default=".stack", help="the stack's data directory")
    rotate.add_argument("--batch", type=int, default=500, help="keys rewrapped per transaction")
    args = parser.parse_args(argv)
    logs.configure(args.log_level)
    if args.command in ("backup", "restore", "rotate-master-key"):
        try:
            if args.command == "rotate-master-key":
                from devstack.rotation import main as rotate_main

                return rotate_main(Path(args.data_dir), args.batch)
            return _backup_or_restore(args)
        except StackError as exc:
            sys.stderr.write(f"devstack {args.command}: {str(exc).splitlines()[0]}\n")
            return 1
    if args.command == "topics":
        from contracts.topics import TOPICS
        from devstack.topics import create_topics

        create_topics(args.bootstrap, TOPICS, replication_factor=args.replication_factor)
        return 0
    return _serve(args, with_services=args.command == "run")


if __name__ == "__main__":
    sys.exit(main())
