"""Deploy a trained run: a Larq Compute Engine flatbuffer with binary kernels.

    python -m rethink_bnn.export runs/demo            # runs/demo/export/model.tflite
    python -m rethink_bnn.export runs/demo -o demo.tflite --last
    python -m rethink_bnn.export runs/demo -o demo.tflite --force  # replace demo.tflite

    from rethink_bnn.export import export_run
    export_run("runs/demo")["operators"]  # {'binary': 2, 'float': 6, 'by_type': {...}}

Modules: `runs` (reading a run folder, rebuilding its network and test set), `rewrite`
(binary dense layers as 1×1 binary convolutions), `lce` (converter and interpreter),
`flatbuffer` (operators and packed filters of a .tflite file), `exporter` (the export
and its report).
"""

import rethink_bnn  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from rethink_bnn._keras2 import ensure_keras2
from rethink_bnn.experiments.extra import require_experiments

require_experiments("rethink_bnn.export")
ensure_keras2(__name__)  # after the extra: the CLI names what to install first

from rethink_bnn.export.exporter import default_output, export_run, report_path, summary_lines
from rethink_bnn.export.lce import LceUnavailable
from rethink_bnn.export.rewrite import for_lce
from rethink_bnn.export.runs import ExportError

__all__ = ["ExportError", "LceUnavailable", "default_output", "export_run", "for_lce",
           "report_path", "summary_lines"]
