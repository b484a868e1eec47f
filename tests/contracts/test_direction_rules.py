"""The direction's state rules both owners apply (``contracts.direction.change_refusal``):
``retired`` is entered only from ``reverse`` and never left; every other move is allowed."""

from __future__ import annotations

from typing import get_args

import pytest

from contracts.direction import Direction, change_refusal

DIRECTIONS: tuple[Direction, ...] = get_args(Direction)


def test_retired_is_one_of_the_directions() -> None:
    assert DIRECTIONS == ("forward", "frozen", "reverse", "retired")


@pytest.mark.parametrize("current", DIRECTIONS)
@pytest.mark.parametrize("target", DIRECTIONS)
def test_only_reverse_enters_retired_and_nothing_leaves_it(
    current: Direction, target: Direction
) -> None:
    refusal = change_refusal(current, target)
    if current == target:
        assert refusal is None  # a repeated move is a no-op, retired included
    elif current == "retired":
        assert refusal == f"the capability is retired here: it never moves to {target}"
    elif target == "retired":
        expected = (
            None
            if current == "reverse"
            else (f"only a reverse capability can be retired, this one is {current}")
        )
        assert refusal == expected
    else:
        assert refusal is None
