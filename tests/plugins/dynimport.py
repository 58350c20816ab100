"""dynimport: imports, at init, the module its config string names, by name (a dynamic
import no analysis sees): the packaged library must say which module its package lacks."""

import importlib

from falco_plugin import Eof, SourceInstance, SourcePlugin


class NoEvents(SourceInstance):
    def next_batch(self, batch):
        raise Eof


class DynImport(SourcePlugin):
    NAME = "dynimport"
    VERSION = "0.1.0"
    DESCRIPTION = "Imports the module its config names"
    CONTACT = "https://github.com/falco-plugin/falco-plugin"
    PLUGIN_ID = 424251
    EVENT_SOURCE = "dynimport"

    def __init__(self, config: str) -> None:
        if config:
            importlib.import_module(config)

    def open(self, params: str) -> NoEvents:
        return NoEvents()
