"""Recommendations drawn from the metrics by the rules of ``data_contracts/feedback/rules.yaml``.

A rule looks at one metric table (``summary`` is a table of one row), keeps the rows that meet all
its conditions, and turns each into a suggestion from its message templates. Templates are Jinja2
in a sandbox: they see the row, the summary (as ``summary``) and a few formatting filters, and
nothing else. Suggestions are ranked by ``weight`` times the number of records they would improve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from workbench.errors import ContractError
from workbench.quality.metrics import Metrics, read_config

LANGUAGES = ("en", "ar")
KINDS = ("recommendation", "strength")
_LATIN = re.compile(r"[A-Za-z]")
_ARABIC_DIGITS = str.maketrans("0123456789.,", "٠١٢٣٤٥٦٧٨٩٫٬")

_NUMERIC = ("at_least", "at_most", "above", "below")
_OPERAND_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    **{name: ((int, float), "a number") for name in _NUMERIC},
    "equals": ((str, int, float, bool, type(None)), "a value"),
    "in": ((list,), "a list"),
    "not_in": ((list,), "a list"),
    "prefix": ((str,), "a text"),
    "not_prefix": ((str,), "a text"),
}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "at_least": lambda v, x: v is not None and v >= x,
    "at_most": lambda v, x: v is not None and v <= x,
    "above": lambda v, x: v is not None and v > x,
    "below": lambda v, x: v is not None and v < x,
    "equals": lambda v, x: v == x,
    "in": lambda v, x: v in x,
    "not_in": lambda v, x: v not in x,
    "prefix": lambda v, x: isinstance(v, str) and v.startswith(x),
    "not_prefix": lambda v, x: not (isinstance(v, str) and v.startswith(x)),
}


@dataclass(frozen=True)
class Condition:
    value: str
    operator: str
    operand: Any

    def holds(self, row: dict[str, Any]) -> bool:
        return _OPERATORS[self.operator](row.get(self.value), self.operand)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    over: str
    when: tuple[Condition, ...]
    weight: float
    gain: str | None
    message: dict[str, str]
    evidence: dict[str, str]
    expected_gain: dict[str, str]
    limit: int
    source: str = "rules"  # the file it came from, for error messages


@dataclass(frozen=True)
class Recommendation:
    """One suggestion (or strength) for an NGO, in one language, with what it rests on."""

    rule: str
    kind: str
    score: float
    records: int
    message: str
    evidence: str
    expected_gain: str


def load_rules(path: Path) -> tuple[Rule, ...]:
    """Read and check the rules file; every problem names the rule and the key (read again only when it changes)."""
    path = Path(path)
    return _load_rules(path, read_config(path, "the feedback rules"))


@lru_cache(maxsize=8)
def _load_rules(path: Path, text: str) -> tuple[Rule, ...]:
    """Parsed once per path and content: a file replaced by another is read again, whatever its time stamp."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError([f"{path}: cannot read the feedback rules: {exc}"]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ContractError([f"{path}: expected a mapping with a list under 'rules'"])
    problems: list[str] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    environment = _environment("en")
    for i, raw in enumerate(doc["rules"]):
        where = f"{path}: rule {raw.get('id', f'#{i + 1}') if isinstance(raw, dict) else f'#{i + 1}'}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        missing = [k for k in ("id", "over", "when", "message") if k not in raw]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if raw["id"] in seen:
            problems.append(f"{where}: id used twice")
        seen.add(raw["id"])
        kind = raw.get("kind", "recommendation")
        if kind not in KINDS:
            problems.append(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        conditions = []
        for condition in raw["when"] or []:
            if not isinstance(condition, dict) or "value" not in condition or len(condition) != 2:
                problems.append(f"{where}: a condition is {{value: <column>, <operator>: <operand>}}, got {condition!r}")
                continue
            (operator, operand), = ((k, v) for k, v in condition.items() if k != "value")
            if operator not in _OPERATORS:
                problems.append(f"{where}: unknown operator {operator!r}; known: {', '.join(_OPERATORS)}")
                continue
            expected = _OPERAND_TYPES[operator]
            if not isinstance(operand, expected[0]) or isinstance(operand, bool) and operator in _NUMERIC:
                problems.append(f"{where}: {operator} needs {expected[1]}, got {operand!r}")
                continue
            conditions.append(Condition(condition["value"], operator, operand))
        texts = {}
        for key in ("message", "evidence", "expected_gain"):
            text = raw.get(key, {})
            if not isinstance(text, dict) or (key == "message" and set(LANGUAGES) - set(text)):
                problems.append(f"{where}: {key} needs a text for each of {', '.join(LANGUAGES)}")
                text = {}
            for language, template in text.items():
                try:
                    environment.parse(template)
                except TemplateError as exc:
                    problems.append(f"{where}: {key} ({language}) is not a valid template: {exc}")
            texts[key] = {k: str(v) for k, v in text.items()}
        weight, limit = raw.get("weight", 1), raw.get("limit", 5)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            problems.append(f"{where}: weight must be a number >= 0, got {weight!r}")
            continue
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            problems.append(f"{where}: limit must be a whole number >= 1, got {limit!r}")
            continue
        if raw.get("gain") is not None and not isinstance(raw["gain"], str):
            problems.append(f"{where}: gain names a column, got {raw['gain']!r}")
            continue
        rules.append(Rule(id=raw["id"], kind=kind, over=raw["over"], when=tuple(conditions), weight=float(weight),
                          gain=raw.get("gain"), message=texts["message"], evidence=texts["evidence"],
                          expected_gain=texts["expected_gain"], limit=limit, source=str(path)))
    if problems:
        raise ContractError(problems)
    return tuple(rules)


def number(value: Any, language: str = "en", digits: int = 0, *, grouped: bool = True) -> str:
    """A count or figure as a reader of ``language`` writes it (thousands grouped unless ``grouped`` is False, as for years).

    >>> number(12345), number(12345, "ar"), number(2.5, digits=1), number(2013, "ar", grouped=False)
    ('12,345', '١٢٬٣٤٥', '2.5', '٢٠١٣')
    """
    if value is None:
        return "–"
    text = f"{value:{',' if grouped else ''}.{digits}f}" if isinstance(value, (int, float)) else str(value)
    return text.translate(_ARABIC_DIGITS) if language == "ar" else text


def percent(value: Any, language: str = "en") -> str:
    """A share (0..1) as a whole percentage: ``percent(0.123)`` is ``'12%'``."""
    if value is None:
        return "–"
    text = f"{round(100 * value):d}%"
    return text.translate(_ARABIC_DIGITS).replace("%", "٪") if language == "ar" else text


def _isolated(value: Any) -> Any:
    """A value with Latin letters set apart (Unicode first-strong isolate), so that file names and
    technical messages keep their order inside an Arabic sentence."""
    if isinstance(value, str) and _LATIN.search(value):
        return f"\u2068{value}\u2069"
    return value


def _environment(language: str) -> SandboxedEnvironment:
    environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                                       finalize=_isolated if language == "ar" else None)
    environment.filters["n"] = lambda v, digits=0: number(v, language, digits)
    environment.filters["pct"] = lambda v: percent(v, language)
    environment.filters["quoted"] = lambda values: ("، " if language == "ar" else ", ").join(f"“{_isolated(v) if language == 'ar' else v}”" for v in values or [])
    return environment


def recommend(metrics: Metrics, rules: tuple[Rule, ...], language: str = "en") -> list[Recommendation]:
    """The suggestions (and strengths) the rules draw from ``metrics``, best first.

    A rule that names a table the metrics lack, or a template that refers to a missing value,
    raises :class:`ContractError` naming the rule: a broken rule must not pass silently.
    """
    if language not in LANGUAGES:
        raise ContractError([f"no feedback language {language!r}; known: {', '.join(LANGUAGES)}"])
    environment = _environment(language)
    tables = {"summary": [metrics.summary], **metrics.tables}
    found: list[Recommendation] = []
    for rule in rules:
        where = f"{rule.source}: rule {rule.id}"
        if rule.over not in tables:
            raise ContractError([f"{where}: no metric table {rule.over!r}; known: {', '.join(tables)}"])
        table = tables[rule.over]
        # a typo in a column name must not make a rule silently never (or always) fire
        unknown = sorted(({c.value for c in rule.when} | ({rule.gain} if rule.gain else set())) - set(table[0])) if table else []
        if unknown:
            raise ContractError([f"{where}: table {rule.over!r} has no column {', '.join(map(repr, unknown))}; "
                                 f"its columns: {', '.join(table[0])}"])
        rows = [row for row in table if all(c.holds(row) for c in rule.when)]
        for row in rows[: rule.limit]:
            context = {**row, "summary": metrics.summary, "ngo": metrics.ngo}
            gain = row.get(rule.gain) if rule.gain else 0
            if gain is not None and (not isinstance(gain, (int, float)) or isinstance(gain, bool)):
                raise ContractError([f"{where}: gain column {rule.gain!r} holds {gain!r}, not a count"])
            records = int(gain or 0)
            try:
                texts = {key: environment.from_string(getattr(rule, key).get(language, "")).render(context)
                         for key in ("message", "evidence", "expected_gain")}
            except TemplateError as exc:
                raise ContractError([f"{where}: cannot fill its {language} text: {exc}"]) from None
            found.append(Recommendation(rule=rule.id, kind=rule.kind, score=rule.weight * max(records, 1), records=records,
                                        **{k: re.sub(r"\s+", " ", v).strip() for k, v in texts.items()}))
    return sorted(found, key=lambda r: (r.kind != "recommendation", -r.score, r.rule))
