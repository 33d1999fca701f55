"""Stand-in ``metta`` package (September 2025 layout); see fixtures_src/metta_template/README.md."""
