"""`python -m rethink_bnn.export RUN_DIR [-o FILE.tflite] [--force] [--last] [--limit N] [--debug]`

Export a training run to a Larq Compute Engine flatbuffer (default
RUN_DIR/export/model.tflite, with report.json next to it) and print what it buys:
binary and float operators, size against the float32 Keras weights, agreement with
Keras on the run's test set.

    python -m rethink_bnn.export runs/demo
    python -m rethink_bnn.export runs/cifar10_bop -o binarynet.tflite --limit 1000

  -o FILE.tflite  where to write (outside any run folder, or under the run's export/);
                  FILE.report.json goes next to it (report.json next to model.tflite)
  --force         replace an existing FILE.tflite or report outside the run's export/
                  (without it that is refused: only files in the run's export/ are
                  replaced, as by a rerun); a link is replaced, never its target
  --last          the last checkpoint's weights instead of the best validation epoch's
  --limit N       compare on the first N test examples only (0: no comparison)
  --debug         a traceback instead of the one-line error

Bad input (a folder that is no training run, a run without saved weights, an output
among a run's files, a folder, not writable or existing without --force, a network
without binary layers, LCE not installed) prints one line saying what is wrong and how
to fix it, writes nothing, and exits with code 2.
"""

import sys

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn.experiments.cli.errors import OneLineParser, UsageError, refuse

USAGE = ("usage: python -m rethink_bnn.export RUN_DIR [-o FILE.tflite] [--force] [--last] "
         "[--limit N]")


def _parser():
    parser = OneLineParser(prog="python -m rethink_bnn.export", add_help=False,
                           hint=f"; {USAGE}")
    parser.add_argument("run_dir")
    parser.add_argument("-o", "--output")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--last", action="store_true")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--debug", action="store_true")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(f"{USAGE}\n\n{__doc__.strip().split(chr(10), 1)[1].strip()}")
        return 0
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        if args.limit is not None and args.limit < 0:
            raise UsageError(f"--limit must be >= 0 (0: no comparison), got {args.limit}.")
        from rethink_bnn.export import ExportError, LceUnavailable, export_run, summary_lines

        try:
            report = export_run(args.run_dir, args.output, last=args.last, limit=args.limit,
                                force=args.force)
        except (ExportError, LceUnavailable) as error:
            raise UsageError(str(error)) from error
    except UsageError as error:
        return refuse(error, debug)
    print("\n".join(summary_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
