"""The fidelity cases: vendored notebooks of nbclient and papermill, how each is run.

Each case runs with the same parameters and papermill arguments under every engine
(see run_engine.py); ``stdin`` is what the runner's standard input carries (a secret a
notebook must never read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
NOTEBOOKS = HERE / "notebooks"
#: Piped into every engine's process: no engine may let a notebook read it.
SECRET = "fidelity-secret-do-not-read"


@dataclass(frozen=True)
class Case:
    """One notebook run: path under notebooks/, papermill parameters and arguments."""

    name: str
    path: str
    parameters: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)


def _nbclient(stem: str, **kwargs: Any) -> Case:
    return Case(f"nbclient/{stem}", f"nbclient/{stem}.ipynb", kwargs=kwargs)


def _papermill(stem: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> Case:
    return Case(f"papermill/{stem}", f"papermill/{stem}.ipynb", parameters or {}, kwargs)


def _own(stem: str, **kwargs: Any) -> Case:
    """A notebook written for this suite (notebooks/salesnb/), for what the others miss."""
    return Case(f"salesnb/{stem}", f"salesnb/{stem}.ipynb", kwargs=kwargs)


#: In a case's kwargs: papermill gets a file opened by the runner (see run_engine.py), whose
#: text is compared with papermill's own run.
FILE = "<file>"


def _streamed(case: Case) -> Case:
    """``case`` again with papermill's ``log_output`` on and ``stdout_file``, ``stderr_file``
    given: what an engine logs and writes there is compared too (compare.py)."""
    kwargs = {**case.kwargs, "log_output": True, "stdout_file": FILE, "stderr_file": FILE}
    return Case(f"{case.name} [streams]", case.path, case.parameters, kwargs)


CASES = [
    _nbclient("Autokill"),
    _nbclient("Check History in Memory"),
    _nbclient("Clear Output"),
    _nbclient("Disable Stdin"),
    _nbclient("Empty Cell"),
    _nbclient("Error"),
    _nbclient("Factorials"),
    _nbclient("HelloWorld"),
    _nbclient("Inline Image"),
    _nbclient("Interrupt", execution_timeout=3),
    _nbclient("JupyterWidgets"),
    _nbclient("Other Comms"),
    _nbclient("Output"),
    _nbclient("SVG"),
    _nbclient("Skip Exceptions with Cell Tags"),
    _nbclient("Skip Exceptions"),
    _nbclient("Skip Execution with Cell Tag"),
    _nbclient("Sleep1s"),
    _nbclient("Unicode"),
    _nbclient("UnicodePy3"),
    _nbclient("update-display-id"),
    _papermill("blank-vscode"),
    _papermill("broken"),
    _papermill("broken1"),
    _papermill("broken2"),
    _papermill("complex_parameters", {"msg": "Hello", "a": 3.5, "c": {"k": [1, 2]}}),
    _papermill("keyboard_interrupt", execution_timeout=2),
    _papermill("line_magic_error"),
    _papermill("nb_version_4.4", {"var": 2}),
    _papermill("no_parameters", {"msg": "x"}),
    _papermill("notimplemented_translator"),
    _papermill("read_check"),
    _papermill("report_mode_test", {"a": 2}),
    _papermill("result_no_exec"),
    _papermill("simple_execute", {"msg": "Hello"}),
    _papermill("sysexit"),
    _papermill("sysexit0"),
    _papermill("sysexit1"),
    _papermill("systemexit"),
    _papermill("test_autosave"),
    _papermill("test_logging"),
    _papermill("test_notebooknode_io"),
    _own("stdin"),
    _own("stubborn_timeout", execution_timeout=2),
    _own("widgets_clear"),
]
# papermill's log_output, stdout_file and stderr_file: streams, displays, errors, clear_output,
# widgets (what an Output widget takes is neither logged nor copied), update_display, tags
CASES += [
    _streamed(c)
    for c in CASES
    if c.name
    in {
        "nbclient/Clear Output",
        "nbclient/Error",
        "nbclient/Factorials",
        "nbclient/Output",
        "nbclient/Skip Exceptions with Cell Tags",
        "nbclient/Unicode",
        "nbclient/update-display-id",
        "papermill/simple_execute",
        "papermill/test_logging",
        "salesnb/widgets_clear",
    }
]
#: Left out of the vendored set, with the reason.
NOT_VENDORED = {
    "nbclient/Parallel Execute A, B": "two notebooks that wait for each other's files; "
    "they test running two kernels at once, not one engine's outputs",
    "papermill/binder": "runs papermill from a relative source-tree path through %%bash",
    "papermill/gcs, s3": "copies of simple_execute (s3) and a 10 s sleep plus commented-out "
    "crash code (gcs) used by papermill's storage tests",
}
