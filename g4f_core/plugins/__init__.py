"""Where providers come from: entry points, hooks, the provider record, the registry."""
