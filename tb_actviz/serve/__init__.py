"""Serve: what the plugin's routes share. Request parsing (`requests`), the
JSON of `/runs` (`runs_json`), and response framing and errors
(`responses`); the routes themselves are in `activations_plugin.py`, over
the `read` package."""
