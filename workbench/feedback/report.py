"""The feedback report for one NGO: self-contained HTML (fonts and charts inline) and its PDF.

>>> from workbench.store import open_store
>>> with open_store("workbench.duckdb", read_only=True) as store:  # doctest: +SKIP
...     files = write_report(store, "ALPHA", Path("build/feedback"), language="ar", pdf=True)
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from workbench.contracts import ContractSet
from workbench.audit import record_export
from workbench.errors import ReportError, WorkbenchError
from workbench.feedback.charts import Bar, bar_chart
from workbench.quality import Collection, Metrics, Period, collection_profile, load_metrics_config, ngo_metrics
from workbench.quality.recommendations import LANGUAGES, Recommendation, load_rules, number, percent, recommend
from workbench.printing import report_fonts_css, write_pdf
from workbench.store import Store

HERE = Path(__file__).parent



@dataclass
class ReportFiles:
    """What :func:`write_report` wrote, and where the time went (seconds)."""

    html: Path
    pdf: Path | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _strings() -> dict[str, Any]:
    return yaml.safe_load((HERE / "strings.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return environment


class _Words:
    """The report's words in one language: ``t("key", name=value)``, vocabulary labels, numbers."""

    def __init__(self, language: str, contracts: ContractSet, governorates: dict[str, dict[str, str]]):
        self.language, self.contracts, self.governorates = language, contracts, governorates
        self.strings = _strings()

    def __call__(self, key: str, **values: Any) -> str:
        text = self.strings[key][self.language]
        return text.format(**values) if values else text

    def group(self, group: str, key: str) -> str:
        entry = self.strings[group].get(key)
        return entry[self.language] if entry else key

    def term(self, vocabulary: str, code: Any) -> str:
        try:
            return self.contracts.vocabulary(vocabulary).label(str(code), self.language)
        except (WorkbenchError, KeyError):
            return str(code)

    def governorate(self, pcode: str) -> str:
        names = self.governorates.get(pcode)
        return names[self.language] if names else pcode

    def n(self, value: Any, digits: int = 0, *, grouped: bool = True) -> str:
        return number(value, self.language, digits, grouped=grouped)

    def pct(self, value: Any) -> str:
        return percent(value, self.language)


def _governorates(store: Store) -> dict[str, dict[str, str]]:
    rows = store.con.execute("SELECT place_id, name_en, name_ar FROM gazetteer_places WHERE level = 'governorate'").fetchall()
    return {pcode: {"en": en, "ar": ar or en} for pcode, en, ar in rows}


def _charts(metrics: Metrics, words: _Words) -> dict[str, Any]:
    tables = metrics.tables
    legend = (words("yours"), words("others"))

    def precision(name: str, vocabulary: str) -> Any:
        return bar_chart([Bar(words.term(vocabulary, r["precision"]), r["share"], f"{words.pct(r['share'])} ({words.n(r['count'])})")
                          for r in tables[name]], title=words(name), scale=1.0)

    def coverage(name: str, label) -> Any:
        rows = sorted(tables[name], key=lambda r: -r["own"])[:16] if name != "coverage_year" else sorted(tables[name], key=lambda r: r["year"])
        return bar_chart([Bar(label(r), r["own_share"] or 0, words.pct(r["own_share"]),
                              r["others_share"], words.pct(r["others_share"]) if r["others_share"] is not None else "")
                          for r in rows], title=name, legend=legend)

    completeness = [r for r in tables["completeness"] if r["weight"] > 0 and r["record_type"] in ("incidents", "persons", "sources")]
    return {
        "date_precision": precision("date_precision", "date_precision"),
        "geo_precision": precision("geo_precision", "geo_precision"),
        "completeness": bar_chart(
            [Bar(f"{words.group('record_types', r['record_type'])}: {r['title'] if words.language == 'en' else (r['title_ar'] or r['field'])}",
                 r["filled_share"], words.pct(r["filled_share"])) for r in sorted(completeness, key=lambda r: (-r["weight"], r["filled_share"]))[:14]],
            title=words("completeness"), scale=1.0),
        "violations": coverage("coverage_violation_type", lambda r: words.term("violation_types", r["violation_type"])),
        "governorates": coverage("coverage_governorate", lambda r: words.governorate(r["governorate"])),
        "years": coverage("coverage_year", lambda r: words.n(r["year"], grouped=False)),
    }


def render_html(metrics: Metrics, recommendations: list[Recommendation], *, language: str, contracts: ContractSet,
                governorates: dict[str, dict[str, str]], min_other: int, generated: datetime | None = None) -> str:
    """The report as one HTML page with nothing to fetch: fonts, styles and charts are inline."""
    if language not in LANGUAGES:
        raise ReportError(f"no report language {language!r}; known: {', '.join(LANGUAGES)}")
    rtl = language == "ar"
    words = _Words(language, contracts, governorates)
    ngo_name = metrics.ngo["name_ar"] if rtl and metrics.ngo.get("name_ar") else metrics.ngo["name"] or metrics.ngo["ngo_id"]
    template = _environment().get_template("report.html.j2")
    return template.render(
        m=metrics, s=metrics.summary, t=metrics.tables, w=words, rtl=rtl, language=language, ngo_name=ngo_name,
        recommendations=[r for r in recommendations if r.kind == "recommendation"],
        strengths=[r for r in recommendations if r.kind == "strength"],
        charts=_charts(metrics, words), fonts_css=report_fonts_css(), min_other=min_other,
        contract=", ".join(metrics.summary["contract_versions"]) or "–",
        generated=(generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d"),
    )


def report_name(ngo_id: str, period: Period | None, language: str) -> str:
    """``feedback_ALPHA_2025-Q1_ar``: safe as a file name whatever the NGO id holds."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", ngo_id).strip("-") or "ngo"
    return f"feedback_{safe}_{re.sub(r'[^0-9A-Za-z-]+', '-', period.label) if period else 'all'}_{language}"


def write_report(store: Store, ngo_id: str, out_dir: Path, *, language: str = "en", period: Period | None = None,
                 pdf: bool = False, collection: Collection | None = None, contracts: ContractSet | None = None,
                 log: bool = True) -> ReportFiles:
    """Compute one NGO's metrics, draw the recommendations and write the report (HTML, and PDF if asked).

    Each report written goes into the custody log with its SHA-256 (unless ``log`` is False or the
    store is read-only), since it leaves the Mechanism.
    """
    if language not in LANGUAGES:
        raise ReportError(f"no report language {language!r}; known: {', '.join(LANGUAGES)}")
    contracts = contracts or store.contracts
    config = load_metrics_config(contracts.path / "feedback" / "metrics.yaml")
    rules = load_rules(contracts.path / "feedback" / "rules.yaml")
    started = time.perf_counter()
    collection = collection or collection_profile(store)
    metrics = ngo_metrics(store, ngo_id, period=period, contracts=contracts, config=config, collection=collection)
    sql_done = time.perf_counter()
    html = render_html(metrics, recommend(metrics, rules, language), language=language, contracts=contracts,
                       governorates=_governorates(store), min_other=config.min_other_ngos)
    files = ReportFiles(html=out_dir / f"{report_name(ngo_id, period, language)}.html")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.html.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from None
    rendered = time.perf_counter()
    files.sha256[files.html.name] = hashlib.sha256(html.encode("utf-8")).hexdigest()
    if pdf:
        files.pdf = files.html.with_suffix(".pdf")
        write_pdf(html, files.pdf)
        files.sha256[files.pdf.name] = hashlib.sha256(files.pdf.read_bytes()).hexdigest()
    files.timings = {"metrics": sql_done - started, "render": rendered - sql_done, "pdf": time.perf_counter() - rendered}
    if log and not store.read_only:
        # the report leaves the Mechanism: it is listed by `workbench audit` with the other exports
        record_export(store, kind="feedback", destination=str(files.html.parent.resolve()), selection=f"NGO {ngo_id}", subject=ngo_id,
                      manifest_sha256=files.sha256[files.html.name],
                      details={"ngo_id": ngo_id, "language": language, "period": period.label if period else None,
                               "submissions": metrics.submission_ids, "files": files.sha256})
    return files
