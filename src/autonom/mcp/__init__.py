"""MCP: autonom's knowledge offered to MCP clients (server); tools of other MCP servers for
the assistant (client, later)."""
