"""The deferred rfc3987_syntax import: cheaper start-up, unchanged behaviour."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

# find_spec, not import: importing it here is the 1.2 s this module is about
if importlib.util.find_spec("rfc3987_syntax") is None:
    pytest.skip("jsonschema's IRI checker is not installed", allow_module_level=True)


def run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_importing_notebook_libraries_does_not_build_the_iri_grammar() -> None:
    out = run("""
        import sys
        import salesnb, nbformat, altair, jsonschema
        print("rfc3987_syntax.syntax_helpers" in sys.modules)
    """)
    assert out == "False"


def test_iri_format_checks_behave_as_without_the_stand_in() -> None:
    out = run("""
        import salesnb, jsonschema
        fc = jsonschema.FormatChecker()
        print(fc.conforms("https://example.com/a b", "iri"), fc.conforms("https://example.com/ä", "iri"),
              fc.conforms("../x", "iri-reference"), fc.conforms("http://a b", "iri-reference"))
    """)
    assert out == "False True True False"


def test_the_real_package_and_its_submodules_still_import() -> None:
    out = run("""
        import salesnb
        import rfc3987_syntax.syntax_helpers as helpers
        import rfc3987_syntax
        import sys
        print(callable(helpers.make_syntax_validator), rfc3987_syntax.is_valid_syntax("iri", "x y"),
              type(sys.modules["rfc3987_syntax"]).__name__)  # the real one after first use
    """)
    assert out == "True False module"
