"""Money in the monolith: ``Decimal`` with two places end to end, a string on the wire.

Amounts are never floats. Prices, line totals, order totals, charges and refunds all go through
``cents`` (exact for the two-place values the database holds) and leave as ``money`` strings.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CENTS = Decimal("0.01")
#: Largest amount a money column holds (``DecimalField(max_digits=12, decimal_places=2)``).
MAX_AMOUNT = Decimal("9999999999.99")
MONEY_MAX_DIGITS = 12


def cents(value: Decimal) -> Decimal:
    """``value`` rounded to two places (banker's rounding; exact for two-place inputs)."""
    return value.quantize(CENTS, rounding=ROUND_HALF_EVEN)


def money(value: Decimal) -> str:
    """``Decimal`` -> the contract's money string with exactly two places (``"12.50"``)."""
    return format(cents(value), "f")
