"""salesnb.batch.schemacache: nbformat's validators kept compiled on disk, the same as compiled anew."""

from __future__ import annotations

import json

import fastjsonschema
import nbformat
import pytest
from nbformat import validator as nbvalidator

from salesnb.batch import schemacache

ROOT_NB = "notebooks/pipeline_review.ipynb"


def _schemas():
    from nbformat import v4

    strict = nbvalidator._get_schema_json(v4, version=4, version_minor=5)
    return {"strict": strict, "relaxed": nbvalidator._relax_additional_properties(
        json.loads(json.dumps(strict)))}  # fmt: skip


def _outcome(validate, data):
    try:
        validate(data)
    except fastjsonschema.JsonSchemaException as exc:
        return f"{type(exc).__name__}: {exc}"
    return "valid"


def _cases():
    with open(ROOT_NB, encoding="utf-8") as f:
        nb = json.load(f)
    bad_cell = json.loads(json.dumps(nb))
    bad_cell["cells"][0]["cell_type"] = "spreadsheet"
    extra = json.loads(json.dumps(nb))
    extra["cells"][1]["surprise"] = 1
    no_source = json.loads(json.dumps(nb))
    del no_source["cells"][2]["source"]
    bad_output = json.loads(json.dumps(nb))
    bad_output["cells"][1]["outputs"] = [{"output_type": "stream", "name": 3, "text": "x"}]
    return [nb, bad_cell, extra, no_source, bad_output, {}, [], "x"]


@pytest.mark.parametrize("kind", ["strict", "relaxed"])
def test_a_cached_validator_judges_as_fastjsonschemas_own(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    schema = _schemas()[kind]
    theirs = fastjsonschema.compile(schema)
    first = schemacache.compile_schema(schema)  # written to the cache
    assert list((tmp_path / "schemas").iterdir())

    def refuse(*a, **k):
        raise AssertionError("the cached validator should not be generated again")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", refuse)
    second = schemacache.compile_schema(schema)  # read from the cache
    for data in _cases():
        want = _outcome(theirs, data)
        assert _outcome(first, data) == want
        assert _outcome(second, data) == want


def test_a_broken_cache_file_falls_back_to_fastjsonschema(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    schema = {"type": "object", "required": ["a"]}
    schemacache.compile_schema(schema)
    for f in (tmp_path / "schemas").iterdir():
        f.write_bytes(b"not marshalled code")
    validate = schemacache.compile_schema(schema)
    assert _outcome(validate, {"a": 1}) == "valid"
    assert _outcome(validate, {}).startswith("JsonSchemaValueException")


def test_installed_nbformat_validates_with_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESNB_CACHE", str(tmp_path))
    monkeypatch.setattr(fastjsonschema, "compile", fastjsonschema.compile)  # restored after
    monkeypatch.setattr(schemacache, "_ORIGINAL", {})
    monkeypatch.setattr(nbvalidator, "validators", {})
    schemacache.install()
    assert fastjsonschema.compile is schemacache.compile_schema
    nb = nbformat.read(ROOT_NB, as_version=4)
    nbformat.validate(nb)
    nb.cells[0]["cell_type"] = "spreadsheet"
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nb)
    assert list((tmp_path / "schemas").iterdir())
