"""The question bank and the exercise sets, over every bundled file."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenario import bundled_names, load
from lab.scenario.model import Question
from maillab.quiz.exercises import offline_findings
from maillab.quiz.sets import SetError, bundled_sets, is_set, load_set, set_names


@pytest.mark.parametrize("name", bundled_names())
def test_every_scenario_has_a_well_formed_question(name: str):
    question = load(name).question

    assert 3 <= len(question.choices) <= 5
    assert sum(c.best for c in question.choices) == 1
    assert all(c.why.strip() and c.text.strip() for c in question.choices)
    texts = [c.text for c in question.choices]
    assert len(set(texts)) == len(texts), "two choices read the same"


def test_the_model_refuses_a_question_without_exactly_one_best():
    choice = {"text": "x", "why": "y"}
    with pytest.raises(ValueError, match="exactly one best"):
        Question.model_validate({"stem": "s", "choices": [choice] * 3})
    with pytest.raises(ValueError):
        Question.model_validate({"stem": "s", "choices": [
            {"text": "x", "best": True}, choice, choice]})


@pytest.mark.parametrize("name", bundled_names())
def test_a_faulty_scenario_reveals_some_ground_truth(name: str):
    scenario = load(name)
    found = offline_findings(scenario)
    assert bool(found) == bool(scenario.faults or scenario.findings.add)


def test_every_bundled_set_loads_with_members_that_exist():
    sets = bundled_sets()
    assert {"ports", "dns", "spf", "mixed"} <= {s.name for s in sets}
    for chosen in sets:
        assert chosen.level in ("beginner", "intermediate", "advanced")
        assert set(chosen.scenarios) <= set(bundled_names())
    assert all(is_set(n) for n in set_names())
    assert not is_set("port25-dropped")


def test_a_set_naming_a_missing_scenario_names_file_line_and_scenario(tmp_path):
    path = tmp_path / "lesson.yaml"
    path.write_text("title: A lesson\nlevel: beginner\nscenarios:\n"
                    "  - port25-dropped\n  - port25-dropt\n")

    with pytest.raises(SetError) as caught:
        load_set(str(path))

    message = str(caught.value)
    assert message.startswith(f"{path}:5:")
    assert "port25-dropt" in message and "did you mean 'port25-dropped'" in message


def test_a_set_rejects_unknown_fields_and_levels_at_their_line(tmp_path):
    path = tmp_path / "lesson.yaml"
    path.write_text("title: A lesson\nlevel: beginner\nscenarios: [healthy]\n"
                    "colour: blue\n")
    with pytest.raises(SetError, match=r":4: unknown field"):
        load_set(str(path))

    path.write_text("title: A lesson\nlevel: expert\nscenarios: [healthy]\n")
    with pytest.raises(SetError, match=r":2: .*beginner"):
        load_set(str(path))


def test_a_set_is_checked_against_the_scenarios_present_at_load_time(tmp_path):
    path = tmp_path / "tls.yaml"
    path.write_text("title: TLS\nlevel: advanced\nscenarios: [tls-from-next-term]\n")

    with pytest.raises(SetError, match="tls-from-next-term"):
        load_set(str(path))
    later = load_set(str(path), known=["tls-from-next-term"])
    assert later.scenarios == ("tls-from-next-term",)


def test_an_unknown_set_name_suggests_the_nearest():
    with pytest.raises(SetError, match="did you mean 'ports'"):
        load_set("portz")
    assert Path(load_set("ports").name) == Path("ports")
