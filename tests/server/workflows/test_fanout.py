"""Template expansion: placeholders filled from ranges, values and lines; nothing else evaluated."""

from __future__ import annotations

import pytest

from batch_mcp.server.workflows.fanout import TemplateError, expand, line_values, placeholder_names, range_values


def test_a_range_fills_ids_and_command_lines_with_formatted_numbers() -> None:
    template = {"id": "frame-{value:04d}", "commandLine": "render --frame {value} --slot {i}"}
    done = expand(template, range_values([1, 3]), limit=10)
    assert done.tasks == [
        {"id": "frame-0001", "commandLine": "render --frame 1 --slot 0"},
        {"id": "frame-0002", "commandLine": "render --frame 2 --slot 1"},
        {"id": "frame-0003", "commandLine": "render --frame 3 --slot 2"},
    ]
    assert not done.unknown


def test_ranges_include_both_ends_and_take_a_step_either_way() -> None:
    assert list(range_values([0, 10, 5])) == [0, 5, 10]
    assert list(range_values([3, 1])) == [3, 2, 1]
    for bad in ([1], [1, 2, 3, 4], [1, 5, 0], [5, 1, 1], ["a", 2], [True, 2]):
        with pytest.raises(TemplateError):
            range_values(bad)  # type: ignore[arg-type]


def test_object_values_fill_their_keys_everywhere_in_the_task() -> None:
    template = {
        "id": "{scene}-{frame}",
        "commandLine": "/bin/sh -c 'render {scene} {frame} > out.png'",
        "resourceFiles": [{"httpUrl": "https://x/{scene}.blend", "filePath": "{scene}.blend"}],
        "environmentSettings": [{"name": "FRAME", "value": "{frame}"}],
        "outputFiles": [{"filePattern": "out.png", "destination": {"container": {"path": "{scene}/{frame}.png"}}}],
        "requiredSlots": 2,
    }
    done = expand(template, [{"scene": "a", "frame": 7}], limit=10)
    task = done.tasks[0]
    assert task["id"] == "a-7" and task["commandLine"] == "/bin/sh -c 'render a 7 > out.png'"
    assert task["resourceFiles"] == [{"httpUrl": "https://x/a.blend", "filePath": "a.blend"}]
    assert task["environmentSettings"] == [{"name": "FRAME", "value": "7"}]
    assert task["outputFiles"][0]["destination"]["container"]["path"] == "a/7.png"
    assert task["requiredSlots"] == 2  # values that are not strings are copied


def test_unknown_names_stay_as_they_are_and_are_reported_and_braces_can_be_doubled() -> None:
    done = expand({"id": "t{i}", "commandLine": "/bin/sh -c 'echo ${HOME} {{vlaue}} {outdir}'"}, ["a"], limit=10)
    assert done.tasks[0]["commandLine"] == "/bin/sh -c 'echo ${HOME} {vlaue} {outdir}'"
    assert done.unknown == {"HOME", "outdir"}


def test_a_name_that_can_only_be_a_typo_of_a_parameter_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"\{vlaue\}.*\{value\}"):
        expand({"id": "t{i}", "commandLine": "echo {vlaue}"}, ["a"], limit=10)
    with pytest.raises(TemplateError, match=r"\{scen\}.*\{scene\}"):
        expand({"id": "t{i}", "commandLine": "render {scen}"}, [{"scene": "a"}], limit=10)
    # written as a shell variable, the same name is the shell's business
    assert expand({"id": "t{i}", "commandLine": "echo ${vlaue}"}, ["a"], limit=10).unknown == {"vlaue"}


def test_only_names_and_format_specs_are_read_never_attributes_or_indexes() -> None:
    done = expand({"id": "{value.__class__}", "commandLine": "{value[0]}"}, ["abc"], limit=10)
    assert done.tasks[0] == {"id": "{value.__class__}", "commandLine": "{value[0]}"}
    with pytest.raises(TemplateError):
        expand({"id": "{value:>99999999}"}, [1], limit=10)
    with pytest.raises(TemplateError):
        expand({"id": "{value:d}"}, ["text"], limit=10)


def test_lines_are_the_non_blank_lines_and_the_limit_holds() -> None:
    assert line_values("a.png\n\n  b.png  \r\nc.png") == ["a.png", "b.png", "c.png"]
    with pytest.raises(TemplateError):
        expand({"id": "t{i}"}, range(100), limit=99)
    assert placeholder_names({"id": "t{i}", "x": ["{a:03d}", {"y": "{b}"}]}) == {"i", "a", "b"}
