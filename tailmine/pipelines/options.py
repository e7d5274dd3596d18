"""Beam pipeline options: tailmine's defaults for local runs, overridable by anything after ``--``."""
from __future__ import annotations

import contextlib
import logging
import shlex
import sys

from apache_beam.options.pipeline_options import PipelineOptions

LOCAL_DEFAULTS = [
    "--runner=DirectRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=0",  # 0: one worker per core
    "--default_sdk_harness_log_level=WARNING",  # worker processes otherwise log every channel they open
]


def pipeline_options(beam_args: list[str] | None) -> PipelineOptions:
    """Local DirectRunner on all cores unless the caller names a runner or running mode."""
    beam_args = list(beam_args or [])
    given = {a.split("=", 1)[0] for a in beam_args if a.startswith("--")}
    defaults = [d for d in LOCAL_DEFAULTS if d.split("=", 1)[0] not in given]
    if "--runner" in given and not any(a.startswith("--runner=DirectRunner") for a in beam_args):
        defaults = []  # a remote runner: DirectRunner knobs mean nothing there
    return PipelineOptions(defaults + beam_args, save_main_session=False)


def is_local_runner(options: PipelineOptions) -> bool:
    from apache_beam.options.pipeline_options import StandardOptions

    # the typed view, not get_all_options(): that re-parses flags Beam adds itself and warns about them
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    return "Direct" in str(runner) or "Prism" in str(runner)


def is_single_worker(options: PipelineOptions) -> bool:
    """True when the DirectRunner runs everything in this process on one worker (``in_memory``, or one
    worker): there is nothing to spread work over."""
    from apache_beam.options.pipeline_options import DirectOptions

    if not is_local_runner(options):
        return False
    direct = options.view_as(DirectOptions)
    return direct.direct_running_mode == "in_memory" or direct.direct_num_workers == 1


def configure_filesystems(beam_args: list[str] | None) -> PipelineOptions:
    """Give Beam's ``FileSystems`` the user's options (``--s3_endpoint_url``, credentials, ...).

    ``beam.Pipeline`` does this itself, but only when it is built: listing inputs, checking and locking
    the output folder and reading earlier manifests all happen before that, and without the options an
    ``s3://`` path is looked up with boto3's defaults (wrong endpoint, no credentials) and "matches
    nothing". Every entry point (the CLI, :func:`tailmine.pipelines.run.run`) calls this first.
    """
    from apache_beam.io.filesystems import FileSystems

    options = pipeline_options(beam_args)
    FileSystems.set_options(options)
    return options


WORKER_PATH = "import sys\nif sys.path and sys.path[0] == '':\n    del sys.path[0]\n"
"""``python -m`` (and ``-c``) put the current folder first on ``sys.path``, so a folder holding a
checkout named ``tailmine`` shadowed the installed package on the workers (``module 'tailmine' has no
attribute '__version__'``). The worker drops that entry (only it: a ``PYTHONPATH`` entry naming the
same folder is the user's choice and stays) before anything is imported."""

WORKER_BOOT = (
    WORKER_PATH
    + "{quiet}"
    + "import runpy\n"
    + "runpy.run_module('apache_beam.runners.worker.sdk_worker_main', run_name='__main__')\n"
)
"""How a local worker process starts (:data:`WORKER_PATH`, then Beam's worker)."""

QUIET_WORKER = "import logging\nlogging.getLogger().addHandler(logging.NullHandler())\n"
"""A root handler, so the worker's import-time and start-up warnings are not printed on stderr by
logging's default handler; its logs still reach the driver, where ``-v`` shows them."""


def worker_command(verbose: bool) -> str:
    """The interpreter command the DirectRunner starts each worker with (it appends ``-m MODULE``,
    which ``-c`` turns into ignored arguments)."""
    code = WORKER_BOOT.format(quiet="" if verbose else QUIET_WORKER)
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


@contextlib.contextmanager
def local_workers(options: PipelineOptions):
    """While a local multi-process pipeline runs, its workers boot through :data:`WORKER_BOOT`. The
    DirectRunner builds their command from ``sys.executable`` when the pipeline starts, and offers no
    option for it, so ``sys.executable`` is set for that moment and restored after."""
    from apache_beam.options.pipeline_options import DirectOptions

    if not is_local_runner(options) or options.view_as(DirectOptions).direct_running_mode != "multi_processing":
        yield
        return
    verbose = logging.getLogger("apache_beam").getEffectiveLevel() <= logging.INFO
    python = sys.executable
    sys.executable = worker_command(verbose)
    try:
        yield
    finally:
        sys.executable = python
