"""Licence policy: a model's licence terms against the company's situation (``[policy]``).

Each licence term that applies becomes a :class:`Finding`:

* ``violation`` — the licence does not allow this use (non-commercial weights used
  commercially, more monthly active users than the cap, revenue above a cap that needs a
  separate licence, a region the licence excludes). Refused when ``on_violation = "refuse"``.
* ``flag`` — something to check: a term that asks you to contact the licensor, a licence
  that is not known, a region or revenue the policy does not state.
* ``duty`` — what the licence asks of you when you use it (attribution, use policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from autonom.catalog.catalog import License, ModelFacts, find, license_of, read
from autonom.config import PolicySettings
from autonom.errors import PolicyError

EU_MEMBERS = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})

GGUF_LICENCE_IDS = {
    "apache-2.0": "apache-2.0", "apache 2.0": "apache-2.0", "mit": "mit",
    "gemma": "gemma", "llama4": "llama4", "cc-by-nc-4.0": "cc-by-nc-4.0",
    "mrl": "mistral-research", "bigcode-openrail-m": "bigcode-openrail-m",
}
"""``general.license`` values written into GGUF files → catalog licence ids."""


@dataclass(frozen=True)
class Finding:
    level: Literal["violation", "flag", "duty"]
    term: str
    message: str


@dataclass(frozen=True)
class Decision:
    model: str
    facts: ModelFacts | None
    license: License | None
    findings: tuple[Finding, ...]
    allowed_by_agreement: bool = False

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "violation"]

    @property
    def flags(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "flag"]

    def refused(self, policy: PolicySettings) -> bool:
        return (policy.on_violation == "refuse" and bool(self.violations)
                and not self.allowed_by_agreement)

    def summary(self) -> str:
        if self.allowed_by_agreement and self.violations:
            return f"{self.model}: allowed by a separate agreement (policy.allow)"
        if self.violations:
            return f"{self.model}: " + "; ".join(f.message for f in self.violations)
        if self.flags:
            return f"{self.model}: check — " + "; ".join(f.message for f in self.flags)
        return f"{self.model}: the licence allows this use"


def in_region(policy_region: str | None, regions: list[str]) -> bool | None:
    """Whether the company's region is one of ``regions`` (EU covers its members); None when
    the policy names no region."""
    if not policy_region:
        return None
    region = policy_region.strip().upper()
    for wanted in (r.upper() for r in regions):
        if region == wanted or (wanted == "EU" and region in EU_MEMBERS):
            return True
    return False


def evaluate(licence: License, policy: PolicySettings,
             facts: ModelFacts | None = None) -> list[Finding]:
    """The findings for one licence under the company's policy."""
    found: list[Finding] = []
    name = licence.name
    if policy.commercial and not licence.commercial:
        found.append(Finding("violation", "commercial",
                             f"{name} does not allow commercial use of the weights"))
    if licence.mau_cap is not None and policy.commercial:
        users = policy.monthly_active_users
        if users is None:
            found.append(Finding("flag", "mau_cap", f"{name} needs a separate licence above "
                                 f"{licence.mau_cap:,} monthly active users; "
                                 "policy.monthly_active_users is not set"))
        elif users > licence.mau_cap:
            found.append(Finding("violation", "mau_cap", f"{users:,} monthly active users "
                                 f"exceed the {licence.mau_cap:,} that {name} allows without "
                                 "a separate licence"))
    if licence.revenue_cap_usd is not None and policy.commercial:
        revenue = policy.annual_revenue_usd
        cap = f"US${licence.revenue_cap_usd:,}"
        if revenue is None:
            found.append(Finding("flag", "revenue", f"{name} has a threshold at {cap} annual "
                                 "revenue; policy.annual_revenue_usd is not set"))
        elif revenue > licence.revenue_cap_usd:
            if licence.above_revenue == "needs_licence":
                found.append(Finding("violation", "revenue", f"annual revenue above {cap} "
                                     f"needs a separate (enterprise) licence under {name}"))
            else:
                found.append(Finding("flag", "revenue", f"annual revenue above {cap}: "
                                     "contact the licensor"
                                     + (f" ({licence.note})" if licence.note else "")))
    for rule in licence.regional:
        applies = _applies(rule.scope, facts)
        match = in_region(policy.region, rule.regions)
        if not applies:
            continue
        if match is None:
            found.append(Finding("flag", "region", f"{'/'.join(rule.regions)}: {rule.rule}; "
                                 "policy.region is not set"))
        elif match:
            found.append(Finding("violation", "region", f"{policy.region}: {rule.rule}"))
    if licence.attribution:
        found.append(Finding("duty", "attribution", licence.attribution))
    if licence.use_policy:
        found.append(Finding("duty", "use_policy",
                             f"follow the acceptable use policy: {licence.use_policy}"))
    if not licence.source.verified:
        found.append(Finding("duty", "unverified", "licence terms recorded from "
                             f"{licence.source.facts}; not re-checked offline — have them "
                             "confirmed before you rely on them"))
    return found


def _applies(scope: str, facts: ModelFacts | None) -> bool:
    if "multimodal" in scope.lower() or "vision" in scope.lower():
        return facts is None or "image" in facts.modalities
    return True


def decide(model: str, policy: PolicySettings, gguf_license: str | None = None,
           *aliases: str) -> Decision:
    """The policy decision for a model known by ``model`` (a catalog id, Ollama tag, pull
    source or registered name) and optionally other names (its pull source, the file's
    ``general.name``) and the licence recorded in its GGUF file."""
    facts = None
    for candidate in (model, *aliases):
        if candidate and (facts := find(candidate)) is not None:
            break
    names = {n.lower() for n in (model, *aliases) if n} | ({facts.id} if facts else set())
    allowed = any(a.lower() in names for a in policy.allow)
    licence: License | None = license_of(facts) if facts is not None else None
    if licence is None and gguf_license:
        known = GGUF_LICENCE_IDS.get(gguf_license.strip().lower())
        licence = read().licenses.get(known) if known else None
    if licence is None:
        what = f"licence {gguf_license!r} is not in the catalog" if gguf_license \
            else "licence unknown (not in the catalog, none in the file)"
        finding = Finding("flag", "unknown", f"{what}: check it before commercial use")
        return Decision(model, facts, None, (finding,), allowed)
    return Decision(model, facts, licence, tuple(evaluate(licence, policy, facts)), allowed)


Describe = Callable[[], tuple[str | None, tuple[str, ...]] | None]
"""Looks a model up only when the gate has not decided about it yet: (licence in its GGUF
file, other names), or None when there is nothing to decide (not a model here)."""


@dataclass
class Gate:
    """Remembers decisions per model name and enforces them (refuse or warn once)."""

    policy: PolicySettings
    warn: Callable[[str], None] | None = None
    """Called with a message when a violation or flag is let through (warn mode)."""
    _seen: dict[str, Decision] = field(default_factory=dict)

    def check(self, model: str, describe: Describe | None = None) -> Decision | None:
        decision = self._seen.get(model)
        if decision is None:
            described = describe() if describe is not None else (None, ())
            if described is None:
                return None
            gguf_license, aliases = described
            decision = decide(model, self.policy, gguf_license, *aliases)
            self._seen[model] = decision
            if not decision.refused(self.policy) and (decision.violations or decision.flags) \
                    and self.warn is not None:
                self.warn(f"licence policy: {decision.summary()}")
        if decision.refused(self.policy):
            raise PolicyError(f"licence policy refuses {decision.summary()} "
                              "(policy.on_violation = refuse; add it to policy.allow if you "
                              "hold a separate licence)")
        return decision
