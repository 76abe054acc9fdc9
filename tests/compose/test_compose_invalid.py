"""The corpus of invalid compose files: each is refused with a precise error that names the
file, the path inside it and (where it helps) a did-you-mean or a hint.

``testdata/invalid/<case>/compose.yaml`` is loaded with ``-f compose.yaml``; ``error`` holds
``MESSAGE[|HINT]``: substrings the error's message and hint must contain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.compose.files import Options
from dockyard.compose.loader import load
from dockyard.errors import DockyardError, InvalidArgument, Unsupported

CASES = sorted((Path(__file__).parent / "testdata" / "invalid").iterdir())


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_invalid_file_is_refused_precisely(case: Path) -> None:
    message, _, hint = (case / "error").read_text().strip().partition("|")
    with pytest.raises(DockyardError) as caught:
        load(Options(files=("compose.yaml",)), cwd=case, environ={})
    err = caught.value
    assert isinstance(err, InvalidArgument | Unsupported)
    assert message in err.message, err.message
    if hint:
        assert err.hint is not None and hint in err.hint, err.hint
