"""Draw a figure of the paper from run folders.

    python -m rethink_bnn.plot sweep runs/bop_sweep --sigma 100      # sec 5.1
    python -m rethink_bnn.plot training runs/cifar10_bop              # sec 5.2
    python -m rethink_bnn.plot approximation runs/av_mnist runs/av_cifar10 -o av.png
    python -m rethink_bnn.plot arbitrary_lr runs/arbitrary_lr -o alr.svg

Figures:
  sweep          training/validation accuracy and π_t against the step, one column for
                 γ and one for τ; RUN_DIR: a bop_sweep folder, or Bop run folders
  training       train/validation accuracy and flip ratio against the epoch, γ changes
                 marked; RUN_DIR: Bop (or latent-weight) training runs
  approximation  bar chart with error bars, and the table in Markdown (printed, and
                 written next to the figure as .md); RUN_DIR: approximation_viewpoint runs
  arbitrary_lr   accuracy against the epoch for the five configurations; RUN_DIR:
                 arbitrary_lr runs

The figure goes to -o FILE (.png, .svg or .pdf), by default RUN_DIR/figures/FIGURE.png;
in a run folder only under its figures/. An existing file (the figure, or the .md table
next to it) is replaced only in a run folder's figures/; elsewhere it is refused unless
--force (which replaces a link, never its target).
A folder without a run of the right kind prints one line saying what it holds and which
figure draws it, and exits with code 2 (--debug shows the traceback).
"""

import argparse
import sys
from pathlib import Path

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn.experiments.cli.errors import OneLineParser, UsageError, refuse
from rethink_bnn.experiments.runs.files import refuse_to_replace, write_text_atomically
from rethink_bnn.plot import figures, theory_figures
from rethink_bnn.plot.runs import WrongRunError
from rethink_bnn.experiments.runs.layout import FIGURES_FOLDER, enclosing_run, in_tool_folder

DRAW = {
    "sweep": lambda args: figures.sweep_figure(args.run_dirs, sigma=args.sigma),
    "training": lambda args: figures.training_figure(args.run_dirs),
    "approximation": lambda args: theory_figures.approximation_figure(args.run_dirs),
    "arbitrary_lr": lambda args: theory_figures.arbitrary_lr_figure(args.run_dirs),
}


def parser():
    doc = __doc__.strip().split("\n\n", 1)
    result = OneLineParser(prog="python -m rethink_bnn.plot", description=doc[0],
                           hint=" (python -m rethink_bnn.plot --help)", epilog=doc[1],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("figure", choices=sorted(DRAW))
    result.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    result.add_argument("-o", "--output", help="the figure's file: .png, .svg or .pdf")
    result.add_argument("--force", action="store_true",
                        help="replace an existing FILE (and its .md table) outside a run "
                             "folder's figures/")
    result.add_argument("--sigma", type=_sigma, default=100.0,
                        help="sweep: Gaussian smoothing, standard deviation in steps "
                             "(default 100, the report's; 0: none)")
    result.add_argument("--debug", action="store_true", help="show tracebacks")
    return result


def _sigma(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0: no smoothing), got {text}")
    return value


def output_path(args):
    """Where the figure goes: -o, or RUN_DIR/figures/FIGURE.png. Never among the files a
    run writes (its logs, checkpoints, table.md): inside a run folder only under figures/.
    An existing file there is replaced (the run folder's, which `overwrite` empties),
    elsewhere only with --force."""
    if args.output:
        path = Path(args.output)
    elif len(args.run_dirs) > 1:
        raise UsageError(f"{len(args.run_dirs)} run folders: say where the figure goes "
                         "with -o FILE.")
    else:
        path = Path(args.run_dirs[0]) / FIGURES_FOLDER / f"{args.figure}.png"
    try:
        figures.figure_format(path)
    except ValueError as error:
        raise UsageError(str(error)) from error
    run, _ = enclosing_run(path)
    owned = in_tool_folder(path, FIGURES_FOLDER)
    if run is not None and not owned:
        raise UsageError(f"{path} is inside the run folder {run}, among the files the run "
                         f"writes: put it in {run / FIGURES_FOLDER} or outside.")
    for written in [path] + ([table_path(path)] if args.figure == "approximation" else []):
        refused = refuse_to_replace(written, owned, args.force,
                                    own="files in a run folder's figures/")
        if refused:
            raise UsageError(refused)
    return path


def table_path(path):
    """The approximation figure's Markdown table, next to it."""
    return path.with_suffix(".md")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = parser().parse_args(argv)
        path = output_path(args)
        figure = DRAW[args.figure](args)
        if args.figure == "approximation":
            table = theory_figures.approximation_markdown(args.run_dirs)
            print(table, end="")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_text_atomically(table_path(path), table)
            except OSError as error:
                raise UsageError(f"cannot write {table_path(path)}: "
                                 f"{error.strerror or error}; choose another -o FILE.") from error
        try:
            figures.save(figure, path)
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}; choose "
                             "another -o FILE.") from error
    except (UsageError, WrongRunError) as error:
        return refuse(error, debug)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
