"""The report's first section: the adjusted effect in plain words with its interval, the
descriptive comparisons only under their label, the diagnostics and the power line; checked on
the rendered HTML and, in headless Chromium, on the page a program lead opens."""

from __future__ import annotations

import re

import duckdb
import pytest

from models.intake import lottery_rounds, lottery_sample_size
from reports.browser import chromium_path, load_page
from reports.effect import DESCRIPTIVE_LABEL, plain_effect
from reports.program_report import render_program_report, write_program_report

from .conftest import AS_OF, METRICS, WITHHELD_NOTE, write_program_effect

chromium = pytest.mark.skipif(chromium_path() is None,
                              reason="/usr/bin/chromium is absent (Debian: apt-get install -y chromium chromium-driver)")
NAIVE = "enrolled vs not, unadjusted"


@pytest.fixture
def effect_con(warehouse):
    """The KPI warehouse with program-effect tables; removed again so other tests see the plain one."""
    yield warehouse
    for name in ("program_effect", "program_effect_balance", "program_effect_overlap", "intake_assignment"):
        warehouse.execute(f"DROP TABLE IF EXISTS marts.{name}")


def _headline(html: str) -> str:
    return re.search(r'<div class="effect[^"]*" id="headline-effect">(.*?)</div>', html, re.S).group(1)


def _descriptive_block(html: str) -> str:
    start = html.index('id="descriptive"')
    return html[start:html.index("</section>", start)]


def _rows_with(html: str, text: str) -> list[str]:
    return [r for r in re.findall(r"<tr>(.*?)</tr>", html, re.S) if text in r]


def test_plain_words_say_avoided_more_or_no_detectable_effect():
    assert plain_effect("readmit_30d", -0.034, -0.058, -0.010) == (
        "about 3.4 readmissions avoided per 100 enrolled", "95% CI 1.0 to 5.8")
    assert plain_effect("readmit_30d", 0.02, 0.005, 0.035) == (
        "about 2.0 more readmissions per 100 enrolled", "95% CI 0.5 to 3.5")
    assert plain_effect("readmit_180d", 0.006, -0.021, 0.033) == (
        "no detectable effect", "95% CI from 2.1 fewer to 3.3 more readmissions per 100 enrolled")
    assert plain_effect("paid_6m", -45.0, -80.0, -10.0, "dollars per member-month")[0] == \
        "about $45.0 less paid per member-month"
    assert plain_effect("admissions_12m", -0.004, -0.006, -0.002)[0] == \
        "about 4.0 fewer admissions per 1,000 member-months"


def test_headline_is_the_adjusted_effect_and_naive_figures_only_appear_labelled(effect_con):
    write_program_effect(effect_con)
    html = render_program_report(effect_con, METRICS, AS_OF)
    assert html.index("Does case management work?") < html.index("At a glance") < html.index("KPI trends")
    headline = _headline(html)
    assert "about 3.4 readmissions avoided per 100 enrolled" in headline and "95% CI 1.0 to 5.8" in headline
    assert "E-value 1.62" in headline and "812 enrolled stays" in headline
    # the naive comparison (+9.3 points) and the KPI mart's in/out cards only sit under the label
    naive_rows = _rows_with(html, NAIVE)
    assert naive_rows and all(DESCRIPTIVE_LABEL in r and "+9.3" in r for r in naive_rows)
    assert html.count("+9.3") == len(naive_rows)
    assert _rows_with(html, "before vs after") and all(DESCRIPTIVE_LABEL in r for r in _rows_with(html, "before vs after"))
    descriptive = _descriptive_block(html)
    assert "Camden Coalition" in descriptive and "regression to the mean" in descriptive
    assert "30-day readmission, in case management" in descriptive
    assert html.count("30-day readmission, in case management") == 1
    # the randomised estimate beside the observational one
    lottery = re.search(r'id="lottery-effect">(.*?)</div>', html, re.S).group(1)
    assert "any admission within 180 days of the offer" in lottery and "no detectable effect" in lottery
    assert "95% CI from 15.0 fewer to 7.0 more admissions per 100 offered" in lottery
    # diagnostics: balance flagged above 0.1, a histogram per arm, glosses for the jargon
    assert "above 0.1 after weighting" in html and "2 of 4 characteristics" not in html
    assert "3 of 4 characteristics" in html and "1 after" in html
    assert html.count('class="chart hist"') == 2
    for gloss in ("(ATT)", "<b>E-value</b>", "<b>SMD</b>", "<b>Propensity</b>"):
        assert gloss in html
    # the suppressed program cell shows its note, not a number
    suppressed = _rows_with(html, "complex care")
    assert suppressed and "fewer than 30" in suppressed[0]


def test_power_line_uses_the_control_rate_and_the_latest_band(effect_con):
    write_program_effect(effect_con)
    html = render_program_report(effect_con, METRICS, AS_OF)
    n = lottery_sample_size(0.205, 0.034)
    assert (f"To detect a reduction of 3.4 points in 30-day readmission (from the control rate of 20.5%) with 80% "
            f"power at 5% two-sided, the lottery needs about {n:,} members per arm, i.e. about "
            f"{lottery_rounds(n, 10):,} rounds at this band size (10 members per round).") in html


def test_withheld_headline_shows_the_note_and_no_number(effect_con):
    write_program_effect(effect_con, headline="withheld", lottery=False)
    html = render_program_report(effect_con, METRICS, AS_OF)
    headline = _headline(html)
    assert WITHHELD_NOTE in headline
    rest = headline.replace(WITHHELD_NOTE, "")  # no figure besides the note's own
    assert "95% CI" not in rest and "per 100" not in rest and not re.search(r"\d+\.\d", rest)
    assert 'id="lottery-effect"' not in html
    assert "3 points, a round figure" in html  # the power line falls back to a stated reduction


def test_report_without_effect_tables_says_so_and_keeps_the_cards_labelled(warehouse):
    html = render_program_report(warehouse, METRICS, AS_OF)
    assert "Program effect not estimated yet" in html
    assert "30-day readmission, in case management" in _descriptive_block(html)


@chromium
def test_chromium_shows_the_adjusted_headline_and_the_naive_comparison_only_with_its_label(effect_con, tmp_path):
    write_program_effect(effect_con)
    path = write_program_report(effect_con, tmp_path / "none.json", AS_OF, tmp_path / "report.html")
    page = load_page(path)
    assert page.console == []
    headline = _headline(page.dom)
    assert "readmissions avoided per 100 enrolled" in headline and "95% CI 1.0 to 5.8" in headline
    assert "naive" not in headline.lower() and NAIVE not in headline
    naive_rows = _rows_with(page.dom, NAIVE)
    assert naive_rows and all(DESCRIPTIVE_LABEL in r for r in naive_rows)
    assert page.dom.count("+9.3") == len(naive_rows)
    assert page.dom.count("<svg") >= 12


@chromium
def test_chromium_shows_the_note_of_a_withheld_estimate_and_no_number(effect_con, tmp_path):
    write_program_effect(effect_con, headline="withheld", lottery=False)
    path = write_program_report(effect_con, tmp_path / "none.json", AS_OF, tmp_path / "report.html")
    page = load_page(path)
    assert page.console == []
    headline = _headline(page.dom)
    rest = headline.replace(WITHHELD_NOTE, "")
    assert WITHHELD_NOTE in headline and "95% CI" not in rest and not re.search(r"\d+\.\d", rest)


def test_notebook_helper_reads_the_effect_rows_by_method():
    from reports.analysis import program_effect

    con = duckdb.connect()
    with pytest.raises(FileNotFoundError, match="program_effect step"):
        program_effect(con)
    write_program_effect(con)
    assert program_effect(con, ("naive", "pre_post"))["method"].sort().to_list() == ["naive", "pre_post"]
    assert program_effect(con).height == 8


def test_headline_warns_when_weighting_left_a_characteristic_imbalanced(effect_con):
    write_program_effect(effect_con)
    effect_con.execute("UPDATE marts.program_effect SET max_smd_after = 0.42 "
                       "WHERE method = 'aipw' AND outcome = 'readmit_30d' AND program = 'all'")
    headline = _headline(render_program_report(effect_con, METRICS, AS_OF))
    assert "Caution" in headline and "0.42 SD" in headline and "readmissions avoided" in headline
