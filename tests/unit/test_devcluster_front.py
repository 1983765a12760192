"""The discovery front against a fake API server, over real loopback HTTP; and the core v1
Events it serves itself, as kopf posts them and kubectl reads them.

The fake stands in for apiextensions-apiserver: it lists CRDs, publishes its own
OpenAPI root and apiextensions document, serves group discovery for one group
only, and records what reaches it, so each test can check what the front
answers itself and what it passes through untouched.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from supervisely_devkit.devcluster.front import DiscoveryFront, UpstreamConfig

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
STEP_TIMEOUT = 5.0


def _crd(
    *,
    group: str,
    kind: str,
    plural: str,
    versions: list[dict[str, Any]],
    established: bool = True,
    scope: str = "Namespaced",
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "versions": versions,
            "names": {
                "kind": kind,
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": ["wg"],
            },
        },
        "status": {
            "conditions": [
                {"type": "Established", "status": "True" if established else "False"},
            ]
        },
    }


WIDGET_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer", "description": "How large the widget is."},
            },
        }
    },
}
CRD_LIST = {
    "kind": "CustomResourceDefinitionList",
    "items": [
        _crd(
            group="example.test",
            kind="Widget",
            plural="widgets",
            versions=[
                {
                    "name": "v1beta1",
                    "served": True,
                    "storage": False,
                    "schema": {"openAPIV3Schema": WIDGET_SCHEMA},
                },
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": WIDGET_SCHEMA},
                },
                {"name": "v0", "served": False, "storage": False},
            ],
        ),
        _crd(
            group="pending.test",
            kind="Gadget",
            plural="gadgets",
            established=False,
            versions=[{"name": "v1", "served": True, "storage": True}],
        ),
    ],
}
UPSTREAM_OPENAPI_ROOT = {
    "paths": {
        "apis/apiextensions.k8s.io/v1": {
            "serverRelativeURL": "/openapi/v3/apis/apiextensions.k8s.io/v1?hash=ABC",
        }
    }
}
UPSTREAM_APIEXTENSIONS_DOC = {
    "openapi": "3.0.0",
    "paths": {},
    "components": {
        "schemas": {
            OBJECT_META: {"type": "object", "description": "real ObjectMeta"},
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON": {"type": "object"},
        }
    },
}


@dataclass
class FakeApiServer:
    """What reached the fake, and a switch that lets a streamed answer finish."""

    received: list[web.Request] = field(default_factory=list)
    watchers: list[web.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    finish_watch: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", self._json(CRD_LIST)
        )
        app.router.add_get("/openapi/v3", self._json(UPSTREAM_OPENAPI_ROOT))
        app.router.add_get(
            "/openapi/v3/apis/apiextensions.k8s.io/v1", self._json(UPSTREAM_APIEXTENSIONS_DOC)
        )
        app.router.add_get(
            "/apis/example.test", self._json({"kind": "APIGroup", "served-by": "upstream"})
        )
        app.router.add_get(
            "/apis/example.test/v1beta1/namespaces/ns/widgets/gone",
            self._json(
                {"kind": "Status", "code": 404, "reason": "NotFound", "details": {"name": "gone"}},
                status=404,
            ),
        )
        app.router.add_get("/watch", self._watch)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_route("*", "/echo/{tail:.*}", self._echo)
        return app

    @staticmethod
    def _json(document: dict[str, Any], status: int = 200) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(document, status=status)

        return handler

    async def _echo(self, request: web.Request) -> web.Response:
        self.received.append(request)
        self.bodies.append(await request.read())
        return web.Response(
            status=418,
            body=b"echoed",
            headers={"X-Upstream": "yes"},
            content_type="application/json",
        )

    async def _redirect(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        self.watchers.append(request)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"type":"ADDED","object":{}}\n')
        await self.finish_watch.wait()
        await response.write(b'{"type":"DELETED","object":{}}\n')
        await response.write_eof()
        return response


@dataclass(frozen=True)
class Setup:
    fake: FakeApiServer
    front_url: str
    http: aiohttp.ClientSession


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    fake = FakeApiServer()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    front = DiscoveryFront(upstream=UpstreamConfig(url=str(server.make_url("")).rstrip("/")))
    try:
        url = await front.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT)) as http:
            yield Setup(fake=fake, front_url=url, http=http)
    finally:
        fake.finish_watch.set()
        await front.close()
        await server.close()


async def _get_json(setup: Setup, path: str) -> Any:
    async with setup.http.get(setup.front_url + path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_api_lists_core_v1(setup: Setup) -> None:
    document = await _get_json(setup, "/api")
    assert document["kind"] == "APIVersions"
    assert document["versions"] == ["v1"]


async def test_core_v1_lists_namespaces_and_events_for_kopf(setup: Setup) -> None:
    document = await _get_json(setup, "/api/v1")
    assert document["kind"] == "APIResourceList"
    names = {r["name"]: r for r in document["resources"]}
    assert set(names) == {"namespaces", "events"}
    assert names["namespaces"]["namespaced"] is False
    assert names["events"]["namespaced"] is True


async def test_apis_is_built_from_established_crds(setup: Setup) -> None:
    document = await _get_json(setup, "/apis")
    groups = {g["name"]: g for g in document["groups"]}
    assert set(groups) == {"apiextensions.k8s.io", "example.test"}  # pending.test not established
    example = groups["example.test"]
    assert [v["version"] for v in example["versions"]] == ["v1", "v1beta1"]  # v0 not served
    assert example["preferredVersion"] == {"groupVersion": "example.test/v1", "version": "v1"}


async def test_group_discovery_the_upstream_serves_is_not_shadowed(setup: Setup) -> None:
    document = await _get_json(setup, "/apis/example.test")
    assert document == {"kind": "APIGroup", "served-by": "upstream"}


async def test_group_version_discovery_is_made_where_the_upstream_has_none(setup: Setup) -> None:
    document = await _get_json(setup, "/apis/example.test/v1")
    resources = {r["name"]: r for r in document["resources"]}
    assert document["groupVersion"] == "example.test/v1"
    assert resources["widgets"]["kind"] == "Widget"
    assert resources["widgets"]["shortNames"] == ["wg"]
    assert "watch" in resources["widgets"]["verbs"]
    assert resources["widgets/status"]["verbs"] == ["get", "patch", "update"]


async def test_unknown_group_discovery_passes_the_upstream_404(setup: Setup) -> None:
    async with setup.http.get(setup.front_url + "/apis/nowhere.test/v1") as response:
        assert response.status == 404


async def test_openapi_root_adds_crd_group_versions_to_upstream_listing(setup: Setup) -> None:
    root = await _get_json(setup, "/openapi/v3")
    assert "apis/apiextensions.k8s.io/v1" in root["paths"]
    url = root["paths"]["apis/example.test/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/example.test/v1?hash=")
    assert "apis/example.test/v1beta1" in root["paths"]
    assert "apis/pending.test/v1" not in root["paths"]


async def test_openapi_document_shape_lets_kubectl_validate_and_explain(setup: Setup) -> None:
    root = await _get_json(setup, "/openapi/v3")
    document = await _get_json(setup, root["paths"]["apis/example.test/v1"]["serverRelativeURL"])
    schemas = document["components"]["schemas"]
    widget = schemas["test.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.test", "version": "v1", "kind": "Widget"}
    ]
    assert set(widget["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
    spec_size = widget["properties"]["spec"]["properties"]["size"]
    assert spec_size["description"] == "How large the widget is."
    assert widget["properties"]["metadata"]["allOf"] == [
        {"$ref": f"#/components/schemas/{OBJECT_META}"}
    ]
    assert schemas[OBJECT_META]["description"] == "real ObjectMeta"  # copied from upstream
    widget_list = schemas["test.example.v1.WidgetList"]
    assert widget_list["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/test.example.v1.Widget"
    }
    collection = document["paths"]["/apis/example.test/v1/namespaces/{namespace}/widgets"]
    item = document["paths"]["/apis/example.test/v1/namespaces/{namespace}/widgets/{name}"]
    gvk = {"group": "example.test", "version": "v1", "kind": "Widget"}
    for operation in (collection["post"], item["put"], item["patch"]):
        assert operation["x-kubernetes-group-version-kind"] == gvk
        params = {(p["name"], p["in"]) for p in operation["parameters"]}
        assert ("fieldValidation", "query") in params


async def test_openapi_for_an_unknown_group_version_goes_upstream(setup: Setup) -> None:
    async with setup.http.get(setup.front_url + "/openapi/v3/apis/nowhere.test/v1") as response:
        assert response.status == 404


async def test_pass_through_keeps_method_body_query_status_and_headers(setup: Setup) -> None:
    url = setup.front_url + "/echo/apis/x/v1/things?labelSelector=a%3Db&watch=1"
    body = b'{"spec": {"size": 3}}'
    async with setup.http.patch(
        url,
        data=body,
        headers={"Content-Type": "application/merge-patch+json", "Authorization": "Bearer dropped"},
    ) as response:
        assert response.status == 418
        assert response.headers["X-Upstream"] == "yes"
        assert await response.read() == b"echoed"
    request = setup.fake.received[-1]
    assert request.method == "PATCH"
    assert request.path_qs == "/echo/apis/x/v1/things?labelSelector=a%3Db&watch=1"
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert "Authorization" not in request.headers
    assert setup.fake.bodies[-1] == body


async def test_a_request_without_content_type_arrives_without_one(setup: Setup) -> None:
    async with setup.http.post(
        setup.front_url + "/echo/create",
        data=b'{"kind": "Widget"}',
        skip_auto_headers=["Content-Type"],
    ) as response:
        assert response.status == 418
    request = setup.fake.received[-1]
    assert "Content-Type" not in request.headers
    assert setup.fake.bodies[-1] == b'{"kind": "Widget"}'


async def test_redirects_pass_through_instead_of_being_followed(setup: Setup) -> None:
    async with setup.http.get(setup.front_url + "/redirect", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == "/elsewhere"


async def test_a_watch_streams_chunk_by_chunk_before_the_upstream_finishes(setup: Setup) -> None:
    async with setup.http.get(setup.front_url + "/watch") as response:
        assert response.status == 200
        # The upstream holds its stream open until finish_watch is set: a front that
        # buffered the whole answer would time out here.
        first = await asyncio.wait_for(response.content.readline(), STEP_TIMEOUT)
        assert json.loads(first)["type"] == "ADDED"
        setup.fake.finish_watch.set()
        second = await asyncio.wait_for(response.content.readline(), STEP_TIMEOUT)
        assert json.loads(second)["type"] == "DELETED"
        assert await response.content.read() == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param(
            "/apis/example.test/v1beta1/widgets?watch=true", 503, id="served-crd-starting"
        ),
        pytest.param("/apis/example.test/v1beta1/namespaces/ns/widgets/w1", 503, id="an-object"),
        pytest.param(
            "/apis/example.test/v1beta1/namespaces/ns/widgets/gone", 404, id="object-gone"
        ),
        pytest.param("/apis/example.test/v1beta1/gadgets", 404, id="no-such-crd"),
        pytest.param("/apis/example.test/v9/widgets", 404, id="no-such-version"),
    ],
)
async def test_a_bare_404_for_a_served_crd_means_starting_and_is_a_503(
    setup: Setup, path: str, status: int
) -> None:
    """A restarted server answers "404 page not found" until it serves its CRDs again; kopf's
    watcher would take that for the resource gone and stop the whole operator."""
    async with setup.http.get(setup.front_url + path) as response:
        assert response.status == status
        if status == 503:
            assert (await response.json())["reason"] == "ServiceUnavailable"


async def test_an_unreachable_upstream_gives_kubernetes_status_errors() -> None:
    front = DiscoveryFront(upstream=UpstreamConfig(url="http://127.0.0.1:9"))
    try:
        url = await front.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT)) as http:
            async with http.get(url + "/apis") as response:
                assert response.status == 503
                assert (await response.json())["kind"] == "Status"
            async with http.get(url + "/apis/example.test/v1/widgets") as response:
                assert response.status == 502
                assert (await response.json())["reason"] == "BadGateway"
    finally:
        await front.close()


async def test_a_client_leaving_a_watch_frees_the_upstream_connection(setup: Setup) -> None:
    async with setup.http.get(setup.front_url + "/watch") as response:
        await asyncio.wait_for(response.content.readline(), STEP_TIMEOUT)
        upstream_transport = setup.fake.watchers[-1].transport
        assert upstream_transport is not None
        assert not upstream_transport.is_closing()
        response.close()  # drop the connection, as kubectl does on Ctrl-C
    deadline = asyncio.get_running_loop().time() + STEP_TIMEOUT
    while not upstream_transport.is_closing():
        assert asyncio.get_running_loop().time() < deadline, "the upstream watch was left open"
        await asyncio.sleep(0.01)


# --- core v1 Events, served by the front from memory -------------------------------------------

NS = "vision"
EVENTS = f"/api/v1/namespaces/{NS}/events"


def kopf_event(
    name: str, reason: str, *, uid: str = "uid-1", type_: str = "Normal"
) -> dict[str, Any]:
    """What kopf's post_event sends (kopf/_cogs/clients/events.py)."""
    return {
        "metadata": {"namespace": NS, "generateName": "kopf-event-"},
        "action": "Action?",
        "type": type_,
        "reason": reason,
        "message": f"{reason} of {name}",
        "reportingComponent": "supervisely-operator",
        "reportingInstance": "dev",
        "source": {"component": "supervisely-operator"},
        "involvedObject": {
            "apiVersion": "supervisely.com/v1alpha1",
            "kind": "SuperviselyTask",
            "name": name,
            "uid": uid,
            "namespace": NS,
        },
        "firstTimestamp": "2026-12-07T10:00:00+00:00",
        "lastTimestamp": "2026-12-07T10:00:00+00:00",
        "eventTime": "2026-12-07T10:00:00+00:00",
    }


async def post(setup: Setup, body: dict[str, Any], path: str = EVENTS) -> tuple[int, Any]:
    # kopf sends Content-Type: application/json, the kubernetes client sometimes none.
    async with setup.http.post(setup.front_url + path, data=json.dumps(body)) as response:
        return response.status, await response.json()


async def get(setup: Setup, path: str, **params: str) -> tuple[int, Any]:
    async with setup.http.get(setup.front_url + path, params=params) as response:
        return response.status, await response.json()


async def test_an_event_as_kopf_posts_it_is_created_with_a_generated_name(setup: Setup) -> None:
    status, created = await post(setup, kopf_event("train", "Started"))
    assert status == 201, created
    metadata = created["metadata"]
    assert metadata["name"].startswith("kopf-event-")
    assert len(metadata["name"]) == len("kopf-event-") + 5
    assert (created["apiVersion"], created["kind"], metadata["namespace"]) == ("v1", "Event", NS)
    assert metadata["uid"]
    assert metadata["resourceVersion"] == "1"
    assert "generateName" not in metadata
    status, read = await get(setup, f"{EVENTS}/{metadata['name']}")
    assert (status, read) == (200, created)
    assert setup.fake.received == [], "events never reach the API server"


async def test_lists_select_by_involved_object_reason_and_type_as_kubectl_does(
    setup: Setup,
) -> None:
    await post(setup, kopf_event("train", "Started"))
    await post(setup, kopf_event("train", "Finished", type_="Normal"))
    await post(setup, kopf_event("serve", "TaskError", uid="uid-2", type_="Warning"))
    await post(
        setup,
        {**kopf_event("other", "Started"), "metadata": {"name": "elsewhere", "namespace": "ml"}},
        path="/api/v1/namespaces/ml/events",
    )

    async def reasons(path: str, selector: str = "") -> list[str]:
        status, listed = await get(setup, path, fieldSelector=selector)
        assert status == 200, listed
        assert listed["kind"] == "EventList"
        return [item["reason"] for item in listed["items"]]

    # kubectl describe's selector for one object
    describe = f"involvedObject.name=train,involvedObject.namespace={NS},involvedObject.uid=uid-1"
    assert await reasons(EVENTS, describe) == ["Started", "Finished"]
    assert await reasons(EVENTS, "type=Warning") == ["TaskError"]
    assert await reasons(EVENTS, "reason!=Started") == ["Finished", "TaskError"]
    assert await reasons(EVENTS) == ["Started", "Finished", "TaskError"]
    assert await reasons("/api/v1/events") == ["Started", "Finished", "TaskError", "Started"]
    status, refused = await get(setup, EVENTS, fieldSelector="spec.nodeName=a")
    assert (status, refused["kind"], refused["reason"]) == (400, "Status", "BadRequest")


async def test_a_watch_streams_what_exists_then_what_comes(setup: Setup) -> None:
    await post(setup, kopf_event("train", "Started"))
    url = setup.front_url + EVENTS
    params = {"watch": "true", "fieldSelector": "involvedObject.name=train"}
    async with setup.http.get(url, params=params) as response:
        assert response.status == 200
        first = json.loads(await asyncio.wait_for(response.content.readline(), STEP_TIMEOUT))
        await post(setup, kopf_event("serve", "Started", uid="uid-2"))  # not selected
        await post(setup, kopf_event("train", "Running"))
        second = json.loads(await asyncio.wait_for(response.content.readline(), STEP_TIMEOUT))
    assert (first["type"], first["object"]["reason"]) == ("ADDED", "Started")
    assert (second["type"], second["object"]["reason"]) == ("ADDED", "Running")


async def test_a_watch_resumes_after_a_resource_version_and_ends_at_its_timeout(
    setup: Setup,
) -> None:
    await post(setup, kopf_event("train", "Queued"))
    _, listed = await get(setup, EVENTS)  # at version 1: "0" would mean "what exists, then"
    await post(setup, kopf_event("train", "Started"))
    _, created = await post(setup, kopf_event("train", "Running"))
    name = created["metadata"]["name"]
    async with setup.http.delete(f"{setup.front_url}{EVENTS}/{name}") as response:
        assert response.status == 200
    params = {
        "watch": "1",
        "resourceVersion": listed["metadata"]["resourceVersion"],
        "timeoutSeconds": "1",
    }
    async with setup.http.get(setup.front_url + EVENTS, params=params) as response:
        lines = (await asyncio.wait_for(response.read(), STEP_TIMEOUT)).splitlines()
    changes = [(c["type"], c["object"]["reason"]) for c in map(json.loads, lines)]
    assert changes == [("ADDED", "Started"), ("ADDED", "Running"), ("DELETED", "Running")]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        (EVENTS, {**kopf_event("a", "Started"), "metadata": {"namespace": "ml", "name": "x"}}, 400),
        (EVENTS, {**kopf_event("a", "Started"), "metadata": {"namespace": NS}}, 422),
    ],
    ids=["namespace-mismatch", "no-name"],
)
async def test_refusals_are_kubernetes_statuses(
    setup: Setup, path: str, body: dict[str, Any], code: int
) -> None:
    status, refused = await post(setup, body, path)
    assert status == code
    assert refused["kind"] == "Status"
    assert refused["code"] == code


async def test_a_taken_name_and_an_unknown_one_are_refused(setup: Setup) -> None:
    named = {**kopf_event("a", "Started"), "metadata": {"namespace": NS, "name": "once"}}
    assert (await post(setup, named))[0] == 201
    status, refused = await post(setup, named)
    assert (status, refused["reason"]) == (409, "AlreadyExists")
    status, missing = await get(setup, f"{EVENTS}/never")
    assert (status, missing["reason"]) == (404, "NotFound")
    async with setup.http.patch(f"{setup.front_url}{EVENTS}/once", json={}) as response:
        assert response.status == 405


async def test_discovery_lists_exactly_the_verbs_served(setup: Setup) -> None:
    status, document = await get(setup, "/api/v1")
    assert status == 200
    [events] = [r for r in document["resources"] if r["name"] == "events"]
    assert sorted(events["verbs"]) == ["create", "delete", "get", "list", "watch"]
