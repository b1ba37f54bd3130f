"""Total cost of ownership: running a model locally vs paying an API per token.

Local cost per month is fixed: hardware price spread over its lifetime, power (average draw
× hours × price) and admin time. API cost grows with the volume. The break-even volume is
where they meet: fixed local cost ÷ blended API price per token.
"""

from __future__ import annotations

from dataclasses import dataclass

from autonom.errors import InvalidRequestError

HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


@dataclass(frozen=True)
class CostInputs:
    tokens_per_month: float
    input_share: float = 0.75
    """Share of the tokens that are prompt (input) tokens."""
    api_input_per_m: float = 0.28
    api_output_per_m: float = 0.42
    hardware_price: float = 0.0
    lifetime_months: float = 36.0
    power_watts: float = 0.0
    power_price_kwh: float = 0.30
    admin_hours_per_month: float = 0.0
    admin_rate: float = 0.0
    local_tokens_per_s: float | None = None
    """What the local machine can process (prompt + output); checks the volume fits."""

    def __post_init__(self) -> None:
        numbers = {"tokens per month": self.tokens_per_month,
                   "hardware price": self.hardware_price, "power": self.power_watts,
                   "power price": self.power_price_kwh, "admin hours": self.admin_hours_per_month,
                   "admin rate": self.admin_rate, "API input price": self.api_input_per_m,
                   "API output price": self.api_output_per_m}
        for name, value in numbers.items():
            if value < 0:
                raise InvalidRequestError(f"{name} must not be negative")
        if not 0 <= self.input_share <= 1:
            raise InvalidRequestError("input share must be between 0 and 1")
        if self.lifetime_months <= 0:
            raise InvalidRequestError("hardware lifetime must be positive")
        if self.local_tokens_per_s is not None and self.local_tokens_per_s <= 0:
            raise InvalidRequestError("local tokens/s must be positive")


@dataclass(frozen=True)
class CostResult:
    local_hardware: float
    local_power: float
    local_admin: float
    api: float
    api_price_per_m: float
    break_even_tokens: float | None
    """None when the API costs nothing per token."""
    local_capacity_tokens: float | None

    @property
    def local(self) -> float:
        return self.local_hardware + self.local_power + self.local_admin

    def to_json(self) -> dict[str, object]:
        return {"local_per_month": round(self.local, 2),
                "local_hardware": round(self.local_hardware, 2),
                "local_power": round(self.local_power, 2),
                "local_admin": round(self.local_admin, 2), "api_per_month": round(self.api, 2),
                "api_price_per_million": round(self.api_price_per_m, 4),
                "break_even_tokens_per_month": None if self.break_even_tokens is None
                else round(self.break_even_tokens),
                "local_capacity_tokens_per_month": None if self.local_capacity_tokens is None
                else round(self.local_capacity_tokens),
                "cheaper": "local" if self.local < self.api else "api"}


def compute(inputs: CostInputs) -> CostResult:
    price = (inputs.input_share * inputs.api_input_per_m
             + (1 - inputs.input_share) * inputs.api_output_per_m)
    hardware = inputs.hardware_price / inputs.lifetime_months
    power = inputs.power_watts / 1000 * HOURS_PER_MONTH * inputs.power_price_kwh
    admin = inputs.admin_hours_per_month * inputs.admin_rate
    fixed = hardware + power + admin
    return CostResult(
        local_hardware=hardware, local_power=power, local_admin=admin,
        api=inputs.tokens_per_month / 1e6 * price, api_price_per_m=price,
        break_even_tokens=fixed / price * 1e6 if price > 0 else None,
        local_capacity_tokens=None if inputs.local_tokens_per_s is None
        else inputs.local_tokens_per_s * SECONDS_PER_MONTH)


def parse_volume(text: str) -> float:
    """``50M``, ``1.5B``, ``200k``, ``2,5M`` (German decimal comma) or a plain number."""
    value = text.strip().replace("_", "").replace(" ", "")
    factor = 1.0
    units = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
    if value and value[-1].lower() in units:
        factor = units[value[-1].lower()]
        value = value[:-1]
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    try:
        number = float(value) * factor
    except ValueError:
        raise InvalidRequestError(f"cannot read {text!r} as a token volume "
                                  "(e.g. 50M, 1.5B, 200k)") from None
    if number < 0:
        raise InvalidRequestError("the token volume must not be negative")
    return number
