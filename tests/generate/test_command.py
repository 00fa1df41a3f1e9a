"""``maillab scenarios generate``: files written, validated, never clobbered."""

from __future__ import annotations

from click.testing import CliRunner

from lab.scenario import load
from lab.scenario.loader import bundled_dir
from maillab.generate import generate_command, scenarios_group


def test_generate_writes_one_valid_file_per_seed(tmp_path):
    out = tmp_path / "variants"
    result = CliRunner().invoke(generate_command, [
        "ptr-missing", "--seed", "5", "--count", "3", "--out", str(out)])

    assert result.exit_code == 0, result.output
    paths = [out / f"ptr-missing-v{n}.yaml" for n in (5, 6, 7)]
    assert result.output.split() == [str(p) for p in paths]
    domains = {load(str(p)).domain for p in paths}
    assert len(domains) == 3 and "contoso.test" not in domains
    assert load(str(paths[0])).name == "ptr-missing-v5"


def test_generate_refuses_to_overwrite_without_force(tmp_path):
    runner = CliRunner()
    args = ["port25-dropped", "--seed", "2", "--out", str(tmp_path)]
    assert runner.invoke(generate_command, args).exit_code == 0
    path = tmp_path / "port25-dropped-v2.yaml"
    path.write_text("edited by hand\n")

    refused = runner.invoke(generate_command, args)
    assert refused.exit_code == 2
    assert "--force" in refused.output
    assert path.read_text() == "edited by hand\n"

    forced = runner.invoke(generate_command, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert load(str(path)).faults[0].type == "port.blocked"


def test_generate_defaults_to_a_generated_folder(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path) as cwd:
        result = runner.invoke(generate_command, ["healthy"])
        assert result.exit_code == 0, result.output
        assert (tmp_path / cwd / "generated" / "healthy-v1.yaml").is_file()


def test_generate_never_writes_into_the_bundled_scenarios():
    before = sorted(p.name for p in bundled_dir().iterdir())
    result = CliRunner().invoke(generate_command, [
        "healthy", "--out", str(bundled_dir() / "variants")])
    assert result.exit_code == 2
    assert "bundled" in result.output
    assert sorted(p.name for p in bundled_dir().iterdir()) == before


def test_generate_reports_an_unknown_scenario(tmp_path):
    result = CliRunner().invoke(generate_command, [
        "ptr-misssing", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "ptr-missing" in result.output
    assert not list(tmp_path.iterdir())


def test_the_group_holds_generate_and_list(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(scenarios_group, ["list"])
    assert listed.exit_code == 0
    assert "pair-spf-redirect-broken" in listed.output

    made = runner.invoke(scenarios_group, ["generate", "mx-missing", "--out",
                                           str(tmp_path)])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "mx-missing-v1.yaml").is_file()
