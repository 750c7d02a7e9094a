from __future__ import annotations

import re
import zipfile

from reports.worklist import ALL_SHEET, write_intake_workbook, write_worklists

from .conftest import AS_OF


def test_workbook_has_the_full_list_and_one_filterable_sheet_per_case_manager(intake, tmp_path):
    path = write_intake_workbook(intake, tmp_path / "intake.xlsx", AS_OF)
    with zipfile.ZipFile(path) as z:
        workbook = z.read("xl/workbook.xml").decode()
        sheets = re.findall(r'<sheet name="([^"]+)"', workbook)
        assert sheets == [ALL_SHEET, "CM0001", "CM0002"]
        xml = [z.read(f"xl/worksheets/sheet{i}.xml").decode() for i in (1, 2, 3)]
        shared = z.read("xl/sharedStrings.xml").decode()
        tables = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/tables/")]
    # each sheet is an Excel table (sort and filter buttons on the header) with the header row frozen
    assert len(tables) == 3 and all("<autoFilter" in t for t in tables)
    assert all('state="frozen"' in x and "<tablePart " in x for x in xml)
    assert [x.count("<row ") for x in xml] == [4, 3, 2]  # header + members
    for header in ("Member ID", "Reason 1", "Case manager", "Contact by", "Open care gaps", "Rising risk"):
        assert header in shared
    assert "stay_id" not in shared and "score_raw" not in shared  # only what a case manager needs


def test_one_html_worklist_per_case_manager_with_reasons(intake, tmp_path):
    paths = write_worklists(intake, tmp_path, AS_OF)
    assert [p.name for p in paths] == ["worklist_CM0001.html", "worklist_CM0002.html"]
    first = paths[0].read_text()
    assert "P001" in first and "P002" in first and "P003" not in first
    assert "3 ED visits in the 6 months before admission" in first and "rising risk" in first
    assert "2024-06-01" in first and "no recent discharge" in first
    second = paths[1].read_text()
    assert "<script>alert" not in second and "&lt;script&gt;" in second  # reasons are escaped
    assert 'name="viewport"' in first
