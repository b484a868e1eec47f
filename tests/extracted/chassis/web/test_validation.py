"""DRF-compatible field parsing, table-driven: one factory builds each field, one table lists
(input -> value) and one (input -> messages). The expectations are DRF's own behaviour."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from extracted.chassis.web.errors import ValidationFailed
from extracted.chassis.web.validation import (
    MISSING,
    CharField,
    DecimalField,
    Field,
    IntegerField,
    Invalid,
    ListField,
    RegexField,
    Serializer,
    UUIDField,
)

U = uuid.UUID("12345678-1234-5678-1234-567812345678")


def make_field(kind: str) -> Field:
    """The field types and options the inventory API uses."""
    return {
        "char": lambda: CharField(max_length=5),
        "sku": lambda: RegexField(r"^[A-Za-z0-9._-]+$", max_length=5),
        "int": lambda: IntegerField(min_value=0, max_value=100),
        "int-default": lambda: IntegerField(min_value=0, default=7),
        "price": lambda: DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0")),
        "uuid": lambda: UUIDField(),
        "lines": lambda: ListField(
            Serializer({"q": IntegerField(min_value=1)}), allow_empty=False, max_length=3
        ),
    }[kind]()


ACCEPTED: list[tuple[str, Any, Any]] = [
    ("char", "  ab  ", "ab"),
    ("char", 12, "12"),
    ("char", 1.5, "1.5"),
    ("sku", "a.b-c", "a.b-c"),
    ("sku", 123, "123"),
    ("int", 2.0, 2),
    ("int", "3", 3),
    ("int", " 3 ", 3),
    ("int", "3.0", 3),
    ("int", "3.", 3),
    ("int", "+4", 4),
    ("int", "\u0663", 3),
    ("int", "1_0", 10),
    ("int-default", MISSING, 7),
    ("price", "12.5", Decimal("12.50")),
    ("price", 12.5, Decimal("12.50")),
    ("price", 0, Decimal("0.00")),
    ("price", " 7 ", Decimal("7.00")),
    ("price", "1e2", Decimal("100.00")),
    ("price", "99999999.99", Decimal("99999999.99")),
    ("price", "1_000", Decimal("1000.00")),
    ("price", "-0", Decimal("0.00")),
    ("uuid", str(U), U),
    ("uuid", U.hex, U),
    ("uuid", U.urn, U),
    ("uuid", f"{{{U}}}", U),
    ("uuid", str(U).upper(), U),
    ("uuid", U.int, U),
    ("uuid", True, uuid.UUID(int=1)),
    ("lines", [{"q": "2"}], [{"q": 2}]),
]


@pytest.mark.parametrize(("kind", "data", "expected"), ACCEPTED)
def test_accepted_values(kind: str, data: Any, expected: Any) -> None:
    assert make_field(kind).run_validation(data) == expected


REFUSED: list[tuple[str, Any, Any]] = [
    ("char", MISSING, ["This field is required."]),
    ("char", None, ["This field may not be null."]),
    ("char", "", ["This field may not be blank."]),
    ("char", " \t\n ", ["This field may not be blank."]),
    ("char", True, ["Not a valid string."]),
    ("char", [], ["Not a valid string."]),
    ("char", {}, ["Not a valid string."]),
    ("char", "abcdef", ["Ensure this field has no more than 5 characters."]),
    ("char", "a\x00b", ["Null characters are not allowed."]),
    ("char", "a\ud800", ["Surrogate characters are not allowed: U+D800."]),
    ("sku", True, ["This value does not match the required pattern."]),
    ("sku", "a b", ["This value does not match the required pattern."]),
    (
        "sku",
        "a b c d",
        [
            "Ensure this field has no more than 5 characters.",
            "This value does not match the required pattern.",
        ],
    ),
    ("int", 2.5, ["A valid integer is required."]),
    ("int", "x", ["A valid integer is required."]),
    ("int", True, ["A valid integer is required."]),
    ("int", [], ["A valid integer is required."]),
    ("int", "1e3", ["A valid integer is required."]),
    ("int", "", ["A valid integer is required."]),
    ("int", "1" * 1001, ["String value too large."]),
    ("int", -1, ["Ensure this value is greater than or equal to 0."]),
    ("int", 101, ["Ensure this value is less than or equal to 100."]),
    ("price", "NaN", ["A valid number is required."]),
    ("price", "sNaN", ["A valid number is required."]),
    ("price", "Infinity", ["A valid number is required."]),
    ("price", "-inf", ["A valid number is required."]),
    ("price", True, ["A valid number is required."]),
    ("price", [], ["A valid number is required."]),
    ("price", "", ["A valid number is required."]),
    ("price", "1" * 1001, ["String value too large."]),
    ("price", "12.345", ["Ensure that there are no more than 2 decimal places."]),
    ("price", "100000000.001", ["Ensure that there are no more than 10 digits in total."]),
    (
        "price",
        "123456789.1",
        ["Ensure that there are no more than 8 digits before the decimal point."],
    ),
    ("price", 1e16, ["Ensure that there are no more than 10 digits in total."]),
    ("price", 1e-7, ["Ensure that there are no more than 2 decimal places."]),
    ("price", "0.000", ["Ensure that there are no more than 2 decimal places."]),
    ("price", "-0.01", ["Ensure this value is greater than or equal to 0."]),
    ("uuid", "x", ["Must be a valid UUID."]),
    ("uuid", 1.5, ["Must be a valid UUID."]),
    ("uuid", -1, ["Must be a valid UUID."]),
    ("lines", {"q": 1}, ['Expected a list of items but got type "dict".']),
    ("lines", "abc", ['Expected a list of items but got type "str".']),
    ("lines", [], ["This list may not be empty."]),
    ("lines", [{"q": 0}] * 4, ["Ensure this field has no more than 3 elements."]),
    (
        "lines",
        [1, None, {}],
        {
            "0": {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]},
            "1": ["This field may not be null."],
            "2": {"q": ["This field is required."]},
        },
    ),
]


@pytest.mark.parametrize(("kind", "data", "messages"), REFUSED)
def test_refused_values(kind: str, data: Any, messages: Any) -> None:
    with pytest.raises(Invalid) as refused:
        make_field(kind).run_validation(data)
    assert refused.value.errors == messages


def test_a_serializer_reports_every_field_with_dotted_sorted_keys() -> None:
    schema = Serializer(
        {"name": make_field("char"), "lines": make_field("lines"), "count": make_field("int")},
        checks={"count": lambda value: "Must not be zero." if value == 0 else None},
    )
    with pytest.raises(ValidationFailed) as refused:
        schema.validate({"name": "", "lines": [{"q": 1}, {"q": "x"}], "count": 0, "extra": 1})
    assert refused.value.body() == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {
            "count": ["Must not be zero."],
            "lines.1.q": ["A valid integer is required."],
            "name": ["This field may not be blank."],
        },
    }
    assert list(refused.value.body()["fields"]) == ["count", "lines.1.q", "name"]


@pytest.mark.parametrize(
    ("body", "type_name"),
    [([1], "list"), ("s", "str"), (1, "int"), (1.5, "float"), (True, "bool"), (None, "NoneType")],
)
def test_a_body_that_is_not_an_object_names_its_type(body: Any, type_name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Serializer({"name": make_field("char")}).validate(body)
    assert refused.value.fields == {
        "non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name}."]
    }
