"""`ybsensor warm-up`: compile every compiled loop ahead, into numba's on-disk cache, so that
a service's first batch does not stall for the tens of seconds a cold compile takes.

The loops compile for the array types they are called with, which are the same for every
batch; running the whole pipeline once over a capture that takes every path (the demo: the
lines' encapsulations, flows, each detector's findings, evidence) compiles them all. Run it
as the service user with the service's NUMBA_CACHE_DIR (the unit's ExecStartPre does): the
cache is keyed by the loops' source files, so a later start loads instead of compiling.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import click

from ybsensor.decoders import fastpath

from . import config as config_mod
from .sources import CaptureError, read_capture

# every module whose loops the compiled path runs
LOOP_MODULES = ("ybsensor.decoders.kernel", "ybsensor.core.flow_kernels", "ybsensor.detectors.payload_kernels",
                "ybsensor.exporters.evidence_kernels")
# the plan the demo capture is made for, for a warm-up without the service's configuration
DEMO_PLAN = """\
[network]
private  = ["10.0.0.0/8", "100.64.0.0/10", "fd00::/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code   = "H22010200001"
name   = "warm-up"
ranges = ["10.1.2.0/24"]
lines  = ["vlan:100", "l2tp:7/*"]
"""


def compiled_signatures() -> int:
    """How many (loop, argument types) the compiled modules hold now."""
    count = 0
    for name in LOOP_MODULES:
        module = sys.modules.get(name)
        for obj in vars(module).values() if module else ():
            count += len(getattr(obj, "signatures", ()) or ())
    return count


@click.command("warm-up")
@click.argument("captures", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="the service's configuration (default: a small plan of the demo's lines)")
def warm_up(captures, config_path):
    """Compile the compiled loops into numba's cache (NUMBA_CACHE_DIR) by running the
    pipeline over CAPTURES (default: the bundled demo capture). Writes nothing else: alerts
    and evidence go to a temporary directory."""
    from .sensor import Sensor

    if not fastpath.numba_installed():
        click.echo("ybsensor: numba is not installed: the generic decoders run, nothing to compile")
        return
    if os.environ.get("YBSENSOR_DECODE_KERNEL", "auto") not in ("auto", "numba"):
        click.echo("ybsensor: YBSENSOR_DECODE_KERNEL chooses another backend: nothing to compile")
        return
    fastpath.load_kernel_now()
    paths = [Path(p) for p in captures] or [Path(str(resources.files("ybsensor.sensor") / "warmup.pcap"))]
    started, cpu = time.monotonic(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="ybsensor-warm-up-") as scratch:
        if config_path is None:
            config_path = Path(scratch) / "plan.toml"
            config_path.write_text(DEMO_PLAN)
        cfg = config_mod.load(config_path)
        cfg.evidence_dir = str(Path(scratch) / "evidence")
        sensor = Sensor(cfg, alerts_path=str(Path(scratch) / "alerts.jsonl"))
        frames = 0
        try:
            for path in paths:
                for batch in read_capture(path):
                    sensor.pipeline.process(batch, str(path))
                    frames += len(batch)
        except CaptureError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            sensor.close()
    for name in LOOP_MODULES:
        importlib.import_module(name)
    cache = os.environ.get("NUMBA_CACHE_DIR") or "beside the loops' sources (__pycache__)"
    click.echo(f"ybsensor: {compiled_signatures()} compiled loops ready after {frames:,} frames "
               f"in {time.monotonic() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU); "
               f"cache: {cache}")
