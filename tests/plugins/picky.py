"""picky: the smallest source plugin, after the Rust SDK's dummy_source test plugin.

It only accepts the config string "testing" (at init and on set_config), its capture ends
at once (next_batch raises Eof) and every event it is asked about reads "what event?".
"""

from falco_plugin import Eof, PluginError, PluginEvent, SourceInstance, SourcePlugin


class PickyInstance(SourceInstance):
    def next_batch(self, batch):
        raise Eof


class Picky(SourcePlugin):
    NAME = "picky"
    VERSION = "0.1.0"
    DESCRIPTION = "A source plugin that produces no events"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 1111
    EVENT_SOURCE = "picky"

    def __init__(self, config: str) -> None:
        self._check(config)

    def set_config(self, config: str) -> None:
        self._check(config)

    @staticmethod
    def _check(config: str) -> None:
        if config != "testing":
            raise PluginError(f'I only accept "testing" as the config string, got {config!r}')

    def open(self, params: str) -> PickyInstance:
        return PickyInstance()

    def event_to_string(self, event: PluginEvent) -> str:
        return "what event?"
