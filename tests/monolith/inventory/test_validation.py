"""Body parsing and field validation, message for message as docs/inventory-api.md lists them."""

from __future__ import annotations

from typing import Any

import pytest

from monolith.outbox.models import OutboxEvent
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    adjustment_body,
    adjustments_path,
    product_body,
    reservation_body,
)
from tests.support.random_refs import random_order_id

pytestmark = pytest.mark.django_db


def invalid(fields: dict[str, list[str]]) -> dict[str, Any]:
    return {"error": "validation_error", "detail": "Invalid input.", "fields": fields}


def test_every_field_error_is_reported_together_with_sorted_keys(api: JsonClient) -> None:
    resp = api.post(PRODUCTS, {"sku": "a b", "name": None, "price": "x", "on_hand": -1})

    assert resp.status == 400
    assert list(resp.body["fields"]) == ["name", "on_hand", "price", "sku"]
    assert resp.body == invalid(
        {
            "name": ["This field may not be null."],
            "on_hand": ["Ensure this value is greater than or equal to 0."],
            "price": ["A valid number is required."],
            "sku": ["This value does not match the required pattern."],
        }
    )
    assert OutboxEvent.objects.count() == 0


def test_missing_fields_are_required(api: JsonClient) -> None:
    resp = api.post(PRODUCTS, {})

    assert resp.body == invalid(
        {
            "name": ["This field is required."],
            "price": ["This field is required."],
            "sku": ["This field is required."],
        }
    )


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/x-www-form-urlencoded"]
)
def test_an_empty_body_is_an_empty_object_whatever_the_content_type(
    api: JsonClient, content_type: str
) -> None:
    resp = api.post(PRODUCTS, raw=b"", content_type=content_type)

    assert resp.status == 400
    assert set(resp.body["fields"]) == {"name", "price", "sku"}


@pytest.mark.parametrize(
    ("raw", "type_name"),
    [
        (b"[1, 2]", "list"),
        (b'"text"', "str"),
        (b"7", "int"),
        (b"7.5", "float"),
        (b"true", "bool"),
        (b"null", "NoneType"),
    ],
)
def test_a_body_that_is_not_an_object_names_its_type(
    api: JsonClient, raw: bytes, type_name: str
) -> None:
    resp = api.post(PRODUCTS, raw=raw)

    assert resp.status == 400
    assert resp.body == invalid(
        {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name}."]}
    )


@pytest.mark.parametrize("raw", [b"{bad json", b'{"sku": NaN}', b"\xff\xfe", b'{"a": 1'])
def test_malformed_json_is_a_malformed_request(api: JsonClient, raw: bytes) -> None:
    resp = api.post(PRODUCTS, raw=raw)

    assert resp.status == 400
    assert resp.body == {"error": "malformed_request", "detail": "Body is not valid JSON."}


@pytest.mark.parametrize(
    ("content_type", "as_reported"),
    [
        ("text/plain", "text/plain"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("application/xml", "application/xml"),
        ("multipart/form-data; boundary=xyz", "multipart/form-data"),
    ],
)
def test_other_content_types_are_415_naming_the_type_without_parameters(
    api: JsonClient, content_type: str, as_reported: str
) -> None:
    resp = api.post(PRODUCTS, raw=b'{"sku": "x"}', content_type=content_type)

    assert resp.status == 415
    assert resp.body == {
        "error": "unsupported_media_type",
        "detail": f'Unsupported media type "{as_reported}" in request.',
    }


def test_json_with_a_charset_parameter_is_json(api: JsonClient) -> None:
    resp = api.post(PRODUCTS, product_body(), content_type="application/json; charset=utf-8")

    assert resp.status == 201


def test_unknown_keys_are_ignored(api: JsonClient) -> None:
    resp = api.post(PRODUCTS, product_body(colour="blue", version=99, reserved=5))

    assert resp.status == 201
    assert (resp.body["version"], resp.body["reserved"]) == (1, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(123, "123"), (1.5, "1.5"), ("  Blue  ", "Blue")],
)
def test_strings_accept_numbers_and_are_trimmed(api: JsonClient, value: Any, expected: str) -> None:
    resp = api.post(PRODUCTS, product_body(name=value))

    assert resp.status == 201
    assert resp.body["name"] == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "Not a valid string."),
        (["a"], "Not a valid string."),
        ({"a": 1}, "Not a valid string."),
        (None, "This field may not be null."),
        ("", "This field may not be blank."),
        ("   ", "This field may not be blank."),
        ("x" * 201, "Ensure this field has no more than 200 characters."),
    ],
)
def test_string_refusals(api: JsonClient, value: Any, message: str) -> None:
    resp = api.post(PRODUCTS, product_body(name=value))

    assert resp.status == 400
    assert resp.body == invalid({"name": [message]})


@pytest.mark.parametrize(
    ("sku", "messages"),
    [
        ("SKU 1", ["This value does not match the required pattern."]),
        ("SKU/1", ["This value does not match the required pattern."]),
        ("SKÜ-1", ["This value does not match the required pattern."]),
        ("S" * 65, ["Ensure this field has no more than 64 characters."]),
        (
            "S" * 64 + "!",
            [
                "Ensure this field has no more than 64 characters.",
                "This value does not match the required pattern.",
            ],
        ),
    ],
)
def test_sku_refusals(api: JsonClient, sku: str, messages: list[str]) -> None:
    resp = api.post(PRODUCTS, product_body(sku=sku))

    assert resp.status == 400
    assert resp.body == invalid({"sku": messages})


def test_sku_of_64_allowed_characters_is_accepted(api: JsonClient) -> None:
    sku = ("Az09._-" * 10)[:64]

    resp = api.post(PRODUCTS, product_body(sku=sku))

    assert resp.status == 201
    assert resp.body["sku"] == sku


@pytest.mark.parametrize(("value", "stored"), [(3, 3), (2.0, 2), ("3", 3), (" 3 ", 3), ("3.0", 3)])
def test_integers_accept_integral_numbers_and_numeric_strings(
    api: JsonClient, value: Any, stored: int
) -> None:
    resp = api.post(PRODUCTS, product_body(on_hand=value))

    assert resp.status == 201
    assert resp.body["on_hand"] == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "A valid integer is required."),
        ("x", "A valid integer is required."),
        (True, "A valid integer is required."),
        ([], "A valid integer is required."),
        ("1" * 1001, "String value too large."),
        (-1, "Ensure this value is greater than or equal to 0."),
        (2**31, "Ensure this value is less than or equal to 2147483647."),
        (None, "This field may not be null."),
    ],
)
def test_integer_refusals(api: JsonClient, value: Any, message: str) -> None:
    resp = api.post(PRODUCTS, product_body(on_hand=value))

    assert resp.status == 400
    assert resp.body == invalid({"on_hand": [message]})


@pytest.mark.parametrize(
    ("value", "shown"),
    [(12, "12.00"), (0.1, "0.10"), ("99999999.99", "99999999.99"), ("0", "0.00")],
)
def test_prices_accept_numbers_and_numeric_strings(api: JsonClient, value: Any, shown: str) -> None:
    resp = api.post(PRODUCTS, product_body(price=value))

    assert resp.status == 201
    assert resp.body["price"] == shown


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "A valid number is required."),
        ([], "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("12345678901", "Ensure that there are no more than 10 digits in total."),
        ("1.234", "Ensure that there are no more than 2 decimal places."),
        ("123456789.1", "Ensure that there are no more than 8 digits before the decimal point."),
        ("-0.01", "Ensure this value is greater than or equal to 0."),
    ],
)
def test_price_refusals(api: JsonClient, value: Any, message: str) -> None:
    resp = api.post(PRODUCTS, product_body(price=value))

    assert resp.status == 400
    assert resp.body == invalid({"price": [message]})


def test_delta_zero_must_not_be(api: JsonClient) -> None:
    product = make_product()

    resp = api.post(adjustments_path(product.sku), adjustment_body(delta=0))

    assert resp.status == 400
    assert resp.body == invalid({"delta": ["Must not be zero."]})


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"delta": "x", "reason": ""},
            {"delta": ["A valid integer is required."], "reason": ["This field may not be blank."]},
        ),
        ({}, {"delta": ["This field is required."], "reason": ["This field is required."]}),
        (
            {"delta": 1, "reason": "r" * 201},
            {"reason": ["Ensure this field has no more than 200 characters."]},
        ),
    ],
)
def test_adjustment_field_refusals(
    api: JsonClient, body: dict[str, Any], fields: dict[str, list[str]]
) -> None:
    product = make_product()

    resp = api.post(adjustments_path(product.sku), body)

    assert resp.status == 400
    assert resp.body == invalid(fields)


@pytest.mark.parametrize(
    "form",
    [
        "{u}",
        "{hex}",
        "urn:uuid:{u}",
        "{{{u}}}",
        "{upper}",
    ],
)
def test_order_id_accepts_every_uuid_form_drf_does(api: JsonClient, form: str) -> None:
    product = make_product()
    order_id = random_order_id()
    sent = form.format(u=order_id, hex=order_id.replace("-", ""), upper=order_id.upper())

    resp = api.post(
        RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 1}], order_id=sent)
    )

    assert resp.status == 201, resp.body
    assert resp.body["order_id"] == order_id


@pytest.mark.parametrize("value", ["x", "1234", [], None])
def test_order_id_refusals(api: JsonClient, value: Any) -> None:
    product = make_product()

    resp = api.post(
        RESERVATIONS, reservation_body([{"sku": product.sku, "quantity": 1}], order_id=value)
    )

    assert resp.status == 400
    expected = "This field may not be null." if value is None else "Must be a valid UUID."
    assert resp.body == invalid({"order_id": [expected]})


@pytest.mark.parametrize(
    ("lines", "fields"),
    [
        ({"sku": "x"}, {"lines": ['Expected a list of items but got type "dict".']}),
        ("abc", {"lines": ['Expected a list of items but got type "str".']}),
        ([], {"lines": ["This list may not be empty."]}),
        (
            [{"sku": "SKU-1", "quantity": 1}] * 101,
            {"lines": ["Ensure this field has no more than 100 elements."]},
        ),
        (
            [{"sku": "SKU-1", "quantity": "x"}] * 101,
            {"lines": ["Ensure this field has no more than 100 elements."]},
        ),
        (
            ["SKU-1"],
            {"lines.0.non_field_errors": ["Invalid data. Expected a dictionary, but got str."]},
        ),
        (
            [{"sku": "SKU-1", "quantity": 1}, {"sku": "bad sku", "quantity": 0}, {}],
            {
                "lines.1.quantity": ["Ensure this value is greater than or equal to 1."],
                "lines.1.sku": ["This value does not match the required pattern."],
                "lines.2.quantity": ["This field is required."],
                "lines.2.sku": ["This field is required."],
            },
        ),
        (None, {"lines": ["This field may not be null."]}),
    ],
)
def test_lines_refusals(api: JsonClient, lines: Any, fields: dict[str, list[str]]) -> None:
    resp = api.post(RESERVATIONS, reservation_body(lines))

    assert resp.status == 400
    assert resp.body == invalid(fields)


def test_nested_keys_are_sorted_as_strings(api: JsonClient) -> None:
    lines = [{"sku": f"SKU-{i}", "quantity": 1} for i in range(12)]
    lines[2]["quantity"] = 0
    lines[11]["quantity"] = 0

    resp = api.post(RESERVATIONS, reservation_body(lines, order_id=...))

    assert list(resp.body["fields"]) == ["lines.11.quantity", "lines.2.quantity", "order_id"]
