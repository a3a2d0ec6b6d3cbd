"""The command-line contract: exit codes and one-line errors (no root needed)."""
import subprocess


def run(binary, *args, config=None, tmp_path=None):
    argv = [binary, *args]
    if config is not None:
        path = tmp_path / "c.toml"
        path.write_text(config)
        argv += ["--config", path]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def test_version(profkit_bin):
    result = run(profkit_bin, "version")
    assert result.returncode == 0
    assert result.stdout.startswith("profkit ")


def test_help(profkit_bin):
    result = run(profkit_bin, "--help")
    assert result.returncode == 0
    assert "record" in result.stdout and "run" in result.stdout


def test_bad_arguments_exit_2(profkit_bin):
    for args in (["frobnicate"], ["record", "--rate", "abc", "--pid", "1"], ["record"],
                 ["record", "--format", "flamegraph", "--pid", "1"], ["run"]):
        result = run(profkit_bin, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


def test_bad_config_names_the_key(profkit_bin, tmp_path):
    result = run(profkit_bin, "run", config='[ebpf]\nsample_rate = "fast"\n', tmp_path=tmp_path)
    assert result.returncode == 2
    assert "ebpf.sample_rate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_config_file(profkit_bin, tmp_path):
    result = run(profkit_bin, "run", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in result.stderr
