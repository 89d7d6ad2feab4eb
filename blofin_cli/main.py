"""`blofin-stack`: demo, generate, ingest, import, fetch from BloFin and materialize from the command line.

Exit codes: 0 done, 1 failed (a run, a fetch, anything unforeseen), 2 bad input (arguments, dates,
files, an unwritable data directory, no warehouse yet), 3 busy (another writer holds the data
directory, or another process the warehouse file), 130 interrupted (Ctrl-C), 141 the reader of any
command's output closed the pipe (`query ... | head`; what the command wrote is kept, it stops quietly).
Every failure is one line on stderr; a closed stdout (`>&-`) is refused with exit 1 before the command runs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from blofin_cli import data, pipeline, query, record, report, research, synthetic
from blofin_cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, fail_clearly, reader_gone, stdout_reader_gone

# In the order `blofin-stack --help` lists them.
COMMANDS = (
    synthetic.add_demo, synthetic.add_generate, data.add_ingest, pipeline.add_backfill, query.add_features, query.add_query,
    research.add_backtest, report.add_report, pipeline.add_materialize, data.add_market_data_commands,
    record.add_record,
)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser, its errors one line on stderr and exit 2 as every other failure is (argparse printed
    its usage lines first); subcommands' parsers are of this class too (add_subparsers makes its own type)."""

    def error(self, message: str) -> NoReturn:
        """'blofin-stack CMD: error: MESSAGE (see blofin-stack CMD --help)', then exit 2."""
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The `blofin-stack` parser: --version and every subcommand of the topic modules."""
    from python_assets.platform.version import code_version

    parser = OneLineParser(prog="blofin-stack", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {code_version()}",
                        help="print the package version (and git commit in a checkout) and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and a non-zero exit (see fail_clearly). Ctrl-C
    is one line and exit 130: the lake's files are written whole (temp file and rename) or not at all. A reader
    that closed stdout's pipe is exit 141 and no error, for every command (what it stored stays stored)."""
    if sys.stdout is None:  # started with stdout closed (`>&-`): Python has no stream to print to
        print("error: standard output is closed: redirect it (> FILE or > /dev/null) instead of closing it",
              file=sys.stderr)
        return 1
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
        return code
    except BrokenPipeError as exc:
        return reader_gone() if stdout_reader_gone() else fail_clearly(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return fail_clearly(exc)


def entry() -> None:
    """The `blofin-stack` command: main(), then exit without the interpreter's teardown, which spends
    ~1.5 s finalising torch, numba and Dagster modules after a run. Every file and connection is
    closed by then (context managers); the streams and log handlers are flushed here."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:  # None when started with it closed
            stream.flush()
    logging.shutdown()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
