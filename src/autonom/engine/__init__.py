"""The embedded engine's builds: which one a process loads, and making a native one."""
