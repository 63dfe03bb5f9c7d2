"""benchmarks/entities.py end to end on a few thousand paragraphs: the fields it reports, and figures that agree with each other."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_shared_data

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "entities.py"
KEYS = {"benchmark", "source", "paragraphs", "repeat", "languages", "target", "target_met"}
LANGUAGE_KEYS = {
    "language", "paragraphs", "distinct_paragraphs", "mean_characters", "mean_tokens", "build_seconds", "tokenizer_seconds",
    "ours_seconds", "tokenizer_paragraphs_per_second", "paragraphs_per_second", "ratio", "mentions", "by_label", "peak_mib",
    "runs_seconds", "target_met",
}
# one row of the table: language, paragraphs, tokenizer s, ours s, paragraphs/s, ratio, target met
ROW = re.compile(r"^(en|ar)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+([\d,]+)\s+([\d.]+)\s+(yes|NO)$")


def _benchmark_module():
    """benchmarks/entities.py as a module (it imports harness.py from its own folder)."""
    folder = str(ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("entities")


def run_benchmark(tmp_path: Path, *options: str) -> tuple[dict, list[str]]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--repeat", "2", "--json", *options],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), lines


def check_figures(summary: dict, lines: list[str], paragraphs: int) -> None:
    assert KEYS <= set(summary) and summary["benchmark"] == "entities" and summary["paragraphs"] == paragraphs
    assert summary["target"] == {"paragraphs_per_second_min": 20_000, "ratio_max": 6.0}
    assert set(summary["languages"]) == {"en", "ar"}
    rows = {match.group(1): match.groups() for match in map(ROW.match, lines) if match}
    assert set(rows) == {"en", "ar"}, lines
    for language, figures in summary["languages"].items():
        assert LANGUAGE_KEYS <= set(figures) and figures["paragraphs"] == paragraphs
        tokenizer, ours = figures["tokenizer_seconds"], figures["ours_seconds"]
        assert tokenizer > 0 and ours > 0
        assert tokenizer == min(figures["runs_seconds"]["tokenizer"]) and ours == min(figures["runs_seconds"]["ours"])
        assert len(figures["runs_seconds"]["ours"]) == 2
        # the ratio is ours over the tokenizer, the rate paragraphs over our seconds (to their rounding)
        assert figures["ratio"] == pytest.approx(ours / tokenizer, abs=0.0051)
        assert figures["paragraphs_per_second"] == pytest.approx(paragraphs / ours, abs=1)
        met = figures["paragraphs_per_second"] >= 20_000 and figures["ratio"] <= 6.0
        assert figures["target_met"] == met
        assert figures["mentions"] == sum(figures["by_label"].values()) > 0 and set(figures["by_label"]) >= {"PLACE", "WEAPON"}
        assert figures["mean_tokens"] > 10 and figures["peak_mib"] > 0
        # the table prints what the JSON holds
        _, shown_paragraphs, shown_tokenizer, shown_ours, shown_rate, shown_ratio, shown_met = rows[language]
        assert int(shown_paragraphs.replace(",", "")) == paragraphs
        assert float(shown_tokenizer) == pytest.approx(tokenizer, abs=0.006) and float(shown_ours) == pytest.approx(ours, abs=0.006)
        assert int(shown_rate.replace(",", "")) == figures["paragraphs_per_second"]
        assert float(shown_ratio) == figures["ratio"] and (shown_met == "yes") == figures["target_met"]
    assert summary["target_met"] == all(f["target_met"] for f in summary["languages"].values())
    assert lines[-2].startswith("targets (") and lines[-2].endswith("met" if summary["target_met"] else "NOT met")


@pytest.mark.slow
def test_the_benchmark_measures_both_languages_on_synthetic_narratives(tmp_path):
    summary, lines = run_benchmark(tmp_path, "--paragraphs", "2000", "--source", "synthetic")
    check_figures(summary, lines, 2000)
    assert summary["source"] == "synthetic"
    assert summary["languages"]["ar"]["distinct_paragraphs"] > 1000  # seeded narratives, not one text repeated


@pytest.mark.slow
@pytest.mark.shared_data
@requires_shared_data()
def test_the_benchmark_cycles_the_real_paragraphs(tmp_path):
    summary, lines = run_benchmark(tmp_path, "--paragraphs", "3000")
    check_figures(summary, lines, 3000)
    english = summary["languages"]["en"]
    assert summary["source"] == "real" and 1000 < english["distinct_paragraphs"] < 3000  # all of them, some twice
    assert set(english["by_label"]) == {"PLACE", "ACTOR", "WEAPON", "DATE"}


def test_real_paragraphs_are_prose_of_the_right_language(tmp_path):
    bench = _benchmark_module()
    (tmp_path / "page.md").write_text(
        "# A heading that is long enough to count as a paragraph if headings were kept, which they are not\n\n"
        "Barrel bombs fell on the market of Douma on 12 March 2013, killing eleven people and injuring many others.\n\n"
        "| a table row | that is long enough to be kept if tables were kept, which they are not at all |\n\n"
        "Short line.\n\n"
        "[A bare link whose text is long enough to count if bare links were kept](https://example.org/x)\n", encoding="utf-8")
    (tmp_path / "page_ar.md").write_text("سقطت البراميل المتفجرة على سوق دوما في ١٢ آذار ٢٠١٣ فقتلت أحد عشر شخصاً وجرحت كثيرين غيرهم من المدنيين.\n",
                                         encoding="utf-8")
    english = bench.real_paragraphs(tmp_path, "en")
    assert english == ["Barrel bombs fell on the market of Douma on 12 March 2013, killing eleven people and injuring many others."]
    assert len(bench.real_paragraphs(tmp_path, "ar")) == 1
    assert bench.paragraphs_of("real", "en", 3, tmp_path) == english * 3
    narratives = bench.synthetic_narratives("ar", 50, 7)
    assert narratives == bench.synthetic_narratives("ar", 50, 7) and all(re.search("[\u0600-\u06ff]", t) for t in narratives)
