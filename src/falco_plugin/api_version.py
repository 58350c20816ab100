"""The plugin API version a plugin library requires.

A host loads a plugin when its own API minor version is at least the one the plugin asks
for, and then hands it the structures of *its* version: a plugin that reads a struct member
an older host does not have reads past the end of that host's struct, and one that exports a
symbol an older host does not know silently loses that feature there. So a plugin asks for
the highest version among every struct member, symbol and enum constant its shim reads,
fills or exports. :data:`PARTS` lists them per part of a plugin (what ``_native/shim*.c``
uses); ``_api_history.API_SINCE`` (generated from the releases of falcosecurity/libs) says
since which version each exists as it is now. The metric value types, for one, were
renumbered after libs releases shipped them with API 3.5.0: a plugin with metrics needs 3.6.0.
"""

from __future__ import annotations

from ._api_history import API_SINCE
from ._lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .validate import PluginMeta

__all__ = ["PARTS", "parts_used", "required_api_version", "required_minor"]


def _members(struct: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{struct}.{name}" for name in names)


def _symbols(*names: str) -> tuple[str, ...]:
    return _members("plugin_api", *names)


_TABLE_VTABLES = (
    *_members("ss_plugin_table_fields_vtable_ext", "list_table_fields", "get_table_field",
              "add_table_field"),
    *_members("ss_plugin_table_reader_vtable_ext", "get_table_name", "get_table_size",
              "get_table_entry", "read_entry_field", "release_table_entry", "iterate_entries"),
    *_members("ss_plugin_table_writer_vtable_ext", "clear_table", "erase_table_entry",
              "create_table_entry", "destroy_table_entry", "add_table_entry",
              "write_entry_field"),
)  # fmt: skip

#: What the shim reads (host structs), fills (structs the host reads) or exports, per part.
PARTS: dict[str, tuple[str, ...]] = {
    "base": (
        *_symbols("get_required_api_version", "get_version", "get_name", "get_description",
                  "get_contact", "init", "destroy", "get_last_error"),
        *_members("ss_plugin_init_input", "owner", "config", "log_fn"),
        "SS_PLUGIN_SUCCESS", "SS_PLUGIN_FAILURE", "SS_PLUGIN_LOG_SEV_FATAL",
        "SS_PLUGIN_LOG_SEV_CRITICAL", "SS_PLUGIN_LOG_SEV_ERROR", "SS_PLUGIN_LOG_SEV_WARNING",
        "SS_PLUGIN_LOG_SEV_NOTICE", "SS_PLUGIN_LOG_SEV_INFO", "SS_PLUGIN_LOG_SEV_DEBUG",
        "SS_PLUGIN_LOG_SEV_TRACE",
    ),
    "init_schema": (*_symbols("get_init_schema"), "SS_PLUGIN_SCHEMA_JSON"),
    "set_config": (*_symbols("set_config"), "ss_plugin_set_config_input.config"),
    "metrics": (
        *_symbols("get_metrics"),
        *_members("ss_plugin_metric", "name", "type", "value", "value_type"),
        "SS_PLUGIN_METRIC_TYPE_MONOTONIC", "SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC",
        "SS_PLUGIN_METRIC_VALUE_TYPE_U32", "SS_PLUGIN_METRIC_VALUE_TYPE_S32",
        "SS_PLUGIN_METRIC_VALUE_TYPE_U64", "SS_PLUGIN_METRIC_VALUE_TYPE_S64",
        "SS_PLUGIN_METRIC_VALUE_TYPE_D", "SS_PLUGIN_METRIC_VALUE_TYPE_F",
        "SS_PLUGIN_METRIC_VALUE_TYPE_I",
    ),
    "source": (
        *_symbols("open", "close", "next_batch", "get_progress"),
        "SS_PLUGIN_TIMEOUT", "SS_PLUGIN_EOF",
    ),
    "source_id": _symbols("get_id", "get_event_source"),
    "list_open_params": _symbols("list_open_params"),
    "event_to_string": (
        *_symbols("event_to_string"),
        *_members("ss_plugin_event_input", "evt", "evtnum", "evtsrc"),
    ),
    "extract": (
        *_symbols("get_fields", "extract_fields"),
        *_members("ss_plugin_field_extract_input", "owner", "num_fields", "fields",
                  "table_reader_ext"),
        *_members("ss_plugin_extract_field", "res", "res_len", "field_id", "field", "arg_key",
                  "arg_index", "arg_present", "ftype", "flist"),
        *_members("ss_plugin_byte_buffer", "len", "ptr"),
        *_members("ss_plugin_event_input", "evt", "evtnum", "evtsrc"),
        "FTYPE_UINT64", "FTYPE_STRING", "FTYPE_RELTIME", "FTYPE_ABSTIME", "FTYPE_BOOL",
        "FTYPE_IPADDR", "FTYPE_IPNET",
    ),
    "extract_sources": _symbols("get_extract_event_sources"),
    "extract_types": _symbols("get_extract_event_types"),
    "offsets": (
        "ss_plugin_field_extract_input.value_offsets",
        *_members("ss_plugin_extract_value_offsets", "start", "length"),
    ),
    "parse": (
        *_symbols("parse_event"),
        *_members("ss_plugin_event_parse_input", "owner", "table_reader_ext",
                  "table_writer_ext"),
        *_members("ss_plugin_event_input", "evt", "evtnum", "evtsrc"),
    ),
    "parse_sources": _symbols("get_parse_event_sources"),
    "parse_types": _symbols("get_parse_event_types"),
    "tables": (
        "ss_plugin_init_input.tables", "ss_plugin_init_input.get_owner_last_error",
        *_members("ss_plugin_init_tables_input", "list_tables", "get_table", "add_table",
                  "fields_ext", "reader_ext", "writer_ext"),
        *_members("ss_plugin_table_info", "name", "key_type"),
        *_members("ss_plugin_table_fieldinfo", "name", "field_type", "read_only"),
        *_members("ss_plugin_table_input", "name", "key_type", "table", "reader", "writer",
                  "fields", "reader_ext", "writer_ext", "fields_ext"),
        *_TABLE_VTABLES,
        "SS_PLUGIN_ST_INT8", "SS_PLUGIN_ST_INT16", "SS_PLUGIN_ST_INT32", "SS_PLUGIN_ST_INT64",
        "SS_PLUGIN_ST_UINT8", "SS_PLUGIN_ST_UINT16", "SS_PLUGIN_ST_UINT32",
        "SS_PLUGIN_ST_UINT64", "SS_PLUGIN_ST_STRING", "SS_PLUGIN_ST_TABLE", "SS_PLUGIN_ST_BOOL",
    ),
    "async": _symbols("get_async_events", "set_async_event_handler"),
    "async_sources": _symbols("get_async_event_sources"),
    "dump_state": _symbols("dump_state"),
    "listen": (
        *_symbols("capture_open", "capture_close"),
        *_members("ss_plugin_capture_listen_input", "owner", "routine", "table_reader_ext",
                  "table_writer_ext"),
        *_members("ss_plugin_routine_vtable", "subscribe", "unsubscribe"),
    ),
    "event_schema": _symbols("get_required_event_schema_version"),
}  # fmt: skip


def parts_used(meta: PluginMeta) -> list[str]:
    """The parts of :data:`PARTS` the shim of this plugin compiles in."""
    used = {
        "base": True,
        "init_schema": meta.schema is not None,
        "set_config": meta.hooks.get("set_config", False),
        "metrics": meta.hooks.get("get_metrics", False),
        "source": meta.has_source,
        "source_id": meta.has_source and meta.plugin_id != 0,
        "list_open_params": meta.hooks.get("list_open_params", False),
        "event_to_string": meta.hooks.get("event_to_string", False),
        "extract": bool(meta.fields),
        "extract_sources": bool(meta.fields) and meta.extract_sources is not None,
        "extract_types": bool(meta.fields) and bool(meta.extract_types),
        "offsets": any(f.offsets for f in meta.fields),
        "parse": meta.has_parse,
        "parse_sources": meta.has_parse and meta.parse_sources is not None,
        "parse_types": meta.has_parse and bool(meta.parse_types),
        "tables": meta.uses_tables,
        "async": bool(meta.async_events),
        "async_sources": bool(meta.async_events) and meta.async_sources is not None,
        "dump_state": meta.hooks.get("dump_state", False),
        "listen": meta.has_listen,
        "event_schema": bool(meta.event_schema_version),
    }
    return [part for part in PARTS if used[part]]


def required_minor(parts: list[str]) -> int:
    """The highest 3.x minor version among everything the given parts use."""
    return max(API_SINCE[name] for part in parts for name in PARTS[part])


def required_api_version(meta: PluginMeta) -> str:
    """The version the plugin library asks for (``plugin_get_required_api_version``)."""
    return f"3.{required_minor(parts_used(meta))}.0"
