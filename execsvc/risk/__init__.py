"""Risk policies (`policies/*.toml`) and their enforcement: the schema and loader
(`policy`), the pure rules (`rules`) and the Redis-backed rate, duplicate and audit gate
(`gate`)."""
