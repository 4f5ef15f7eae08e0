"""Where the pipeline's time goes: the relay alone and the consumer alone under pyinstrument.

``make bench ARGS=profile_stages`` (pyinstrument comes with the bench dependency group).
Prints each stage's rate and its profile (wall-clock, asyncio-aware), the frames that hold
at least 2 % of the time; the HTML profiles land beside it under ``bench/profiles/``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pyinstrument import Profiler

from bench import stages
from bench.common import private_stack

EVENTS = 30_000


async def profiled(bootstrap: str) -> None:
    profiler = Profiler(async_mode="enabled", interval=0.002)
    profiler.start()
    relay, consumer, _ = await stages.relay_then_consumer(bootstrap, EVENTS)
    profiler.stop()
    print(f"relay alone {relay:,.0f} events/s, consumer alone {consumer:,.0f} events/s "
          "(under the profiler: slower than unprofiled)", flush=True)
    print(profiler.output_text(unicode=False, color=False, show_all=False,
                               flat=True, flat_time="self")[:12_000], flush=True)
    out = Path(__file__).parent / "profiles"
    out.mkdir(exist_ok=True)
    (out / "stages.html").write_text(profiler.output_html())


def main() -> None:
    with private_stack(services=True) as stack:  # the retention schema, migrated
        asyncio.run(profiled(stack.kafka_bootstrap))


if __name__ == "__main__":
    sys.exit(main())
