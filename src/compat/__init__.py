"""checkpoint-compat compatibility layer (plugin host, deprecations, safe loading)."""
