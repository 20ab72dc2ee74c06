"""Run one notebook headless with nbclient, in whatever Python runs this script, and write a
JSON report: the kernel's interpreter, every error output, the number of widget outputs
(a view its Lab closed, shown as its ``gk-closed`` note, counts as one).

tests/lab/test_binder_env.py runs it with .cache/binder-env/bin/python (the environment
scripts/binder-env builds from binder/ alone), on a copy of the notebook in a temp folder:

    python binder_nb_driver.py NOTEBOOK.ipynb REPORT.json [--timeout SECONDS]

The kernel's working directory is the notebook's folder. A probe cell put first records
``sys.executable`` of the kernel; it is taken out again before reporting. Exit status 0 means
the report was written (read it for errors), anything else that the driver itself failed.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

PROBE = "import sys as _s; print('KERNEL-PYTHON', _s.executable, flush=True); del _s"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def shows_a_view(output: dict[str, Any]) -> bool:
    """A widget, or a view that ``lab.close()`` replaced by its closed note (HTML with the
    class ``gk-closed``): what a notebook that ends by closing its Lab leaves."""
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data or "gk-closed" in str(
        data.get("text/html", "")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", type=Path)
    ap.add_argument("report", type=Path)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    args = ap.parse_args()
    path: Path = args.notebook.resolve()
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(
        nb,
        timeout=int(args.timeout),
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    failure: str | None = None
    t0 = time.monotonic()
    try:
        client.execute()
    except CellTimeoutError as e:
        failure = f"CellTimeoutError: {str(e)[-2000:]}"
    except DeadKernelError as e:
        failure = f"DeadKernelError: {e}"
    except CellExecutionError:
        failure = None  # the error output is in the cell, reported below
    seconds = time.monotonic() - t0
    probe = nb.cells.pop(0)
    kernel_python = None
    for out in probe.get("outputs", []):
        for line in str(out.get("text", "")).splitlines():
            if line.startswith("KERNEL-PYTHON "):
                kernel_python = line.split(" ", 1)[1]
    errors: list[dict[str, Any]] = []
    executed = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("execution_count") is not None:
            executed += 1
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = [ANSI.sub("", line) for line in out.get("traceback", [])]
                errors.append(
                    {
                        "cell": index,
                        "source": cell.source[:400],
                        "ename": out.get("ename"),
                        "evalue": out.get("evalue"),
                        "traceback": "\n".join(tb)[-3000:],
                    }
                )
    widgets = sum(1 for c in nb.cells for o in c.get("outputs", []) if shows_a_view(o))
    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    nbformat.write(nb, path.with_suffix(".executed.ipynb"))
    report = {
        "notebook": path.name,
        "seconds": round(seconds, 2),
        "kernel_python": kernel_python,
        "code_cells": code_cells,
        "executed_cells": executed,
        "errors": errors,
        "failure": failure,
        "widgets": widgets,
    }
    args.report.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
