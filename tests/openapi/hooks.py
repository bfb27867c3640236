"""schemathesis hooks for tests/openapi/fuzz.sh (loaded through SCHEMATHESIS_HOOKS)."""

import json
import os

import schemathesis
from hypothesis import strategies as st

# The real id for each documented path with an `{id}` (fixtures.py).
KNOWN_IDS = json.loads(os.environ.get("TB_FUZZ_KNOWN_IDS", "{}"))


@schemathesis.hook
def filter_case(context, case):
    """Header values stay ASCII: Spin answers 500 to a header with a byte above 0x7F before
    any component runs (it cannot make the value a UTF-8 string), so such a request tests
    the host, not the API."""
    return all(str(value).isascii() for value in (case.headers or {}).values())


@schemathesis.hook
def flatmap_path_parameters(context, path_parameters):
    """Half the generated cases get the real id, so that the fuzzed bodies and queries reach
    the logic behind the lookup; the others keep their generated (mostly unknown) id."""
    known = KNOWN_IDS.get(context.operation.path) if context.operation else None
    if known is None or "id" not in (path_parameters or {}):
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, "id": known}])
