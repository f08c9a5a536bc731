"""`hybrec bitstream`'s flows on a tiny kernel (24 items, lmax 8): the open ECP5 flow to a real .bit, its
cache and its errors; the Vivado script without Vivado; the ULX3S self-test top under Verilator."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hybrec import protocol, tools
from hybrec.artifacts import sha256_file
from hybrec.bitstream import bist, ecp5, ecp5_blockage, pll
from hybrec.bitstream.vivado import run_vivado, write_vivado_project
from hybrec.builddir import HW_DIR, REPO_ROOT, SIM_DIR, Bitstream, BuildDir, Manifest
from hybrec.simulate.runner import SimulationFailed, run_cocotb, simulator_available
from tiny_kernel import make_tiny_build, retrained_params

pytestmark = [pytest.mark.synth]

SEEDS = (1, 2)   # two nextpnr runs side by side, as `make bitstream` does


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_build(tmp_path_factory.mktemp("tiny-build") / "build")


def require_open_flow() -> None:
    for tool in (tools.YOSYS, tools.NEXTPNR_ECP5):
        if not tools.available(tool):
            pytest.skip(str(tools.ToolMissing(tool)))


@pytest.fixture(scope="module")
def first_bitstream(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, float]:
    require_open_flow()
    out_dir = tmp_path_factory.mktemp("bitstreams") / "tiny"
    started = time.perf_counter()
    result = ecp5.build_bitstream(tiny_build, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False)
    return result, out_dir, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------- PLL
@pytest.mark.parametrize("mhz", [25.0, 50.0, 100.0, 125.0, 150.0, 200.0])
def test_pll_dividers_hit_the_frequency(mhz: float) -> None:
    setting = pll.pll_dividers(mhz)
    assert setting.f_out_mhz == pytest.approx(25.0 / setting.clki_div * setting.clkfb_div)
    assert abs(setting.f_out_mhz - mhz) <= 0.005 * mhz
    assert 400 <= setting.f_vco_mhz <= 800
    assert setting.f_vco_mhz == pytest.approx(setting.f_out_mhz * setting.clkop_div)
    assert setting.clkop_cphase == setting.clkop_div - 1


def test_the_flow_key_hashes_code_not_comments(tmp_path: Path) -> None:
    source = Path(ecp5_blockage.__file__).read_text()
    reworded = source.replace('"""A placement blockage for', '"""A placement blockage, for', 1).replace(
        "# nextpnr's device flag -> its logic area", "# nextpnr's device flag -> the logic area", 1)
    changed = source.replace("MAX_FILL = 0.75", "MAX_FILL = 0.8", 1)
    assert reworded != source and changed != source
    for name, text in (("same.py", reworded), ("other.py", changed)):
        (tmp_path / name).write_text(text)
    assert ecp5.code_sha256(tmp_path / "same.py") == ecp5.code_sha256(Path(ecp5_blockage.__file__))
    assert ecp5.code_sha256(tmp_path / "other.py") != ecp5.code_sha256(Path(ecp5_blockage.__file__))


def test_the_flow_key_holds_the_recipe_not_the_bookkeeping(tiny_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the tools are given is in the key (nextpnr's arguments, the blockage, the Yosys script, a netlist
    pass's code); how the flow reports is not (a committed bitstream stays up to date across such edits)."""
    build, lpf = BuildDir.open(tiny_build), ecp5.BOARD_DIR / "ulx3s.lpf"

    def key() -> str:
        return ecp5.sha256_json(ecp5.input_key(build, "ecp5-85k", 50.0, SEEDS, lpf, False))

    base = key()
    recipe = ecp5.recipe(ecp5.ecp5_device("ecp5-85k"), build, pll.pll_dividers(50.0))
    assert "synth_ecp5 -top ulx3s_bist" in recipe["yosys_script"] and "--seed" in recipe["nextpnr_args"]
    assert set(recipe["netlist_passes_sha256"]) == {"ecp5_netlist.py", "ecp5_dsp.py", "ecp5_bram.py",
                                                    "ecp5_blockage.py"}
    with monkeypatch.context() as m:   # reporting: the LEDs' description, what a seed's record keeps
        m.setattr(ecp5, "BIST_LEDS", "other words")
        m.setattr(ecp5, "RUN_ONLY", ("timing",))
        assert key() == base
    assert ecp5.sha256_json(ecp5.input_key(build, "ecp5-85k", 50.0, SEEDS, lpf, False, tmg_ripup=True)) != base
    # a clock margin is a line of the LPF nextpnr reads: in the key when there is one, and no margin is no line
    assert ecp5.sha256_json(ecp5.input_key(build, "ecp5-85k", 50.0, SEEDS, lpf, False, margin_pct=0.0)) == base
    assert ecp5.sha256_json(ecp5.input_key(build, "ecp5-85k", 50.0, SEEDS, lpf, False, margin_pct=2.0)) != base
    for name, value in (("ROUTER", "router1"), ("BLOCKAGE_ROW_PERIOD", 8), ("SPI_HALF", 8),
                        ("ECPPACK_ARGS", ("--compress", "--bootaddr", "0", "ulx3s_bist.config", "ulx3s_bist.bit"))):
        with monkeypatch.context() as m:
            m.setattr(ecp5, name, value)
            assert key() != base, name
    with monkeypatch.context() as m:
        m.setattr(ecp5, "code_sha256", lambda path: "changed" if path.name == "ecp5_dsp.py" else "same")
        other = key()
        m.setattr(ecp5, "code_sha256", lambda path: "same")
        assert other != key()


def test_pll_refuses_what_it_cannot_make() -> None:
    with pytest.raises(pll.PllError, match="900 MHz"):
        pll.pll_dividers(900.0)


# ---------------------------------------------------------------------------------------------------- open flow
def test_open_flow_makes_a_bitstream(first_bitstream: tuple[dict, Path, float]) -> None:
    result, out_dir, seconds = first_bitstream
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest == {k: v for k, v in result.items() if k != "for_build"}
    assert "selftest" not in manifest and "zynq_7020" not in manifest   # the model's: in build.json
    assert json.loads((out_dir / "build.json").read_text()) == result["for_build"]
    bit = out_dir / result["bitstream"]["file"]
    assert bit.stat().st_size > 10_000 and result["bitstream"]["sha256"] == sha256_file(bit)
    assert result["fmax_mhz"] > 0 and result["timing_met"] and result["clock"]["constraint_mhz"] == pytest.approx(50.0)
    # the figure comes from the tool: the report's clock is also in the log's last "Max frequency" lines
    assert any(abs(v - result["fmax_mhz"]) < 0.5 for v in result["fmax_log_mhz"].values())
    use = result["utilisation"]
    assert 100 < use["LUT4"]["used"] < use["LUT4"]["capacity"] == 83640
    assert use["FF"]["used"] > 50 and use["EHXPLLL"]["used"] == 1
    assert set(result["seconds"]) == {"yosys", "register_passes", "nextpnr", "ecppack"}
    # the tiny kernel's multipliers (the aggregation's normaliser) write into the DSPs' output registers
    dsp = result["dsp_registers"]
    assert dsp["mult18x18d"] > 0 and dsp["output_ports_registered"] == dsp["mult18x18d"]
    # and copies of block-RAM reads move into the block RAMs' output registers
    bram = result["bram_registers"]
    assert bram["dp16kd"] == use["DP16KD"]["used"] and bram["read_ports_registered"] > 0
    assert bram["flipflops_removed"] >= bram["read_ports_registered"]
    # nextpnr placed every fixed LUT4 of the placement blockage (its report counts them, below), and the
    # kernel's LUT4 count leaves them out
    blockage = result["placement_blockage"]
    assert blockage == {"row_period": ecp5.BLOCKAGE_ROW_PERIOD,
                        "luts": ecp5_blockage.count("--85k", ecp5.BLOCKAGE_ROW_PERIOD)} and blockage["luts"] > 10_000
    # the SDF analysis agrees with nextpnr's own Fmax (it times the same graph) and finds nothing failing
    ends = result["failing_endpoints"]
    assert ends["endpoints"] > 1000 and ends["failing"] == 0 and ends["by_block"] == []
    assert ends["sdf_fmax_mhz"] == pytest.approx(result["fmax_mhz"], rel=0.01)
    assert result["build"]["manifest_sha256"] == sha256_file(Path(result["build"]["dir"]) / "manifest.json")
    assert result["build"]["kernel_files"] and all(name.startswith("rtl/") for name in result["build"]["kernel_files"])
    # one routed run per seed; the kept one is the fastest, under the plain names, and its report is the manifest's
    runs = result["seeds"]
    assert [run["seed"] for run in runs] == list(SEEDS) and all(run["fmax_mhz"] > 0 for run in runs)
    assert all(set(run) == {"seed", "fmax_mhz", "seconds"} for run in runs)   # no parsed report, no exception
    kept = max(runs, key=lambda run: (run["fmax_mhz"], -run["seed"]))
    assert result["seed"] == kept["seed"] and result["fmax_mhz"] == kept["fmax_mhz"]
    work = out_dir / "work"
    report = json.loads((work / "report.json").read_text())
    assert not (work / f"report_seed{kept['seed']}.json").exists()
    assert ecp5.read_report(report)["fmax_mhz"] == result["fmax_mhz"]
    assert report["utilization"]["TRELLIS_COMB"]["used"] == use["LUT4"]["used"] + blockage["luts"]
    for run in runs:
        if run["seed"] != kept["seed"]:   # the other seed's log and report stay, its placement does not
            assert (work / f"nextpnr_seed{run['seed']}.log").is_file()
            other = json.loads((work / f"report_seed{run['seed']}.json").read_text())
            assert ecp5.read_report(other)["fmax_mhz"] == run["fmax_mhz"]
    assert not list(work.glob("*.sdf")) and not list(work.glob("*.config"))
    assert seconds < 300
    # the bitstream is the shape's; the self-test image beside it is the build's model's
    build = BuildDir.open(Path(result["build"]["dir"]))
    assert result["shape"] == {"key": build.kernel.shape_key, "word": build.kernel.shape["word"],
                               "n_items_max": 32}
    assert result["for_build"]["match"] == "same build" and result["for_build"]["build"] == result["build"]
    assert result["for_build"]["bitstream_sha256"] == result["bitstream"]["sha256"]
    selftest = result["for_build"]["selftest"]
    image = out_dir / selftest["file"]
    assert selftest["sha256"] == sha256_file(image) and selftest["build_id"] == build.build_id
    header = bist.read_header(image.read_bytes())
    assert header.shape_key == build.kernel.shape_key and header.model_sha256 == sha256_file(build.image_path)
    assert selftest["expected"]["words"] == header.expected.words and selftest["flash_offset"] == "0x400000"
    assert Bitstream.read(out_dir).matches(build) == "same build"
    # the tiny build has no Zynq fit: the manifest says which command makes one instead of leaving it out
    zynq = result["for_build"]["zynq_7020"]
    assert zynq["yosys_synth_xilinx"] is None and "hybrec fit" in zynq["missing"]


def test_place_only_reports_every_block_without_routing(tiny_build: Path, tmp_path: Path) -> None:
    """`hybrec bitstream --place-only`: placement per seed, the SDF of the placer's delays analysed by block, no
    bitstream. At 200 MHz the tiny kernel misses the clock, so the report has failing blocks to name. With a
    clock margin nextpnr places for 204 MHz and the endpoints are judged at 200."""
    require_open_flow()
    out = tmp_path / "placement"
    result = ecp5.place_design(tiny_build, out, freq_mhz=200.0, seeds=(2,), margin_pct=2.0)   # one seed: run_seeds
    assert json.loads((out / "placement.json").read_text()) == result
    assert result["format"] == "hybrec-placement/1" and result["clock"]["period_ns"] == pytest.approx(5.0)
    assert result["clock"]["margin_pct"] == 2.0 and result["clock"]["nextpnr_mhz"] == pytest.approx(204.0)
    assert "constraining clock net 'g_pll.clkop' to 204.00 MHz" in (out / "work" / "nextpnr_seed2.log").read_text()
    assert result["shape"]["key"] == BuildDir.open(tiny_build).kernel.shape_key
    assert [run["seed"] for run in result["seeds"]] == [2]
    work = out / "work"
    for run in result["seeds"]:
        # the estimate is nextpnr's own: the SDF's Fmax agrees with the log's line after placement
        assert 0 < run["fmax_mhz"] < 200.0 and run["failing"] > 0 and run["worst_slack_ns"] < 0
        assert any(abs(v - run["fmax_mhz"]) < 0.5 for v in run["fmax_log_mhz"].values())
        assert run["by_block"] and sum(g["failing"] for g in run["by_block"]) <= run["failing"]
        assert min(g["worst_slack_ns"] for g in run["by_block"]) == pytest.approx(run["worst_slack_ns"])
        groups = json.loads((out / run["groups"]).read_text())
        assert groups["failing"] == run["failing"] and groups["groups"][0]["worst_path"]
        assert run["utilisation"]["LUT4"]["used"] > 100 and run["utilisation"]["DP16KD"]["used"] > 0
        assert "Running router" not in (work / f"nextpnr_seed{run['seed']}.log").read_text()
    assert not list(out.glob("*.bit")) and not list(work.glob("*.sdf")) and not list(work.glob("*.config"))
    assert set(result["seconds"]) == {"yosys", "register_passes", "nextpnr"}


def test_place_only_is_refused_for_the_vivado_flow(tiny_build: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hybrec.cli import main

    assert main(["bitstream", "--build", str(tiny_build), "--target", "pynq-z2", "--place-only"]) == 2
    assert "--place-only is for the open ECP5 flow" in capsys.readouterr().err
    assert not (tiny_build / "vivado").exists() and not (tiny_build / "placement").exists()


def test_zynq_estimates_sit_beside_finns(tiny_build: Path, tmp_path: Path) -> None:
    usage = {"LUT": {"used": 51107, "capacity": 53200, "percent": 96.1}}
    build = BuildDir.open(tiny_build)
    finn = {"res_estimation": {"MVAU_hls_0": {"LUT": 1234}}, "part": "xc7z020clg400-1"}
    copy = BuildDir(tmp_path, Manifest.from_json({**build.manifest.raw, "finn": finn}))
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "xc7z020.json").write_text(json.dumps({"usage": usage, "fits": True, "seconds": 919.1,
                                                                "command": "synth_xilinx -family xc7"}))
    got = ecp5.zynq_estimates(copy)
    assert got["yosys_synth_xilinx"]["usage"] == usage and got["yosys_synth_xilinx"]["fits"] is True
    assert got["finn_res_estimation_mlp"] == finn["res_estimation"] and "missing" not in got


def test_a_clock_margin_aims_nextpnr_higher_and_the_pll_judges() -> None:
    """With a margin nextpnr is given the PLL output's clock that much faster (an LPF line on the PLL's net);
    the routed result is judged at the PLL's clock, the one the kernel runs at."""
    clock = pll.pll_dividers(100.0)
    assert ecp5.router_mhz(clock, 2.0) == pytest.approx(102.0) and ecp5.constraint_line(clock, 0.0) == ""
    assert ecp5.constraint_line(clock, 2.0) == 'FREQUENCY NET "g_pll.clkop" 102.000 MHz ;\n'
    for bad in (-1.0, 25.0):
        with pytest.raises(ecp5.BitstreamError, match="margin"):
            ecp5.check_margin(bad)
    report = {"fmax": {"$glbnet$g_pll.clkop": {"achieved": 101.2, "constraint": 102.0}}, "utilization": {}}
    plain = ecp5.read_report(report)
    assert not plain["timing_met"] and plain["constraint_mhz"] == plain["nextpnr_constraint_mhz"] == 102.0
    judged = ecp5.read_report(report, clock_mhz=clock.f_out_mhz)
    assert judged["timing_met"] and judged["constraint_mhz"] == 100.0 and judged["nextpnr_constraint_mhz"] == 102.0
    assert not ecp5.read_report(report, clock_mhz=101.5)["timing_met"]
    # the constraint names the PLL's net: a netlist without it is refused before nextpnr ignores the line
    ecp5.check_clock_net({"modules": {"ulx3s_bist": {"netnames": {"g_pll.clkop": {}}}}})
    with pytest.raises(ecp5.BitstreamError, match=r"g_pll\.clkop"):
        ecp5.check_clock_net({"modules": {"ulx3s_bist": {"netnames": {"clk_25mhz": {}}}}})


def test_the_fastest_routed_seed_is_kept(tmp_path: Path) -> None:
    failure = tools.ToolFailed("nextpnr-ecp5", 1, tmp_path / "nextpnr_seed3.log", "ERROR: no route")
    runs = [{"seed": 3, "error": "exit 1; log nextpnr_seed3.log", "failure": failure},
            {"seed": 1, "fmax_mhz": 70.0, "seconds": 1.0}, {"seed": 2, "fmax_mhz": 70.0, "seconds": 1.0},
            {"seed": 4, "fmax_mhz": 65.5, "seconds": 1.0}]
    assert ecp5.choose_seed(runs)["seed"] == 1                    # a tie goes to the earlier run
    assert ecp5.choose_seed(runs[2:])["seed"] == 2
    stopped = {"seed": 5, "stopped": "another seed had met the clock", "seconds": 1.0}
    assert ecp5.choose_seed([stopped, *runs[3:]])["seed"] == 4    # a stopped seed is never kept
    with pytest.raises(tools.ToolFailed, match="no route"):       # nothing routed: the first failure
        ecp5.choose_seed(runs[:1])
    for bad in ((), (1, 1), (1, "2")):
        with pytest.raises(ecp5.BitstreamError, match="seeds"):
            ecp5.check_seeds(bad)
    assert ecp5.check_seeds([2, 1]) == (2, 1) and ecp5.seed_file(2, "nextpnr.stdout.log") == "nextpnr_seed2.stdout.log"


def test_a_seed_that_meets_the_clock_stops_the_others(first_bitstream: tuple[dict, Path, float], tiny_build: Path,
                                                       tmp_path: Path) -> None:
    """One nextpnr at a time: seed 1 meets 50 MHz, so seed 2 is never started; the manifest says so. The
    policy is part of the cache key: the all-seeds bitstream of the same build is another folder. This run
    has router2's timing-driven rip-up on."""
    require_open_flow()
    result = ecp5.build_bitstream(tiny_build, tmp_path / "early", freq_mhz=50.0, seeds=(1, 2), jobs=1,
                                  tmg_ripup=True)
    assert result["timing_met"] and result["seed"] == 1
    # router2 also ripped up for timing (it logs the failing arcs' count each iteration; none at 50 MHz)
    routed = (tmp_path / "early" / "work" / "nextpnr.log").read_text()
    assert "tmgfail=0" in routed and "tmgfail=" not in (first_bitstream[1] / "work" / "nextpnr.log").read_text()
    assert result["key"] != first_bitstream[0]["key"]
    first, second = result["seeds"]
    assert first["seed"] == 1 and first["fmax_mhz"] == result["fmax_mhz"]
    assert second == {"seed": 2, "stopped": "not started: another seed had met the clock"}
    work = tmp_path / "early" / "work"
    assert (work / "nextpnr.log").is_file() and not (work / "nextpnr_seed2.log").exists()


def test_second_call_reuses_the_bitstream(first_bitstream: tuple[dict, Path, float], tiny_build: Path) -> None:
    result, out_dir, _ = first_bitstream
    log, manifest = out_dir / "work" / "nextpnr.log", out_dir / "manifest.json"
    before, written = log.stat().st_mtime_ns, manifest.read_bytes()
    started = time.perf_counter()
    again = ecp5.build_bitstream(tiny_build, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False)
    assert again == result
    assert time.perf_counter() - started < 10 and log.stat().st_mtime_ns == before
    # a Zynq fit made after the bitstream reaches build.json without another place-and-route
    fit = tiny_build / "fit" / "xc7z020.json"
    fit.parent.mkdir(exist_ok=True)
    fit.write_text(json.dumps({"usage": {"LUT": {"used": 1, "capacity": 53200}}, "fits": True}))
    try:
        third = ecp5.build_bitstream(tiny_build, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False)
    finally:
        fit.unlink()
    assert third["for_build"]["zynq_7020"]["yosys_synth_xilinx"]["fits"] is True
    assert log.stat().st_mtime_ns == before and json.loads((out_dir / "build.json").read_text()) == third["for_build"]
    assert manifest.read_bytes() == written   # the bitstream's manifest is never rewritten


def test_a_recompile_of_the_same_kernel_finds_its_bitstream(first_bitstream: tuple[dict, Path, float],
                                                           tiny_build: Path, tmp_path: Path) -> None:
    """The same kernel compiled again elsewhere differs only in FINN's report (its wall time) and the
    manifest's compile time: no place-and-route; build.json names the new build, the manifest still the one
    the bitstream was made from.
    A changed kernel file is a new key."""
    result, out_dir, _ = first_bitstream
    log = out_dir / "work" / "nextpnr.log"
    before = log.stat().st_mtime_ns
    again = tmp_path / "again"
    shutil.copytree(tiny_build, again)
    manifest = json.loads((again / "manifest.json").read_text())
    # the tiny build runs no FINN: give the copy a FINN report of its own, as a full compile writes one
    (again / "finn").mkdir(exist_ok=True)
    (again / "finn" / "finn.json").write_text(json.dumps({"seconds": 12.3}))
    manifest["files"]["finn/finn.json"] = sha256_file(again / "finn" / "finn.json")
    manifest["compile_seconds"] = manifest.get("compile_seconds", 0) + 1.0
    (again / "manifest.json").write_text(json.dumps(manifest))
    try:
        found = ecp5.build_bitstream(again, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False)
        assert log.stat().st_mtime_ns == before
        assert found["key"] == result["key"] and found["bitstream"] == result["bitstream"]
        assert found["for_build"]["build"]["dir"] == str(again.resolve()) and found["build"] == result["build"]
        assert found["for_build"]["build"]["manifest_sha256"] == sha256_file(again / "manifest.json") != \
            result["build"]["manifest_sha256"]
        rtl = next(rel for rel in manifest["files"] if rel.startswith("rtl/"))
        changed = json.loads(json.dumps(manifest))
        changed["files"][rtl] = "0" * 64
        lpf = ecp5.BOARD_DIR / "ulx3s.lpf"
        keys = [ecp5.sha256_json(ecp5.input_key(BuildDir(again, Manifest.from_json(m)), "ecp5-85k", 50.0, SEEDS,
                                                lpf, False)) for m in (manifest, changed)]
        assert keys[0] == result["key"] != keys[1]
    finally:   # the module's bitstream goes back to naming the tiny build
        assert ecp5.build_bitstream(tiny_build, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False) == result


@pytest.fixture(scope="module")
def other_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Another model of the tiny kernel's shape (a retrain), and the tiny model in a wider shape (64 items)."""
    folder = tmp_path_factory.mktemp("other-builds")
    return (make_tiny_build(folder / "retrained", retrained_params(), name="retrained"),
            make_tiny_build(folder / "wider", n_items_max=64, name="wider"))


def test_the_bitstream_key_is_the_shapes(tiny_build: Path, other_builds: tuple[Path, Path]) -> None:
    """Two models of one shape: the same key and default folder; another shape: another key."""
    builds = [BuildDir.open(path) for path in (tiny_build, *other_builds)]
    tiny, retrained, wider = builds
    assert tiny.build_id != retrained.build_id
    assert sha256_file(tiny.image_path) != sha256_file(retrained.image_path)
    assert tiny.kernel.shape_key == retrained.kernel.shape_key != wider.kernel.shape_key
    lpf = ecp5.BOARD_DIR / "ulx3s.lpf"
    keys = [ecp5.sha256_json(ecp5.input_key(b, "ecp5-85k", 50.0, SEEDS, lpf, False)) for b in builds]
    assert keys[0] == keys[1] != keys[2]
    assert ecp5.default_out(tiny, "ecp5-85k") == ecp5.default_out(retrained, "ecp5-85k") != \
        ecp5.default_out(wider, "ecp5-85k")
    # the flow's settings still count
    assert ecp5.sha256_json(ecp5.input_key(tiny, "ecp5-85k", 60.0, SEEDS, lpf, False)) != keys[0]


def test_a_retrained_model_finds_its_bitstream(first_bitstream: tuple[dict, Path, float], tiny_build: Path,
                                               other_builds: tuple[Path, Path]) -> None:
    """A retrained model of the same shape: no place-and-route, the same .bit; its own self-test image and
    build.json. A bitstream of the wider shape is not one of the tiny shape's."""
    result, out_dir, _ = first_bitstream
    retrained, wider = other_builds
    log = out_dir / "work" / "nextpnr.log"
    before = log.stat().st_mtime_ns
    try:
        found = ecp5.build_bitstream(retrained, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False)
        assert log.stat().st_mtime_ns == before
        assert found["key"] == result["key"] and found["bitstream"] == result["bitstream"]
        served = found["for_build"]
        assert found["shape"] == result["shape"] and found["build"] == result["build"]
        assert served["build"]["build_id"] == BuildDir.open(retrained).build_id and served["match"] == "same shape"
        assert served["selftest"]["sha256"] != result["for_build"]["selftest"]["sha256"]
        assert served["selftest"]["sha256"] == sha256_file(out_dir / bist.FILE)
        bit = Bitstream.read(out_dir)
        assert bit.matches(BuildDir.open(retrained)) == "same shape"
        assert bit.matches(BuildDir.open(tiny_build)) == "same build"
        assert bit.matches(BuildDir.open(wider)) is None
    finally:   # the module's bitstream goes back to naming the tiny build
        assert ecp5.build_bitstream(tiny_build, out_dir, freq_mhz=50.0, seeds=SEEDS, stop_when_met=False) == result


def test_bad_constraint_names_the_tool(tiny_build: Path, tmp_path: Path) -> None:
    require_open_flow()
    lpf = tmp_path / "bad.lpf"
    text = (ecp5.BOARD_DIR / "ulx3s.lpf").read_text().replace('SITE "B2"', 'SITE "ZZ99"')
    lpf.write_text(text)
    with pytest.raises(tools.ToolFailed, match="nextpnr-ecp5") as caught:
        ecp5.build_bitstream(tiny_build, tmp_path / "bitstream", freq_mhz=50.0, lpf=lpf)
    assert "ZZ99" in str(caught.value) and "its log: " in str(caught.value)
    assert not (tmp_path / "bitstream" / "manifest.json").exists()


def test_unreachable_frequency_is_reported(tiny_build: Path, tmp_path: Path) -> None:
    require_open_flow()
    with pytest.raises(pll.PllError):
        ecp5.build_bitstream(tiny_build, tmp_path / "bitstream", freq_mhz=900.0)
    # with a clock margin: nextpnr aims 5 % above the PLL's 300 MHz, and the result is judged at 300 MHz
    result = ecp5.build_bitstream(tiny_build, tmp_path / "bitstream", freq_mhz=300.0, margin_pct=5.0)
    assert result["timing_met"] is False and 0 < result["fmax_mhz"] < 300.0
    assert result["clock"]["constraint_mhz"] == 300.0 and result["clock"]["margin_pct"] == 5.0
    assert result["clock"]["nextpnr_constraint_mhz"] == pytest.approx(315.0, rel=1e-3)   # a period in whole ps
    assert "constraining clock net 'g_pll.clkop' to 315.00 MHz" in (
        tmp_path / "bitstream" / "work" / "nextpnr.log").read_text()
    # the failing endpoints, grouped by block: the group with the design's worst slack first (the SDF
    # analysis times nextpnr's own delays, so that slack gives nextpnr's Fmax), then by failing count
    ends = result["failing_endpoints"]
    assert 0 < ends["failing"] <= ends["endpoints"] and ends["by_block"]
    assert sum(g["failing"] for g in ends["by_block"]) <= ends["failing"]
    assert ends["sdf_fmax_mhz"] == pytest.approx(result["fmax_mhz"], rel=0.02)
    worst = ends["by_block"][0]["worst_slack_ns"]
    assert worst == min(g["worst_slack_ns"] for g in ends["by_block"])
    assert worst == pytest.approx(1000 / 300.0 - 1000 / ends["sdf_fmax_mhz"], abs=0.01)


@pytest.mark.slow
def test_a_stalled_timing_ripup_is_stopped(tiny_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Aimed at a clock its placement cannot reach, router2's timing rip-up wanders (it would go on to its
    1,500th iteration: hours); the flow stops the seed as stalled and says what to do. The patience is cut
    from 80 iterations to 10 to keep this to minutes."""
    require_open_flow()
    monkeypatch.setattr(ecp5, "RIPUP_PATIENCE", 10)
    out = tmp_path / "bitstream"
    with pytest.raises(ecp5.BitstreamError, match="rip-up stalled") as caught:
        ecp5.build_bitstream(tiny_build, out, freq_mhz=300.0, seeds=(1,), tmg_ripup=True, timeout_s=1800)
    ago = re.search(r"since iteration \d+, (\d+) iterations ago", str(caught.value))
    assert ago is not None and int(ago[1]) >= 10 and "aim lower" in str(caught.value)   # the log is read every 5 s
    assert not (out / "manifest.json").exists() and not (out / "ulx3s_bist.bit").exists()


# ---------------------------------------------------------------------------------------------------- Vivado
def test_vivado_script_without_vivado(tiny_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "pynq"
    with pytest.raises(tools.ToolMissing, match="Vivado is not installed: nothing was built"):
        run_vivado(tiny_build, out)
    tcl = (out / "create_project.tcl").read_text()
    for needle in ("xc7z020clg400-1", "processing_system7", "axi_dma", "hybrec_kernel", "launch_runs impl_1",
                   "write_bitstream", "FCLK_CLK0", "proc_sys_reset", "assign_bd_address", ".hwh"):
        assert needle in tcl, needle
    assert (out / "rtl" / "hybrec_kernel.v").is_file() and list((out / "rtl").glob("*.hex"))
    assert not list(out.rglob("*.bit"))
    again = write_vivado_project(tiny_build, out)
    assert again["tcl"] == str(out / "create_project.tcl")


# ---------------------------------------------------------------------------------------------------- BIST top
BIST_SIM_FILES = ("USRMCLK.v", "spi_flash_model.v", "ulx3s_bist_tb.v")


def verilator_lint(files: list[Path], top: str, params: dict[str, object], cwd: Path) -> subprocess.CompletedProcess:
    gs = [f"-G{k}={v}" for k, v in params.items()]
    return subprocess.run([*tools.locate(tools.VERILATOR), "--lint-only", "-Wall", "--top-module", top, *gs,
                           *map(str, files)], cwd=cwd, capture_output=True, text=True,
                          env=tools.environment(tools.VERILATOR))


def test_bist_top_lints_clean(tmp_path: Path) -> None:
    if not simulator_available("verilator"):
        pytest.skip("Verilator is not installed")
    stub = tmp_path / "hybrec_kernel.v"  # the board top alone: the kernel and the PLL as ports only
    stub.write_text(
        "/* verilator lint_off UNUSEDSIGNAL */ /* verilator lint_off UNUSEDPARAM */\n"
        "module hybrec_kernel #(parameter MEM_DIR = \"./\") (input wire ap_clk, input wire ap_rst_n,\n"
        "  input wire [31:0] s_axis_tdata, input wire [3:0] s_axis_tkeep, input wire s_axis_tvalid,\n"
        "  output wire s_axis_tready,\n"
        "  input wire s_axis_tlast, output wire [63:0] m_axis_tdata, output wire m_axis_tvalid,\n"
        "  input wire m_axis_tready, output wire m_axis_tlast);\n"
        "  assign s_axis_tready = 1'b1; assign m_axis_tdata = 64'd0; assign m_axis_tvalid = 1'b0;\n"
        "  assign m_axis_tlast = 1'b0;\nendmodule\n")
    board = [ecp5.BOARD_DIR / name for name in ecp5.BOARD_SOURCES]
    usrmclk = SIM_DIR / "boards" / "USRMCLK.v"
    for use_pll in (0, 1):
        files = [*board, usrmclk, stub, HW_DIR / "stream" / "axis_register.v"]   # the top's register slice
        if use_pll:
            files.append(SIM_DIR / "boards" / "EHXPLLL.v")
        result = verilator_lint(files, "ulx3s_bist", {"USE_PLL": use_pll, "SHAPE_WORD": "32'h12345678"}, tmp_path)
        assert result.returncode == 0, result.stderr
        own = [line for line in result.stderr.splitlines() if any(f"{f.name}:" in line for f in board)]
        assert not own, "\n".join(own)
    sim = [SIM_DIR / "boards" / name for name in BIST_SIM_FILES]
    result = verilator_lint([*board, *sim, stub, HW_DIR / "stream" / "axis_register.v"], "ulx3s_bist_tb", {},
                            tmp_path)
    assert result.returncode == 0, result.stderr


FLASH_BYTES = 1 << 12   # the simulated flash's window at the image's offset (the tiny build's image: < 1 KB)


@pytest.fixture(scope="module")
def bist_sim(tiny_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Verilated self-test top for the module's tests: the flash file's path and size are parameters, so
    each test writes its image into the same file and runs the same model."""
    if not simulator_available("verilator"):
        pytest.skip("Verilator is not installed")
    work = tmp_path_factory.mktemp("bist-sim")
    (work / "mem").mkdir()
    for path in BuildDir.open(tiny_build).memory_files:
        shutil.copyfile(path, work / "mem" / path.name)
    return work


def run_bist(build: Path, shared: Path, work: Path, image: bytes) -> dict:
    """The self-test top on ``build``'s kernel with ``image`` in the simulated flash; what its LEDs and its
    counters showed."""
    assert len(image) <= FLASH_BYTES
    opened = BuildDir.open(build)
    flash = bist.write_flash_hex(image, shared / "flash.hex")
    work.mkdir(parents=True, exist_ok=True)
    report = work / "bist_report.json"
    sources = [*opened.sources, *(ecp5.BOARD_DIR / name for name in ecp5.BOARD_SOURCES),
               *(SIM_DIR / "boards" / name for name in BIST_SIM_FILES)]
    cycles = 4 * 2 * 32 * (len(image) // 4 + 64) + 200_000   # SCK = clk / 4: 128 cycles a word, then answers
    with contextlib.suppress(SimulationFailed):  # the testbench records what the LEDs show; assertions below
        run_cocotb(toplevel="ulx3s_bist_tb", sources=sources, test_module="test_ulx3s_bist",
                   test_dir=SIM_DIR / "boards", build_dir=shared / "sim",
                   parameters={"SHAPE_WORD": f"32'h{opened.kernel.shape['word']}", "FLASH_ADDR": "24'h400000",
                               "SPI_HALF": 2, "WAKE_CYCLES": 64, "STALL_BITS": 16, "QUIET_BITS": 8,
                               "MEM_DIR": f'"{shared}/mem/"', "FLASH_FILE": f'"{flash}"',
                               "FLASH_BYTES": FLASH_BYTES},
                   extra_env={"HYBREC_BIST_REPORT": str(report), "HYBREC_BIST_CYCLES": str(cycles)})
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def selftest(tiny_build: Path) -> bist.SelfTestImage:
    return bist.selftest_image(BuildDir.open(tiny_build), queries=4)


def flip(data: bytes, byte: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[byte] ^= 1 << bit
    return bytes(out)


def with_header_checksums(data: bytes) -> bytes:
    """``data`` with the header's checksum of the records made right again (a consistent image of another
    model: only the kernel's answers can tell)."""
    s1, s2 = protocol.checksums(np.frombuffer(data[bist.HEADER_BYTES:], dtype="<u4"))
    return data[:28] + np.array([s1, s2], dtype="<u4").tobytes() + data[36:]


def test_selftest_image_format(selftest: bist.SelfTestImage, tiny_build: Path) -> None:
    build = BuildDir.open(tiny_build)
    data = selftest.to_bytes()
    header = bist.read_header(data)
    vectors = build.vectors()
    queries = 4 + vectors.corner_rows().size
    assert header.shape_word == build.model_image().shape_word and header.shape_key == build.kernel.shape_key
    assert header.packets == queries + 2 and header.queries == queries and header.k == vectors.k == 3
    assert header.expected.lasts == queries + 2 and header.expected.words == 2 + 3 * queries + 2
    assert header.model_sha256 == sha256_file(build.image_path)
    # the first record is the model image's load packet, byte for byte
    packet = build.model_image().packet_bytes()
    first = int.from_bytes(data[128:132], "little")
    assert first == (0xA << 28) | (0xF << 24) | (len(packet) // 4)
    assert data[132:132 + len(packet)] == packet
    for damaged in (flip(data, 200), data[:-4], flip(data, 0)):
        with pytest.raises(bist.SelfTestError):
            bist.read_header(damaged)


def test_bist_top_passes_on_the_tiny_kernel(selftest: bist.SelfTestImage, tiny_build: Path, bist_sim: Path,
                                           tmp_path: Path) -> None:
    image = selftest.to_bytes()
    seen = run_bist(tiny_build, bist_sim, tmp_path, image)
    expected = bist.read_header(image).expected
    assert seen["done"] == 1 and seen["pass"] == 1 and seen["fail"] == 0 and seen["code"] == 0, seen
    assert (seen["words"], seen["lasts"], seen["s1"], seen["s2"]) == (expected.words, expected.lasts, expected.s1,
                                                                      expected.s2)


def test_bist_top_fails_on_a_flipped_answer(selftest: bist.SelfTestImage, tiny_build: Path, bist_sim: Path,
                                            tmp_path: Path) -> None:
    image = flip(selftest.to_bytes(), 44, 3)   # the answers' expected s1
    seen = run_bist(tiny_build, bist_sim, tmp_path, image)
    assert seen["done"] == 1 and seen["pass"] == 0 and seen["fail"] == 1 and seen["code"] == 6, seen


def test_bist_top_fails_on_a_flipped_model_bit(selftest: bist.SelfTestImage, tiny_build: Path, bist_sim: Path,
                                               tmp_path: Path) -> None:
    """One bit of the model's payload flipped: as read from flash, the records' checksum differs (code 3);
    with the header's checksum made right, the kernel holds another model and its answers differ (code 6)."""
    image = selftest.to_bytes()
    payload = bist.HEADER_BYTES + 4 * (1 + 3) + 8   # record head, load header, shape word, n_items, then 2 words
    flipped = flip(image, payload, 5)
    seen = run_bist(tiny_build, bist_sim, tmp_path / "raw", flipped)
    assert seen["done"] == 1 and seen["fail"] == 1 and seen["code"] == 3, seen
    seen = run_bist(tiny_build, bist_sim, tmp_path / "fixed", with_header_checksums(flipped))
    assert seen["done"] == 1 and seen["fail"] == 1 and seen["code"] == 6, seen


def test_bist_top_refuses_an_image_of_another_shape(selftest: bist.SelfTestImage, tiny_build: Path,
                                                    bist_sim: Path, tmp_path: Path) -> None:
    seen = run_bist(tiny_build, bist_sim, tmp_path, flip(selftest.to_bytes(), 16, 0))
    assert seen["done"] == 1 and seen["fail"] == 1 and seen["code"] == 2 and seen["words"] == 0, seen


def test_repo_has_board_files() -> None:
    assert (REPO_ROOT / "hw" / "boards" / "ulx3s" / "ulx3s.lpf").is_file()
