"""One exception tree: every error gbatch raises on purpose is a `GbatchError`, and the
tree drawn in `gbatch._errors` names each of them."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import gbatch
from gbatch import _errors, _executor


def exception_classes() -> list[type[BaseException]]:
    found = {obj for module in (gbatch, _errors, _executor) for _, obj in inspect.getmembers(module, inspect.isclass) if issubclass(obj, BaseException)}
    return sorted(found, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", exception_classes(), ids=lambda cls: cls.__name__)
def test_every_error_is_a_gbatch_error_drawn_in_the_tree(cls: type[BaseException]) -> None:
    assert issubclass(cls, gbatch.GbatchError)
    assert f"{cls.__name__} " in (_errors.__doc__ or "")


def test_a_failure_is_a_frozen_value() -> None:
    failure = gbatch.Failure("the app raised an error: no", "app", hidden=False, logs=(("warning", "careful"),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        failure.message = "changed"  # type: ignore[misc]
    assert failure == gbatch.Failure("the app raised an error: no", "app", False, (("warning", "careful"),))
