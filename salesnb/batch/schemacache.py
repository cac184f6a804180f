"""fastjsonschema validators kept compiled on disk, for the batch's warm-up.

nbformat validates notebooks with ``fastjsonschema.compile(schema)``, which writes a Python
validator for the notebook schema and compiles it: about 20 ms for each of the two validators
nbformat builds, every time a batch's zygote warms up, before any document can start. The code
fastjsonschema writes depends only on the schema and its version, so its compiled form is kept
(marshalled, like Python's own ``.pyc`` files) under the salesnb cache folder and loaded in
well under a millisecond the next time.

:func:`install` makes ``fastjsonschema.compile`` use the cache in this process (the zygote
calls it); schemas compiled with custom handlers or formats, or any failure of the cache, go
through fastjsonschema as before. The validator is fastjsonschema's own standalone code
(``fastjsonschema.compile_to_code``), which tests check against ``compile``'s on valid and
invalid notebooks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import sys
from collections.abc import Callable
from typing import Any

_ORIGINAL: dict[str, Callable[..., Any]] = {}


def _key(definition: Any, flags: tuple) -> str:
    import fastjsonschema

    text = json.dumps(definition, sort_keys=True, default=repr)
    parts = (text, fastjsonschema.VERSION, sys.version, str(marshal.version), repr(flags))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def compile_schema(
    definition: Any,
    handlers: dict | None = None,
    formats: dict | None = None,
    use_default: bool = True,
    use_formats: bool = True,
    detailed_exceptions: bool = True,
    **kwargs: Any,
) -> Callable[..., Any]:
    """``fastjsonschema.compile`` with the compiled validator kept on disk.

    Examples
    --------
    >>> validate = compile_schema({"type": "string"})
    >>> validate("text")
    'text'
    """
    import fastjsonschema

    original = _ORIGINAL.get("compile", fastjsonschema.compile)
    if handlers or formats or kwargs:  # their functions cannot be kept on disk
        return original(definition, handlers or {}, formats or {}, use_default, use_formats,
                        detailed_exceptions, **kwargs)  # fmt: skip
    flags = (use_default, use_formats, detailed_exceptions)
    try:
        from salesnb.core.files import cache_dir

        path = cache_dir() / "schemas" / f"{_key(definition, flags)}.bin"
        try:
            code = marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            source = fastjsonschema.compile_to_code(
                definition, use_default=use_default, use_formats=use_formats,
                detailed_exceptions=detailed_exceptions,
            )  # fmt: skip
            code = compile(source, f"<fastjsonschema {path.stem}>", "exec")
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(marshal.dumps(code))
                os.replace(tmp, path)
        namespace: dict[str, Any] = {}
        exec(code, namespace)  # noqa: S102 -- fastjsonschema's own generated validator
        return namespace["validate"]
    except Exception:  # noqa: BLE001 -- the cache is an optimisation: fastjsonschema decides
        return original(definition, {}, {}, use_default, use_formats, detailed_exceptions)


def install() -> None:
    """Make ``fastjsonschema.compile`` (which nbformat calls) use :func:`compile_schema`."""
    try:
        import fastjsonschema
    except ImportError:
        return
    if "compile" not in _ORIGINAL:
        _ORIGINAL["compile"] = fastjsonschema.compile
        fastjsonschema.compile = compile_schema
