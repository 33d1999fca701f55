"""Legacy layer library (see ``legacyproj``)."""
