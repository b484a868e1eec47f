"""Request validation with DRF's semantics and messages, for the field types services use.

A ``Serializer`` here validates a parsed JSON body like a DRF ``Serializer``: every field is
checked, all field errors are collected, nested errors are reported under dotted keys
(``lines.0.quantity``) and keys are sorted. Each field class reproduces its DRF namesake's
``run_validation``: empty/null handling, ``to_internal_value`` coercion (string trimming,
int/decimal coercion, NaN/Infinity), then every validator, collecting their messages in DRF's
order. Written here, not borrowed: the service must not depend on Django, and the contract is
DRF's exact behaviour (see ``rest_framework/fields.py`` and ``serializers.py``).
"""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from extracted.chassis.web.errors import ValidationFailed

#: Nested error structure: a list of messages, or messages per key (field name or list index).
Errors = list[str] | dict[str, Any]


class _Missing:
    """DRF's ``empty``: the key was not in the input at all."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
NON_FIELD_ERRORS = "non_field_errors"


class Invalid(Exception):
    """One field's errors (messages, or nested errors by key)."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self.errors = errors


class SkipField(Exception):
    """An optional field without a default that the input left out."""


Validator = Callable[[Any], str | None]


def min_value_validator(limit: int | decimal.Decimal) -> Validator:
    def check(value: Any) -> str | None:
        if value < limit:
            return f"Ensure this value is greater than or equal to {limit}."
        return None

    return check


def max_value_validator(limit: int | decimal.Decimal) -> Validator:
    def check(value: Any) -> str | None:
        if value > limit:
            return f"Ensure this value is less than or equal to {limit}."
        return None

    return check


def max_length_validator(limit: int, *, noun: str = "characters") -> Validator:
    def check(value: Any) -> str | None:
        if len(value) > limit:
            return f"Ensure this field has no more than {limit} {noun}."
        return None

    return check


def min_length_validator(limit: int, *, noun: str = "characters") -> Validator:
    def check(value: Any) -> str | None:
        if len(value) < limit:
            return f"Ensure this field has at least {limit} {noun}."
        return None

    return check


def _no_null_characters(value: Any) -> str | None:
    return "Null characters are not allowed." if "\x00" in str(value) else None


def _no_surrogates(value: Any) -> str | None:
    for char in str(value):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"Surrogate characters are not allowed: U+{ord(char):X}."
    return None


def matches(
    pattern: str, message: str = "This value does not match the required pattern."
) -> Validator:
    """Django's ``RegexValidator``: ``re.search`` (anchor the pattern yourself)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        return None if compiled.search(str(value)) else message

    return check


class Field:
    """DRF ``Field.run_validation``: empty values, then ``to_internal_value``, then validators."""

    def __init__(
        self,
        *,
        required: bool | None = None,
        default: Any = MISSING,
        allow_null: bool = False,
        validators: list[Validator] | None = None,
    ) -> None:
        self.default = default
        self.required = (default is MISSING) if required is None else required
        self.allow_null = allow_null
        self.validators: list[Validator] = list(validators or [])

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is MISSING:
            if self.required:
                raise Invalid(["This field is required."])
            if self.default is MISSING:
                raise SkipField()
            return True, self.default() if callable(self.default) else self.default
        if data is None:
            if not self.allow_null:
                raise Invalid(["This field may not be null."])
            return True, None
        return False, data

    def run_validation(self, data: Any) -> Any:
        is_empty, data = self.validate_empty_values(data)
        if is_empty:
            return data
        value = self.to_internal_value(data)
        self.run_validators(value)
        return value

    def to_internal_value(self, data: Any) -> Any:
        raise NotImplementedError

    def run_validators(self, value: Any) -> None:
        errors = [msg for check in self.validators if (msg := check(value)) is not None]
        if errors:
            raise Invalid(errors)


class CharField(Field):
    invalid_message = "Not a valid string."

    def __init__(
        self,
        *,
        max_length: int | None = None,
        min_length: int | None = None,
        allow_blank: bool = False,
        trim_whitespace: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allow_blank = allow_blank
        self.trim_whitespace = trim_whitespace
        if max_length is not None:
            self.validators.append(max_length_validator(max_length))
        if min_length is not None:
            self.validators.append(min_length_validator(min_length))
        self.validators.append(_no_null_characters)
        self.validators.append(_no_surrogates)

    def run_validation(self, data: Any) -> Any:
        # DRF tests for blank before anything else (``str(data)``: numbers are never blank).
        if data is not MISSING and (
            data == "" or (self.trim_whitespace and str(data).strip() == "")
        ):
            if not self.allow_blank:
                raise Invalid(["This field may not be blank."])
            return ""
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise Invalid([self.invalid_message])
        value = str(data)
        return value.strip() if self.trim_whitespace else value


class RegexField(CharField):
    """DRF ``RegexField``: its pattern message also replaces "Not a valid string."."""

    invalid_message = "This value does not match the required pattern."

    def __init__(self, pattern: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(matches(pattern, self.invalid_message))


class IntegerField(Field):
    MAX_STRING_LENGTH = 1000
    _decimal_tail = re.compile(r"\.0*\s*$")  # "1.0" is an int, "1.2" is not

    def __init__(
        self, *, min_value: int | None = None, max_value: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if max_value is not None:
            self.validators.append(max_value_validator(max_value))
        if min_value is not None:
            self.validators.append(min_value_validator(min_value))

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and len(data) > self.MAX_STRING_LENGTH:
            raise Invalid(["String value too large."])
        try:
            return int(self._decimal_tail.sub("", str(data)))
        except (ValueError, TypeError):
            raise Invalid(["A valid integer is required."]) from None


def _smart_str(data: Any) -> str:
    """Django's ``smart_str`` for JSON values (bytes never reach here)."""
    return data if isinstance(data, str) else str(data)


class DecimalField(Field):
    MAX_STRING_LENGTH = 1000

    def __init__(
        self,
        *,
        max_digits: int,
        decimal_places: int,
        min_value: int | decimal.Decimal | None = None,
        max_value: int | decimal.Decimal | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        self.max_whole_digits = max_digits - decimal_places
        if max_value is not None:
            self.validators.append(max_value_validator(max_value))
        if min_value is not None:
            self.validators.append(min_value_validator(min_value))

    def to_internal_value(self, data: Any) -> decimal.Decimal:
        text = _smart_str(data).strip()
        if len(text) > self.MAX_STRING_LENGTH:
            raise Invalid(["String value too large."])
        try:
            value = decimal.Decimal(text)
        except decimal.DecimalException:
            raise Invalid(["A valid number is required."]) from None
        if value.is_nan() or value in (decimal.Decimal("Inf"), decimal.Decimal("-Inf")):
            raise Invalid(["A valid number is required."])
        return self.quantize(self.validate_precision(value))

    def validate_precision(self, value: decimal.Decimal) -> decimal.Decimal:
        _sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # NaN/Infinity were refused above
        if exponent >= 0:
            total_digits = len(digits) + exponent
            whole_digits = total_digits
            decimal_places = 0
        elif len(digits) > abs(exponent):
            total_digits = len(digits)
            whole_digits = total_digits - abs(exponent)
            decimal_places = abs(exponent)
        else:
            total_digits = abs(exponent)
            whole_digits = 0
            decimal_places = total_digits
        if total_digits > self.max_digits:
            raise Invalid(
                [f"Ensure that there are no more than {self.max_digits} digits in total."]
            )
        if decimal_places > self.decimal_places:
            raise Invalid(
                [f"Ensure that there are no more than {self.decimal_places} decimal places."]
            )
        if whole_digits > self.max_whole_digits:
            raise Invalid(
                [
                    "Ensure that there are no more than "
                    f"{self.max_whole_digits} digits before the decimal point."
                ]
            )
        return value

    def quantize(self, value: decimal.Decimal) -> decimal.Decimal:
        context = decimal.getcontext().copy()
        context.prec = self.max_digits
        return value.quantize(decimal.Decimal(".1") ** self.decimal_places, context=context)


class UUIDField(Field):
    def to_internal_value(self, data: Any) -> uuid.UUID:
        try:
            if isinstance(data, int):  # bool included, as in DRF
                return uuid.UUID(int=data)
            if isinstance(data, str):
                return uuid.UUID(hex=data)
        except ValueError:
            pass
        raise Invalid(["Must be a valid UUID."])


class Serializer(Field):
    """A set of named fields; also usable as a nested field (an object inside the body).

    ``checks`` are DRF's ``validate_<field>`` methods: run on a field's value after the field
    itself passed, returning a message to refuse it.
    """

    def __init__(
        self,
        fields: Mapping[str, Field],
        *,
        checks: Mapping[str, Callable[[Any], str | None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fields = dict(fields)
        self.checks = dict(checks or {})

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise Invalid(
                {
                    NON_FIELD_ERRORS: [
                        f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
                    ]
                }
            )
        result: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, field in self.fields.items():
            try:
                value = field.run_validation(data.get(name, MISSING))
                check = self.checks.get(name)
                if check is not None and (message := check(value)) is not None:
                    raise Invalid([message])
            except Invalid as exc:
                errors[name] = exc.errors
            except SkipField:
                pass
            else:
                result[name] = value
        if errors:
            raise Invalid(errors)
        return result

    def validate(self, data: Any) -> dict[str, Any]:
        """Validate a whole request body; refusals raise the contract's 400."""
        try:
            value = self.run_validation(data)
        except Invalid as exc:
            errors = exc.errors
            if isinstance(errors, list):
                # A body that is JSON ``null``: plain DRF says "No data provided"; the contract
                # (and the monolith) name the type as for every other non-object body.
                if errors == ["This field may not be null."]:
                    errors = [
                        f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
                    ]
                errors = {NON_FIELD_ERRORS: errors}
            raise ValidationFailed(flatten_errors(errors)) from None
        assert isinstance(value, dict)
        return value


class ListField(Field):
    """DRF ``ListField(child=...)``; its own messages are the field's list of messages.

    ``bounded=True`` (the default) refuses a list longer than ``max_length`` before validating
    its items, as the monolith's ``BoundedListField`` does (plain DRF checks the length only
    after every item passed); ``bounded=False`` is plain DRF.
    """

    def __init__(
        self,
        child: Field,
        *,
        allow_empty: bool = True,
        max_length: int | None = None,
        min_length: int | None = None,
        bounded: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.child = child
        self.allow_empty = allow_empty
        self.max_length = max_length if bounded else None
        if max_length is not None:
            self.validators.append(max_length_validator(max_length, noun="elements"))
        if min_length is not None:
            self.validators.append(min_length_validator(min_length, noun="elements"))

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            raise Invalid([f"Ensure this field has no more than {self.max_length} elements."])
        if not isinstance(data, list):  # JSON: everything else (str, dict, numbers) is refused
            raise Invalid([f'Expected a list of items but got type "{type(data).__name__}".'])
        if not self.allow_empty and len(data) == 0:
            raise Invalid(["This list may not be empty."])
        return _validate_items(self.child, data)


def _validate_items(child: Field, data: list[Any]) -> list[Any]:
    result: list[Any] = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(data):
        try:
            result.append(child.run_validation(item))
        except Invalid as exc:
            errors[str(index)] = exc.errors
    if errors:
        raise Invalid(errors)
    return result


def flatten_errors(errors: Errors, prefix: str = "") -> dict[str, list[str]]:
    """Nested errors as ``{"lines.0.quantity": [...]}``, keys sorted."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    else:
        flat[prefix or NON_FIELD_ERRORS] = list(errors)
    return dict(sorted(flat.items()))
