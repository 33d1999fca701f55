"""The plugin host: plugins, their switches, hook specs, deprecations, legacy aliases, ledger.

It owns the one pluggy ``PluginManager`` of the process (``_pluginhost``), the hook
specifications that are the contract with plugins (``_hookspecs``), the switches that turn
plugins off (``_config``, ``_pyproject``), the deprecation machinery (``_deprecate``,
``_shims``, and the schedule in ``compat.deprecations``), the legacy-import aliases served
through the start-up finder (``_aliases``), the usage ledger (``_ledger``), hook tracing
(``_trace``), URI resolution (``_uris``), W&B uploads (``_artifacts``), the essential
``core`` plugin (``_core``), and the prompt exit of the CLI and its workers (``_exit``).
``compat.plugins``, ``compat.deprecations`` and ``compat.pytest_plugin`` are its public
modules. It is the lowest layer of ``compat``: it imports only ``checkpoint`` and the
start-up module, never the engine, the upgrade layer or the CLI.
"""
