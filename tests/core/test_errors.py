"""The error hierarchy and its exit codes."""

from __future__ import annotations

import pytest

from srstream import errors


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError("x"), 2),
        (errors.RegistryError("x"), 2),
        (errors.TilingError("x"), 2),
        (errors.InputError("x"), 3),
        (errors.OutputError("x"), 4),
        (errors.ModelError("x"), 5),
        (errors.SpecError("x"), 5),
        (errors.BackendError("x"), 6),
        (errors.DependencyError("x"), 7),
        (errors.Interrupted(15), 143),
        (errors.SRStreamError("x"), 1),
        (KeyboardInterrupt(), 130),
        (RuntimeError("x"), 1),
    ],
)
def test_exit_codes(error: BaseException, code: int) -> None:
    assert errors.exit_code_for(error) == code


def test_errors_are_also_the_matching_builtin_kinds() -> None:
    """Callers catching ValueError/KeyError/ImportError keep working."""
    assert isinstance(errors.SpecError("x"), ValueError)
    assert isinstance(errors.RegistryError("x"), KeyError)
    assert isinstance(errors.DependencyError("x"), ImportError)
    assert str(errors.RegistryError("plain message")) == "plain message"
