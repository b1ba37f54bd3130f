"""A stdio MCP server whose one tool takes longer than any sensible timeout."""

import asyncio

from mcp.server.mcpserver import MCPServer

server = MCPServer("langsam", log_level="WARNING")


@server.tool()
async def wait(seconds: float = 30.0) -> str:
    """Waits, then answers."""
    await asyncio.sleep(seconds)
    return "fertig"


if __name__ == "__main__":
    server.run("stdio")
