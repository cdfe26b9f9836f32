"""`batch://` URIs: every template parses, ids and paths round-trip, and bad queries say what is wrong."""

from __future__ import annotations

import re

import pytest

from batch_mcp.server.uris import TEMPLATES, FileQuery, UriError, format_uri, parse_uri


@pytest.mark.parametrize(
    ("uri", "kind", "args"),
    [
        ("batch://pools/p1", "pool", {"pool_id": "p1"}),
        ("batch://pools/p1/nodes/tvm-1_2", "node", {"pool_id": "p1", "node_id": "tvm-1_2"}),
        ("batch://jobs/j1", "job", {"job_id": "j1"}),
        ("batch://jobs/j1/tasks/t1", "task", {"job_id": "j1", "task_id": "t1"}),
        (
            "batch://jobs/j1/tasks/t1/files/wd/out/log.txt",
            "task_file",
            {"job_id": "j1", "task_id": "t1", "file_path": "wd/out/log.txt"},
        ),
        (
            "batch://pools/p1/nodes/n1/files/startup/stderr.txt",
            "node_file",
            {"pool_id": "p1", "node_id": "n1", "file_path": "startup/stderr.txt"},
        ),
    ],
)
def test_each_resource_kind_maps_to_the_arguments_of_its_catalog_tools(uri: str, kind: str, args: dict) -> None:
    target = parse_uri(uri)
    assert (target.kind, target.args) == (kind, args)
    assert target.key == uri


def test_there_is_one_template_per_kind_and_their_examples_parse() -> None:
    kinds = ["job", "job_tasks", "node", "node_file", "pool", "task", "task_file"]
    assert sorted(t.kind for t in TEMPLATES) == kinds
    for template in TEMPLATES:
        example = re.sub(r"\{\?[a-z]+\}", "", template.uri_template)  # optional query expressions left out
        for name in template.variables:
            example = example.replace("{+" + name + "}", "a/b.txt").replace("{" + name + "}", "x1")
        assert parse_uri(example).kind == template.kind


def test_ids_and_path_segments_with_reserved_characters_round_trip() -> None:
    uri = format_uri("node_file", ("p-1", "node #1"), "wd/my file?.txt")  # node ids may hold any printable
    assert uri == "batch://pools/p-1/nodes/node%20%231/files/wd/my%20file%3F.txt"
    target = parse_uri(uri)
    assert target.ids == ("p-1", "node #1")
    assert target.path == "wd/my file?.txt"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("range=10-19", FileQuery(start=10, end=19)),
        ("range=bytes=10-", FileQuery(start=10)),
        ("range=-100", FileQuery(suffix=100)),
        ("tail=20", FileQuery(tail=20)),
    ],
)
def test_file_queries_select_a_range_or_a_tail(query: str, expected: FileQuery) -> None:
    target = parse_uri(f"batch://jobs/j/tasks/t/files/stdout.txt?{query}")
    assert target.query == expected
    assert target.key == "batch://jobs/j/tasks/t/files/stdout.txt"


def test_with_query_builds_the_uri_of_another_window() -> None:
    target = parse_uri("batch://pools/p/nodes/n/files/startup/stdout.txt?tail=5")
    assert target.with_query(start=100) == "batch://pools/p/nodes/n/files/startup/stdout.txt?range=100-"
    assert parse_uri(target.with_query(start=0, end=9)).query == FileQuery(start=0, end=9)


@pytest.mark.parametrize(
    "uri",
    [
        "http://pools/p1",
        "batch://accounts/a",
        "batch://pools/",
        "batch://pools/p1/tasks/t1",
        "batch://jobs/j1/tasks/t1/logs/x",
        "batch://jobs/j1/tasks/t1/files/",
        "batch://jobs/j1/tasks/t1/files/wd/../secret",
        "batch://jobs/j1?tail=5",
        "batch://jobs/j1/tasks/t1/files/a.txt?tail=0",
        "batch://jobs/j1/tasks/t1/files/a.txt?tail=x",
        "batch://jobs/j1/tasks/t1/files/a.txt?range=9-3",
        "batch://jobs/j1/tasks/t1/files/a.txt?range=-",
        "batch://jobs/j1/tasks/t1/files/a.txt?range=1-2&tail=3",
        "batch://jobs/j1/tasks/t1/files/a.txt?lines=3",
    ],
)
def test_uris_this_server_does_not_serve_are_refused(uri: str) -> None:
    with pytest.raises(UriError):
        parse_uri(uri)


@pytest.mark.parametrize(
    "uri",
    [
        "batch://jobs/j1/tasks/t1/files/stdout.txt%00",  # NUL: never sent to Batch
        "batch://jobs/j1/tasks/t1/files/wd/a%0Ab.txt",  # a line break in a path
        "batch://jobs/" + "j" * 65 + "/tasks/t1",  # ids are 1 to 64 letters, digits, - and _
        "batch://jobs/j%20one",
        "batch://pools/p1/nodes/n%00",
        "batch://jobs/j1/tasks/t1/files/" + "a" * 5000,
    ],
)
def test_ids_and_paths_outside_batchs_bounds_are_refused_before_anything_is_sent(uri: str) -> None:
    """The bounds every tool argument is checked against hold for resource URIs and /files/ too."""
    with pytest.raises(UriError, match=r"id of 1 to 64|no control characters|1 to 4096"):
        parse_uri(uri)
