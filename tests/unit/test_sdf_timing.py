"""hybrec.bitstream.sdf_timing on a hand-written SDF in nextpnr's dialect: arrival times, setup, grouping."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrec.bitstream.sdf_timing import analyse_sdf, group_of, leading_groups

# u.a.r0 -> LUT u.a.l0 -> u.b.r1 (fails at 4 ns), u.a.r0 -> u.a.r2 direct (meets), a RAM output -> u.b.r3
# (clock-to-output 5 ns: fails); delays in ps as nextpnr writes them, rise/fall triples (min:typ:max)
SDF = r"""(DELAYFILE
  (SDFVERSION "3.0")
  (DESIGN "top")
  (VENDOR "nextpnr")
  (PROGRAM "nextpnr")
  (DIVIDER /)
  (TIMESCALE 1ps)
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY
      (ABSOLUTE
        (INTERCONNECT u.a.r0/Q u.a.l0/A (900:1000:1100) (900:1000:1100))
        (INTERCONNECT u.a.l0/F u.b.r1/DI (1900:2000:2100) (1900:2000:2200))
        (INTERCONNECT u.a.r0/Q u.a.r2/DI (100:200:300) (100:200:300))
        (INTERCONNECT u.m\[3\].ram/DO0 u.b.r3/DI (400:500:600) (400:500:600))
        (INTERCONNECT clk/O u.a.r0/CLK (0:0:0) (0:0:0))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u.a.r0)
    (DELAY
      (ABSOLUTE
        (IOPATH CLK Q (400:450:500) (400:450:500))
      )
    )
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE u.a.l0)
    (DELAY
      (ABSOLUTE
        (IOPATH A F (200:250:300) (200:250:400))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u.b.r1)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u.a.r2)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (100:100:100) (0:0:0))
    )
  )
  (CELL
    (CELLTYPE "DP16KD")
    (INSTANCE u.m\[3\].ram)
    (DELAY
      (ABSOLUTE
        (IOPATH CLKA DO0 (5000:5000:5000) (5000:5000:5000))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE u.b.r3)
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (50:50:50) (0:0:0))
    )
  )
)
"""


def test_slacks_groups_and_the_worst_path(tmp_path: Path) -> None:
    sdf = tmp_path / "t.sdf"
    sdf.write_text(SDF)
    out = analyse_sdf(sdf, period_ns=4.0, depth=2)
    # r1: 0.5 + 1.1 + 0.4 + 2.2 = 4.2, setup 0.1 -> slack -0.3; r3: 5.0 + 0.6 + 0.05 -> -1.65; r2, r0 meet
    # (r0's DI has no driver in this file: not an endpoint)
    assert out["endpoints"] == 3 and out["failing"] == 2
    assert out["worst_slack_ns"] == pytest.approx(-1.65)
    assert out["fmax_mhz"] == pytest.approx(1000 / 5.65, abs=0.01)
    groups = {g["group"]: g for g in out["groups"]}
    assert set(groups) == {"u.b"} and groups["u.b"]["failing"] == 2
    assert groups["u.b"]["worst_slack_ns"] == pytest.approx(-1.65)
    path = groups["u.b"]["worst_path"]
    assert [h["cell"] for h in path] == ["u.m[3].ram"] and path[0]["type"] == "DP16KD"
    # within a margin of failing: at least the failing ones, more with a wider margin, grouped like them
    near = out["near_critical"]
    assert [n["margin_ns"] for n in near] == [0.5, 1.0, 2.0]
    counts = [n["endpoints"] for n in near]
    assert out["failing"] <= counts[0] <= counts[1] <= counts[2] <= out["endpoints"]
    assert all(sum(n["groups"].values()) == n["endpoints"] for n in near)


def test_near_critical_counts_the_endpoints_within_each_margin(tmp_path: Path) -> None:
    sdf = tmp_path / "t.sdf"
    sdf.write_text(SDF)
    # at a 2 ns period r1 and r3 fail and r2 (in u.a) meets it with between 1 and 2 ns to spare
    out = analyse_sdf(sdf, period_ns=2.0, depth=2)
    assert out["failing"] == 2
    near = {n["margin_ns"]: n for n in out["near_critical"]}
    assert [near[m]["endpoints"] for m in (0.5, 1.0, 2.0)] == [2, 2, 3]
    assert near[1.0]["groups"] == {"u.b": 2} and near[2.0]["groups"] == {"u.b": 2, "u.a": 1}


def test_lut_path_is_traced_back_to_its_register(tmp_path: Path) -> None:
    sdf = tmp_path / "t.sdf"
    sdf.write_text(SDF.replace("(5000:5000:5000) (5000:5000:5000)", "(1000:1000:1000) (1000:1000:1000)"))
    out = analyse_sdf(sdf, period_ns=4.0, depth=3)
    assert out["failing"] == 1 and out["worst_slack_ns"] == pytest.approx(-0.3)
    (grp,) = out["groups"]
    assert grp["group"] == "u.b" and grp["worst_endpoint"] == "u.b.r1/DI"
    assert [(h["cell"], h["pin"]) for h in grp["worst_path"]] == [("u.a.r0", "Q"), ("u.a.l0", "F")]


def test_group_of_folds_generate_indices() -> None:
    assert group_of("u_kernel.u_mvau0.g_pe[12].g_dot.q_TRELLIS_FF_Q", 3) == "u_kernel.u_mvau0.g_pe[*]"
    assert group_of("lonely_cell", 3) == "(top)"


def test_the_worst_group_leads_however_few_endpoints_it_has() -> None:
    groups = [{"group": f"g{i}", "failing": 100 - i, "worst_slack_ns": -1.0 - i / 10} for i in range(5)]
    groups.append({"group": "lone", "failing": 1, "worst_slack_ns": -4.5})
    assert [g["group"] for g in leading_groups(groups[::-1], 3)] == ["lone", "g0", "g1"]
    assert [g["group"] for g in leading_groups(groups, 9)] == ["lone", "g0", "g1", "g2", "g3", "g4"]
    assert leading_groups([], 3) == [] and leading_groups(groups, 0) == []
