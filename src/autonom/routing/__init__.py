"""Where a request goes: the router over backends (aliases, fallbacks, retries, cooldown,
pools of servers) and the complexity check that sends hard prompts to a bigger model."""
