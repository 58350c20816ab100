"""The required plugin API version: every struct member, symbol and enum constant the shim
uses, each since the version the released libsinsp headers have it as it is now."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from falco_plugin import MetricType, MetricValueType
from falco_plugin._api_history import API_SINCE, FIRST_RELEASE
from falco_plugin.api_version import PARTS, parts_used, required_api_version
from falco_plugin.build import inspect_plugin

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "src" / "falco_plugin" / "_native"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api_history",
                                                  ROOT / "scripts" / "gen_api_history.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def test_every_name_the_shim_uses_has_a_history() -> None:
    unknown = [name for names in PARTS.values() for name in names if name not in API_SINCE]
    assert unknown == []


def test_history_facts() -> None:
    assert FIRST_RELEASE[5] == "0.17.0" and FIRST_RELEASE[6] == "0.17.2"
    assert API_SINCE["plugin_api.get_metrics"] == 5  # the symbol came with 3.5.0 ...
    assert API_SINCE["SS_PLUGIN_METRIC_VALUE_TYPE_U32"] == 6  # ... numbered as now from 3.6.0
    assert API_SINCE["ss_plugin_init_input.log_fn"] == 4
    assert API_SINCE["ss_plugin_init_tables_input.reader_ext"] == 5
    assert API_SINCE["ss_plugin_field_extract_input.value_offsets"] == 11
    assert API_SINCE["plugin_api.capture_open"] == 7
    assert API_SINCE["plugin_api.dump_state"] == 10
    assert API_SINCE["plugin_api.get_required_event_schema_version"] == 12


@pytest.mark.parametrize(
    ("target", "version"),
    [
        ("examples/json/plugin.py", "3.4.0"),  # extraction, a config schema: log_fn
        ("examples/countdown/plugin.py", "3.6.0"),  # metrics as numbered now
        ("examples/sweeper/plugin.py", "3.7.0"),  # capture listening
        ("examples/heartbeat/plugin.py", "3.10.0"),  # dump_state
        ("tests/plugins/table_owner.py", "3.5.0"),  # the tables input's *_ext vtables
        ("tests/plugins/alltypes.py", "3.11.0"),  # value offsets
    ],
)
def test_required_versions_of_plugins(target: str, version: str) -> None:
    meta = inspect_plugin(str(ROOT / target))
    assert meta.required_api_version == required_api_version(meta) == version, parts_used(meta)


def _host_members() -> dict[str, set[str]]:
    """member name -> the host structs (in the SDK's fp_abi.h) that have it; the event header
    (ss_plugin_event) is libscap's, not versioned with the plugin API."""
    structs, _ = GEN.parse_header((NATIVE / "fp_abi.h").read_text())
    out: dict[str, set[str]] = {}
    for alias, members in structs.items():
        if alias.startswith("ss_plugin_") and alias != "ss_plugin_event":
            for member in members:
                out.setdefault(member, set()).add(alias)
    return out


def test_the_table_covers_what_the_shim_reads_and_exports() -> None:
    shim = "\n".join(p.read_text() for p in NATIVE.glob("shim*.c"))
    listed = {name.rpartition(".")[2] for names in PARTS.values() for name in names}
    members = _host_members()
    # every host struct member the shim touches (by name) is listed for some part
    touched = set(re.findall(r"(?:->|\.)([a-z_][a-z0-9_]*)\b", shim)) & members.keys()
    assert sorted(touched - listed) == []
    # every exported plugin_* symbol is one of the listed API symbols
    exported = set(re.findall(r"FP_EXPORT[^(]*?\bplugin_(\w+)\s*\(", shim))
    symbols = {name.partition(".")[2] for names in PARTS.values() for name in names
               if name.startswith("plugin_api.")}  # fmt: skip
    assert exported and sorted(exported - symbols) == []
    # and every SS_PLUGIN_* / FTYPE_* constant it uses
    constants = set(re.findall(r"\b(?:SS_PLUGIN_[A-Z0-9_]+|FTYPE_[A-Z0-9_]+)\b", shim))
    assert sorted(constants - listed) == []


def test_the_sdk_abi_is_the_real_headers(falco_realhost: Path) -> None:
    """fp_abi.h and the SDK's metric enums match the real plugin API headers (3.12)."""
    real_structs: dict[str, list[str]] = {}
    real_enums: dict[str, str] = {}
    for header in ("plugin_api.h", "plugin_types.h"):
        path = falco_realhost / "include" / "falcosecurity" / "plugin" / header
        structs, enums = GEN.parse_header(path.read_text())
        real_structs.update(structs)
        real_enums.update(enums)
    ours_structs, ours_enums = GEN.parse_header((NATIVE / "fp_abi.h").read_text())
    shared = ours_structs.keys() & real_structs.keys()
    assert len(shared) > 20
    assert {k: ours_structs[k] for k in shared} == {k: real_structs[k] for k in shared}
    assert {k: real_enums.get(k) for k in ours_enums} == ours_enums
    for enum, prefix in ((MetricValueType, "SS_PLUGIN_METRIC_VALUE_TYPE_"),
                         (MetricType, "SS_PLUGIN_METRIC_TYPE_")):  # fmt: skip
        real = {k[len(prefix):]: int(v) for k, v in real_enums.items() if k.startswith(prefix)}
        real = {{"D": "DOUBLE", "F": "FLOAT", "I": "INT"}.get(k, k): v for k, v in real.items()}
        assert {m.name: int(m) for m in enum} == real
    # every name of the history is in the real headers, at the same place
    names = {f"{a}.{m}" for a, ms in real_structs.items() for m in ms} | real_enums.keys()
    assert sorted(set(API_SINCE) - names) == []


def test_the_header_parser() -> None:
    structs, enums = GEN.parse_header(
        """
        typedef enum e { A = 0, B = 1 << 2, } e_t;  // a comment
        typedef struct {
            const char* (*get_name)();
            struct { int x; uint32_t (*get_id)(void); };
            union { uint64_t* u64; char** str; } res;
            char name[16];
        } s_t;
        """
    )
    assert structs == {"s_t": ["get_name", "x", "get_id", "res", "name"]}
    assert enums == {"A": "0", "B": "1 << 2"}


@pytest.mark.skipif(not os.environ.get("FALCO_PLUGIN_LIBS_GIT"),
                    reason="set FALCO_PLUGIN_LIBS_GIT to a falcosecurity/libs clone to check")
def test_the_generated_history_is_current() -> None:  # fmt: skip
    since, first = GEN.history(Path(os.environ["FALCO_PLUGIN_LIBS_GIT"]))
    text = (ROOT / "src" / "falco_plugin" / "_api_history.py").read_text()
    assert GEN.generate(since, first) == text
