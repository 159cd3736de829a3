"""An example third-party bench plugin (see ``plugin.py`` for the hooks)."""
