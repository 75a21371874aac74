"""Plate layout widget: a layout shows as a coloured plate map; problems sit at their wells."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

GOOD = """well,cell_line,drug,concentration,unit,role
A01,MDA-MB-231,eribulin,0,nM,vehicle
A02,MDA-MB-231,eribulin,0.1,nM,sample
A03,MDA-MB-231,eribulin,1,nM,sample
A04,MDA-MB-231,eribulin,10,nM,sample
B01,MDA-MB-231E,eribulin,0,nM,vehicle
B02,MDA-MB-231E,eribulin,100,nM,sample
B03,MDA-MB-231E,eribulin,1,uM,sample
H12,,,,,blank
"""

# Row 3 (B02) has a non-numeric concentration, row 4 (C05) an unknown unit.
BAD = """well,cell_line,drug,concentration,unit
A01,MDA-MB-231,eribulin,0,nM
B02,MDA-MB-231,eribulin,lots,nM
C05,MDA-MB-231,eribulin,5,furlongs
"""


@pytest.fixture
def layout_widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-il6assay", "Plate layout")
    return w


def test_valid_layout_colours_the_plate(layout_widget, tmp_path: Path):
    p = tmp_path / "layout.csv"
    p.write_text(GOOD)
    assert layout_widget.load(p) is True
    plate = layout_widget.plate
    # Coloured by cell line: two lines, two colours, blank wells without a cell line uncoloured.
    assert set(plate.well_colors) == {"A01", "A02", "A03", "A04", "B01", "B02", "B03"}
    assert plate.well_colors["A02"] == plate.well_colors["A04"]
    assert plate.well_colors["A02"] != plate.well_colors["B02"]
    assert [label for label, _ in plate._legend] == ["MDA-MB-231", "MDA-MB-231E"]
    assert plate.errors == {}
    assert plate.well_marks["A01"] == "V" and plate.well_marks["H12"] == "B"

    # Concentration on a log scale: 0.1 nM < 1 nM < 10 nM < 100 nM get increasing viridis
    # positions, vehicle wells the neutral grey.
    plate.set_color_by("concentration")
    from napari_il6assay._qt.plate_map import viridis

    # 0.1 nM .. 1 uM spans 4 decades: each decade is a quarter of the colour scale.
    for well, t in (("A02", 0.0), ("A03", 0.25), ("A04", 0.5), ("B02", 0.75), ("B03", 1.0)):
        assert plate.well_colors[well] == viridis(t).name()
    assert plate.well_colors["A01"] == "#9a9a9a"
    assert plate._scale == pytest.approx((-10.0, -6.0))


def test_problems_are_shown_at_their_wells(layout_widget, tmp_path: Path):
    p = tmp_path / "bad.csv"
    p.write_text(BAD)
    assert layout_widget.load(p) is False
    plate = layout_widget.plate
    assert set(plate.errors) == {"B02", "C05"}
    assert "A01" not in plate.errors
    tip = plate.tooltip_text("C05")
    assert "⚠" in tip and "furlongs" in tip
    assert layout_widget.errors.count() == 2
    texts = [layout_widget.errors.item(i).text() for i in range(2)]
    assert any("row 3" in t for t in texts) and any("row 4" in t for t in texts)
    # The offending rows of the table are highlighted too.
    assert set(layout_widget.table.model._highlight) == {1, 2}

    # Fix the two cells in the table: the layout becomes valid and the marks go away.
    model = layout_widget.table.model
    cols = list(model.frame.columns)
    model.setData(model.index(1, cols.index("concentration")), "2")
    model.setData(model.index(2, cols.index("unit")), "uM")
    assert layout_widget.layout is not None
    assert plate.errors == {}
    out = tmp_path / "fixed.xlsx"
    layout_widget.save(out)
    from napari_il6assay.io.layout import read_layout

    t = read_layout(out).table
    assert t.set_index("well").loc["C05", "concentration_M"] == pytest.approx(5e-6)


def test_well_at_maps_pixels_to_wells(layout_widget, qtbot):
    plate = layout_widget.plate
    plate.resize(480, 360)
    for well in ("A01", "D07", "H12"):
        c = plate.well_center(well)
        assert plate.well_at(c.x(), c.y()) == well
    plate.set_plate_format(384)
    c = plate.well_center("P24")
    assert plate.well_at(c.x(), c.y()) == "P24"


def test_sample_layout(layout_widget, repo_root):
    path = repo_root / "sample_data" / "layout.csv"
    assert layout_widget.load(path) is True
    plate = layout_widget.plate
    t = layout_widget.layout.table
    # every well with a cell line is coloured; the blanks (no cells) are not
    with_line = set(t.loc[t["cell_line"].fillna("").astype(str) != "", "well"])
    assert set(plate.well_colors) == with_line
    assert [label for label, _ in plate._legend] == ["MDA-MB-231", "MDA-MB-231E"]
    assert plate._combo_name == "tocilizumab"
    assert {w for w, m in plate.well_marks.items() if m == "B"} == set(
        t.loc[t["role"] == "blank", "well"]
    )
    # combination wells (a second agent) carry a dot and a legend entry
    with_b = set(t.loc[t["drug_b"].fillna("").astype(str) != "", "well"])
    assert with_b and plate.combo_wells == with_b
    plate.set_color_by("drug")
    assert [label for label, _ in plate._legend] == ["eribulin"]
    assert "96 wells, 2 cell line(s)" in layout_widget.status.text()
