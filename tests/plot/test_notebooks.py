"""Every notebook runs headless against small real run folders."""

from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.util import run_sync

pytestmark = pytest.mark.experiments  # tasks, tfds data or CLIs: needs the extra

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
RUNS = {
    "sec5_1_sweep.ipynb": ["sweep"],
    "sec5_2_training.ipynb": ["training"],
    "approximation_viewpoint.ipynb": ["approximation"],
    "arbitrary_lr.ipynb": ["arbitrary_lr"],
}


def test_every_notebook_is_tested():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(RUNS)


@pytest.fixture(scope="module")
def kernel():
    """One kernel for every notebook: each starts with `%reset -f`, so that it sees none
    of the names an earlier one defined (imported modules stay loaded, which saves each
    notebook TensorFlow's start-up)."""
    manager = AsyncKernelManager(kernel_name="python3")
    yield manager
    if manager.has_kernel:
        run_sync(manager.shutdown_kernel)(now=True)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_notebook_draws_its_figure(name, all_runs, kernel, tmp_path):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    parameters = [i for i, c in enumerate(notebook.cells)
                  if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1
    # as papermill does: a cell after the tagged one overrides its values
    output = tmp_path / "figure.png"
    run_dirs = [str(all_runs[key]) for key in RUNS[name]]
    override = f"RUN_DIRS = {run_dirs!r}\nOUTPUT = {str(output)!r}\nSIGMA = 2"
    notebook.cells.insert(parameters[0] + 1, nbformat.v4.new_code_cell(override))
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    NotebookClient(notebook, km=kernel, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the figure, shown inline
    assert output.stat().st_size > 10_000
    if name == "approximation_viewpoint.ipynb":
        assert any("text/markdown" in o.get("data", {}) for o in outputs)
