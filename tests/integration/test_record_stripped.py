"""`profkit record` on a stripped workload named from its separate debug file (issue 12; root + BPF).

The C workload is split as distributions ship it (objcopy --only-keep-debug, --strip-all,
--add-gnu-debuglink); the debug file sits beside the stripped binary, where the debuglink points.
"""
import shutil
import subprocess

from conftest import TEST_RATE, collapsed_counts

HOT = {"hot_a", "hot_b", "run_user", "main"}


def split(two_functions, directory, keep_debug_file):
    directory.mkdir()
    full = directory / "two_functions.full"
    shutil.copy(two_functions, full)
    debug = directory / "two_functions.debug"
    stripped = directory / "two_functions"
    subprocess.run(["objcopy", "--only-keep-debug", full, debug], check=True)
    subprocess.run(["objcopy", "--strip-all", full, stripped], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=two_functions.debug", "two_functions"],
                   cwd=directory, check=True)
    if not keep_debug_file:
        debug.unlink()
    return stripped


def record_names(profkit_bin, workload, out):
    result = subprocess.run(
        [str(a) for a in (profkit_bin, "record", "--rate", TEST_RATE, "--format", "collapsed",
                          "--output", out, "--", workload, "3")],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return {name for frames, _ in collapsed_counts(out.read_text()) for name in frames}


def test_record_stripped_workload_named_from_debuglink(profkit_bin, root, two_functions, tmp_path):
    with_debug = split(two_functions, tmp_path / "with", keep_debug_file=True)
    names = record_names(profkit_bin, with_debug, tmp_path / "with.txt")
    assert HOT <= names, sorted(names)[:50]

    # The control: the same stripped binary without its debug file names none of them.
    alone = split(two_functions, tmp_path / "alone", keep_debug_file=False)
    names = record_names(profkit_bin, alone, tmp_path / "alone.txt")
    assert not HOT & names, sorted(names)[:50]
    assert any(name.startswith("two_functions+0x") for name in names), sorted(names)[:50]
