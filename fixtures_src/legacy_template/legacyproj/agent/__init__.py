"""Legacy agent package (see ``legacyproj``)."""
