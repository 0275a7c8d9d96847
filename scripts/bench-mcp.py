#!/usr/bin/env python3
"""Times `query` round trips through `auditgraph mcp` (stdio) with the
official Python MCP client, after start-up.

Usage: .venv/bin/python scripts/bench-mcp.py BINARY ROOT [QUERY] [N]
ROOT must hold a store (run `auditgraph run ROOT` first). Prints the
start-up time (spawn + initialize) and the median, min and max of N query
round trips in milliseconds.
"""

import asyncio
import statistics
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    binary, root = sys.argv[1], sys.argv[2]
    query = sys.argv[3] if len(sys.argv) > 3 else "tar archive"
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 30
    params = StdioServerParameters(command=binary, args=["--root", root, "mcp"])
    started = time.perf_counter()
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            startup = (time.perf_counter() - started) * 1000
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                result = await session.call_tool("query", {"q": query, "limit": 10})
                times.append((time.perf_counter() - t0) * 1000)
                if result.is_error:
                    sys.exit(f"query failed: {result.content}")
    print(
        f"start-up {startup:.1f} ms; query {query!r} x{n}: "
        f"median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f}"
    )


asyncio.run(main())
