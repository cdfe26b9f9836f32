"""Arguments onto the wire: every binding kind, driven by the catalog and the spec's own examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx2
import pytest

from batch_mcp.batch import ArgumentError, BatchClient
from batch_mcp.batch.binding import JSON_CONTENT_TYPE, RequestPlan, encode_file_path
from batch_mcp.batch.retry import RetryMode
from batch_mcp.batch.shaping import file_properties, reported_headers, strip_odata
from batch_mcp.catalog import Catalog, load_catalog
from tests.batch.fakebatch import ENDPOINT
from tests.catalog.examples import examples, to_arguments
from tests.conftest import API_VERSIONS

pytestmark = pytest.mark.anyio


def test_every_tool_of_every_catalog_gets_a_plan() -> None:
    """Plans are built from the catalog alone, so a new tool needs no client code."""
    for version in API_VERSIONS:
        for tool in load_catalog(version):
            plan = RequestPlan(tool)
            assert plan.method == tool.http.method


def test_retry_modes_follow_the_catalog(catalog: Catalog) -> None:
    modes = {tool.name: RequestPlan(tool).mode for tool in catalog}
    assert modes["job_add"] is RetryMode.CREATE and modes["pool_add"] is RetryMode.CREATE
    assert modes["task_add_collection"] is RetryMode.CREATE
    assert modes["job_get"] is RetryMode.SAFE and modes["pool_delete"] is RetryMode.SAFE
    assert modes["pool_evaluate_auto_scale"] is RetryMode.SAFE  # a POST the catalog marks idempotent
    assert modes["node_reboot"] is RetryMode.UNSAFE and modes["job_terminate"] is RetryMode.UNSAFE


def test_path_arguments_are_percent_encoded_but_file_paths_keep_their_slashes(catalog: Catalog) -> None:
    plan = RequestPlan(catalog["task_file_get"])
    prepared = plan.prepare({"job_id": "job 1/x", "task_id": "t#1", "file_path": "wd/out dir/result 100%.txt"})
    assert prepared.path == "/jobs/job%201%2Fx/tasks/t%231/files/wd/out%20dir/result%20100%25.txt"


def test_certificate_paths_fill_both_key_parameters(catalog: Catalog) -> None:
    prepared = RequestPlan(catalog["certificate_get"]).prepare({"thumbprint_algorithm": "sha1", "thumbprint": "ab12"})
    assert prepared.path == "/certificates(thumbprintAlgorithm=sha1,thumbprint=ab12)"


@pytest.mark.parametrize("bad", ["../../pools/p1", "wd/../x", "./x", "wd\\..\\..\\x", "/", ""])
def test_file_paths_that_would_leave_the_file_tree_are_refused(bad: str) -> None:
    with pytest.raises(ArgumentError):
        encode_file_path(bad)


def test_a_leading_slash_on_a_file_path_is_dropped() -> None:
    assert encode_file_path("/wd/a b.txt") == "wd/a%20b.txt"


def test_query_header_and_body_arguments_land_where_the_binding_says(catalog: Catalog) -> None:
    prepared = RequestPlan(catalog["task_file_delete"]).prepare(
        {"job_id": "j", "task_id": "t", "file_path": "wd", "recursive": True}
    )
    assert prepared.params == {"recursive": "true"} and prepared.content is None
    prepared = RequestPlan(catalog["pool_resize"]).prepare(
        {"pool_id": "p", "if_match": "0x8D", "targetDedicatedNodes": 3, "dry_run": True}
    )
    assert prepared.headers == {"If-Match": "0x8D", "Content-Type": JSON_CONTENT_TYPE}
    assert json.loads(prepared.content or b"") == {"targetDedicatedNodes": 3}  # dry_run is the server's
    prepared = RequestPlan(catalog["job_list"]).prepare({"filter": "state eq 'active'", "max_results": 5})
    assert prepared.params == {"$filter": "state eq 'active'"}  # max_results is paging, not a query


def test_a_required_body_with_no_fields_is_sent_as_an_empty_object(catalog: Catalog) -> None:
    prepared = RequestPlan(catalog["job_disable"]).prepare({"job_id": "j"})
    assert prepared.content == b"{}" and prepared.headers["Content-Type"] == JSON_CONTENT_TYPE
    prepared = RequestPlan(catalog["pool_stop_resize"]).prepare({"pool_id": "p"})
    assert prepared.content is None and "Content-Type" not in prepared.headers


def test_unknown_and_missing_arguments_are_refused(catalog: Catalog) -> None:
    plan = RequestPlan(catalog["job_get"])
    with pytest.raises(ArgumentError):
        plan.prepare({"job_id": "j", "jobid": "typo"})
    with pytest.raises(ArgumentError):
        plan.prepare({"select": "id"})


# -- the spec's examples through the whole client --------------------------------------------------


def _headers(response: dict[str, Any]) -> dict[str, str]:
    """Example replies give headers at the top level (2024) or under "headers" (2018)."""
    raw = response.get("headers") if isinstance(response.get("headers"), dict) else response
    return {k: str(v) for k, v in raw.items() if k not in ("body", "headers")}


def _example_reply(response: dict[str, Any], method: str) -> httpx2.Response:
    headers = _headers(response)
    body = response.get("body")
    if method == "HEAD":
        return httpx2.Response(200, headers=headers)
    headers.pop("Content-Length", None)
    if isinstance(body, str):
        return httpx2.Response(200, headers=headers, content=body.encode())
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "odata.nextLink"}  # paging has its own tests
    return (
        httpx2.Response(200, headers=headers, json=body) if body is not None else httpx2.Response(200, headers=headers)
    )


def _expected_path(template: str, parameters: dict[str, Any]) -> str:
    path = template
    for key, value in parameters.items():
        path = path.replace("{" + key + "}", str(value))
    return path


@pytest.mark.parametrize("version", API_VERSIONS)
async def test_every_spec_example_becomes_the_request_it_describes(version: str, specs_dir: Path) -> None:
    """Path, query, header and body arguments of every example reach the wire as the example shows, and
    each example reply comes back in the shape its tool's result kind promises."""
    catalog = load_catalog(version)
    by_key = {(t.http.method, t.http.path): t for t in catalog}
    seen: list[httpx2.Request] = []
    replies: list[httpx2.Response] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return replies.pop(0)

    kinds = set()
    async with BatchClient(catalog, ENDPOINT, transport=httpx2.MockTransport(handler)) as client:
        for example in examples(specs_dir / version / "BatchService.json"):
            tool = by_key[(example.operation.method, example.operation.path)]
            args = to_arguments(tool, example)
            response = next(r for s, r in example.responses.items() if s.startswith("2"))
            replies.append(_example_reply(response, tool.http.method))
            result: Any
            if tool.http.result == "list":
                result = await client.list(tool, args, max_items=args.get("max_results", 1000))
            elif tool.http.result == "bytes":
                async with client.open_stream(tool, args) as stream:
                    result = await stream.read()
            else:
                result = await client.call(tool, args)
            request = seen[-1]
            kinds.add(tool.http.result)

            assert request.method == tool.http.method
            assert unquote(request.url.path) == _expected_path(tool.http.path, example.parameters), example.path.name
            assert request.url.params["api-version"] == catalog.api_version
            for name, binding in tool.http.args.items():
                if name in args and binding.location == "query":
                    assert request.url.params[binding.wire] == _wire(args[name]), (example.path.name, name)
                if name in args and binding.location == "header":
                    assert request.headers[binding.wire] == str(args[name]), (example.path.name, name)
            body_args = {k: v for k, v in args.items() if tool.http.args[k].location == "body"}
            if body_args:
                assert request.headers["content-type"] == JSON_CONTENT_TYPE
                assert json.loads(request.content) == body_args, example.path.name
            _check_result(tool.http.result, result, response)
    assert kinds == {"json", "list", "bytes", "headers", "exists", "file_properties"}


def _wire(value: Any) -> str:
    return {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _check_result(kind: str, result: Any, response: dict[str, Any]) -> None:
    body = response.get("body")
    headers = _headers(response)
    if kind == "list":
        assert result.items == body["value"]
    elif kind == "bytes":
        assert result == body.encode()
    elif kind == "json":
        assert result.data == strip_odata(body or {})
    elif kind == "exists":
        assert result.data == {"exists": True}
    elif kind == "file_properties":
        assert result.data == file_properties(headers) and result.data["contentLength"] == int(
            headers["Content-Length"]
        )
    else:
        assert result.data == reported_headers(headers)
