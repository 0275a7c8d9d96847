"""Drives `auditgraph mcp` with the official Python MCP client.

Usage: client.py BINARY ROOT PLAN.json
PLAN: {"calls": [STEP, ...], "resources": [URI, ...], "server_args": [...]}
(server_args, optional, come after `mcp`) where a STEP is
{"tool": NAME, "arguments": {...}} (a call), or {"write": [PATH, TEXT]}
or {"command": [ARGV...]}, or {"spawn": [ARGV...]} and later {"wait": true}
(a command left running while the next calls are made) (done between
calls, while the server serves; their entry in "calls" is null).
With "url" in PLAN, connects to that streamable HTTP endpoint instead of
starting BINARY, and first posts an `initialize` from a foreign `Origin`
and from a foreign `Host`, recording the HTTP status of each.
Prints one JSON document: the server's info, its tools, resource
templates and resources, and for each call and resource read either its
result or the error the server sent (code, message, data).
"""

import asyncio
import json
import subprocess
import sys

import urllib.error
import urllib.request
from contextlib import asynccontextmanager

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def error_of(exc):
    err = getattr(exc, "error", None)
    if err is None:
        return {"exception": type(exc).__name__, "message": str(exc)}
    return {"code": err.code, "message": err.message, "data": err.data}


def post_status(url, headers):
    """The HTTP status of an `initialize` posted with these headers."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "probe", "version": "0"},
            },
        }
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@asynccontextmanager
async def transport(binary, root, plan):
    if "url" in plan:
        async with streamable_http_client(plan["url"]) as streams:
            yield streams[0], streams[1]
        return
    params = StdioServerParameters(
        command=binary,
        args=["--root", root, "mcp", *plan.get("server_args", [])],
        env={"CI": "true"},
    )
    async with stdio_client(params) as (read, write):
        yield read, write


async def main(binary, root, plan):
    out = {}
    if "url" in plan:
        out["foreign_origin"] = post_status(plan["url"], {"Origin": "http://evil.example"})
        out["foreign_host"] = post_status(plan["url"], {"Host": "evil.example"})
        out["own_origin"] = post_status(plan["url"], {"Origin": plan["url"].rsplit("/", 1)[0]})
    async with transport(binary, root, plan) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["server"] = {
                "name": init.server_info.name,
                "version": init.server_info.version,
                "protocol": str(init.protocol_version),
            }
            tools = await session.list_tools()
            out["tools"] = [
                {
                    "name": t.name,
                    "input_schema": t.input_schema,
                    "annotations": t.annotations.model_dump(exclude_none=True)
                    if t.annotations
                    else None,
                }
                for t in tools.tools
            ]
            templates = await session.list_resource_templates()
            out["templates"] = [t.uri_template for t in templates.resource_templates]
            resources = await session.list_resources()
            out["resources"] = [str(r.uri) for r in resources.resources]
            out["calls"] = []
            spawned = None
            for call in plan["calls"]:
                if "write" in call:
                    path, text = call["write"]
                    with open(path, "w") as f:
                        f.write(text)
                    out["calls"].append(None)
                    continue
                if "spawn" in call:
                    spawned = subprocess.Popen(
                        call["spawn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                    )
                    out["calls"].append(None)
                    continue
                if "wait" in call:
                    out["calls"].append(None)
                    if spawned.wait() != 0:
                        raise SystemExit("the spawned command failed")
                    continue
                if "command" in call:
                    subprocess.run(call["command"], check=True, capture_output=True)
                    out["calls"].append(None)
                    continue
                try:
                    result = await session.call_tool(call["tool"], call["arguments"])
                    out["calls"].append(
                        {
                            "structured": result.structured_content,
                            "is_error": bool(result.is_error),
                            "text": [c.text for c in result.content if c.type == "text"],
                        }
                    )
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    out["calls"].append({"error": error_of(exc)})
            out["reads"] = []
            for uri in plan["resources"]:
                try:
                    result = await session.read_resource(uri)
                    out["reads"].append(
                        [
                            {"uri": str(c.uri), "mime_type": c.mime_type, "text": c.text, "meta": c.meta}
                            for c in result.contents
                        ]
                    )
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    out["reads"].append({"error": error_of(exc)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    with open(sys.argv[3]) as f:
        plan = json.load(f)
    asyncio.run(main(sys.argv[1], sys.argv[2], plan))
