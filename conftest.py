"""Repository-wide pytest set-up: the SDK's own fixtures (falco_build, falco_capture, ...)."""

pytest_plugins = ["falco_plugin.testing"]
