"""The views people look at (root + BPF): `record --format svg` opened in headless Chromium,
`--format speedscope` validated against speedscope's schema and loaded into speedscope itself, `convert` of a recorded pprof, and
the pprof's first mapping (go tool pprof's File:) being the program."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, REPO, TEST_RATE, collapsed_counts, npm_packages, require

BROWSER = REPO / "tests" / "browser"
CHROMIUM = "/usr/bin/chromium"
SHARE_TOLERANCE = 5  # percentage points around the workload's 70 / 30 split
ARTIFACTS = BUILD / "test-artifacts"


@pytest.fixture(scope="session")
def browser_tools():
    """playwright-core, ajv and speedscope from npm (tests/browser/package.json), Debian's Chromium."""
    require(shutil.which(CHROMIUM), "needs Debian's chromium (scripts/install-deps.sh --test)")
    return npm_packages(BROWSER, "playwright-core")


def profkit(profkit_bin, *args):
    result = subprocess.run([profkit_bin, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def node(script, *args):
    result = subprocess.run(["node", BROWSER / script, *map(str, args)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_flame_graph_in_chromium(profkit_bin, root, two_functions, browser_tools, tmp_path):
    out = tmp_path / "two_functions.svg"  # the ending chooses the format
    profkit(profkit_bin, "record", "--rate", TEST_RATE, "--output", out, "--", two_functions, "2")
    svg = out.read_text()
    heading = re.search(r'<text id="heading"[^>]*>([^<]*)</text>', svg).group(1)
    assert re.fullmatch(rf".*two_functions 2 · [0-9.]+ s at {TEST_RATE} Hz · [0-9]+ samples", heading), heading
    total = int(re.search(r"· ([0-9]+) samples$", heading).group(1))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "flame_graph.png"
    seen = json.loads(node("flame_graph_check.js", out, "hot_a", "hot_", screenshot))
    assert seen["errors"] == []
    # hot_a's tooltip: the full frame (function, file, module), its samples and their percent.
    lines = seen["tooltip"].split("\n")
    assert lines[0] == "hot_a"
    assert lines[1].endswith(f"two_functions.c in {two_functions}")
    samples = int(re.fullmatch(r"([0-9]+) samples, [0-9.]+%", lines[2]).group(1))
    assert seen["tooltip_percent"] == pytest.approx(100 * samples / total, abs=0.006)
    assert seen["details"].startswith("hot_a") and f"{seen['tooltip_percent']:.2f}%" in seen["details"]
    # Zoomed: hot_a spans the graph and hot_b, beside it, is hidden; Escape brings it back.
    assert seen["zoom"]["width_before"] < 1000
    assert seen["zoom"]["width_after"] == pytest.approx(1180)
    assert seen["zoom"]["hidden_frames"] >= 1 and seen["zoom"]["reset_visible"] == "visible"
    assert seen["unzoomed_hidden_frames"] == 0
    # hot_a and hot_b together are the workload's whole user time.
    assert seen["search"]["highlighted"] >= 2
    assert seen["search"]["percent"] >= 90, seen["search"]
    # hot_a's part of that work is the workload's 70%: start-up and exit samples, more of them on a
    # loaded machine, are in the total but belong to neither.
    hot_a_share = 100 * seen["tooltip_percent"] / seen["search"]["percent"]
    assert abs(hot_a_share - 70) <= SHARE_TOLERANCE, (seen["tooltip"], seen["search"])
    assert screenshot.stat().st_size > 1000
    # As an <img> (scripts off) the file still decodes: a static flame graph.
    assert seen["as_image"]["width"] == 1200 and seen["as_image"]["height"] > 100, seen["as_image"]


def test_speedscope_matches_the_schema(profkit_bin, root, two_functions, browser_tools, tmp_path):
    out = tmp_path / "two_functions.speedscope.json"
    profkit(profkit_bin, "record", "--rate", TEST_RATE, "--output", out, "--", two_functions, "1")
    assert node("validate_speedscope.js", out).strip() == "valid"
    data = json.loads(out.read_text())
    hot_a = next(f for f in data["shared"]["frames"] if f["name"] == "hot_a")
    assert hot_a["file"].endswith("two_functions.c") and hot_a["line"] > 0
    profile = data["profiles"][0]
    assert profile["type"] == "sampled" and profile["name"].startswith("two_functions (")
    assert profile["unit"] == "nanoseconds"
    assert len(profile["samples"]) == len(profile["weights"]) > 0
    # speedscope itself loads it as its own format and titles the window with its name.
    opened = json.loads(node("open_in_speedscope.js", out))
    assert opened["errors"] == [] and opened["imported_as"] == ["Importing as speedscope json file"], opened
    assert opened["title"] == f"{data['name']} - speedscope"


def test_convert_a_python_recording(profkit_bin, root, go_tool, browser_tools, tmp_path):
    python = shutil.which("python3")
    require(python is not None, "needs python3")
    script = REPO / "tests" / "workloads" / "python" / "split.py"
    pprof = tmp_path / "split.pprof"
    profkit(profkit_bin, "record", "--rate", TEST_RATE, "--output", pprof, "--", python, script, "2")

    # go tool pprof titles the profile after mapping 1: the interpreter, not [kernel.kallsyms].
    top = subprocess.run([go_tool, "tool", "pprof", "-top", pprof], capture_output=True, text=True, timeout=120)
    assert top.returncode == 0, top.stderr
    file_line = next(line for line in top.stdout.splitlines() if line.startswith("File: "))
    assert re.fullmatch(r"File: python3(\.[0-9]+)?", file_line), top.stdout[:500]

    collapsed = tmp_path / "split.txt"
    profkit(profkit_bin, "convert", pprof, "-o", collapsed)
    hot_line = next(n for n, text in enumerate(script.read_text().splitlines(), 1) if "# HOT_A" in text)
    stacks = collapsed_counts(collapsed.read_text())
    # The workload's split holds inside run(); the interpreter's start-up and exit (and a pyenv
    # shim's bash, when python3 is one) are outside it and vary with the host's load.
    run_line = f"run ({script}:"
    total = sum(count for frames, count in stacks if any(f.startswith(run_line) for f in frames))
    # Inclusive: the interpreter's C functions sit above hot_a's line in some samples.
    hot = sum(count for frames, count in stacks if f"hot_a ({script}:{hot_line})" in frames)
    assert abs(100 * hot / total - 70) <= SHARE_TOLERANCE, collapsed.read_text()[:3000]

    bare = tmp_path / "bare.txt"
    profkit(profkit_bin, "convert", pprof, "--format", "collapsed", "--no-lines", "-o", bare)
    assert any("hot_a" in frames for frames, _ in collapsed_counts(bare.read_text()))

    svg = tmp_path / "split.svg"
    profkit(profkit_bin, "convert", pprof, "-o", svg)
    assert f'<g class="f p"><title>hot_a (split.py:{hot_line})\n{script}:{hot_line}\n' in svg.read_text()
    speedscope = tmp_path / "split.speedscope.json"
    profkit(profkit_bin, "convert", pprof, "-o", speedscope)
    assert node("validate_speedscope.js", speedscope).strip() == "valid"


def test_convert_rejects_what_is_not_pprof(profkit_bin, tmp_path):
    garbage = tmp_path / "garbage.pprof"
    garbage.write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = subprocess.run([profkit_bin, "convert", garbage, "-o", tmp_path / "out.svg"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "is not a pprof profile profkit can read" in result.stderr
    assert not (tmp_path / "out.svg").exists()
