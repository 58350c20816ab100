// driver.h: what the files of fp-sinsp share, falco-plugin's test driver for the REAL libsinsp.
//
// fp-sinsp loads plugins into a libsinsp inspector the way Falco does (register, init,
// filterchecks of the extractors, open a plugin source or a scap file), reads every event
// with sinsp::next() and prints JSON lines shaped like the SDK host's `run --json`, so that
// one test scenario checks both hosts with the same expectations:
//   {"plugin", "evtnum", "ts", "tid", "type", "source", "plugin_id", "info", "payload_hex",
//    "fields", "offsets", "output"}          a plugin event (322)
//   {"evtnum", "ts", "tid", "type", "name", "source", "fields", ...}   any other event
//   {"async": true, "plugin", "name", "data_hex", "source", "evtnum", "ts"}   an async event
//   {"progress": {...}}, {"metrics": {...}}, {"table": {...}}, {"summary": {...}}
//   {"error": {"plugin", "stage", "message"}}   (exit status 1)
// Plugin log messages (through libsinsp's logger) go to stderr as "SEVERITY: component: msg".
// Compiled by falco_plugin.sinsp against `pkg-config libsinsp`. Files, one job each:
//   main.cpp     the command line (k_usage) and main()
//   driver.cpp   the driver: plugins, filterchecks, the event loop, the summary and metrics
//   output.cpp   JSON lines: records, errors, values of extracted fields
//   tables.cpp   libsinsp's table registry as plugins see it (--list-tables, --dump-table)
//   pool.h       a routine thread pool (libsinsp's own is compiled out by default)
#pragma once

#include <libsinsp/eventformatter.h>
#include <libsinsp/filter.h>
#include <libsinsp/metrics_collector.h>
#include <libsinsp/plugin.h>
#include <libsinsp/plugin_manager.h>
#include <libsinsp/sinsp.h>
#include <libsinsp/sinsp_thread_pool.h>
#include <libsinsp/state/table_adapters.h>

#include <arpa/inet.h>
#include <unistd.h>
#include <json/json.h>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fp_sinsp {

// ---- options (main.cpp) ----

struct plugin_opts {
	std::string path, config, open_params, set_config;
	bool has_open_params = false, has_set_config = false;
};

struct driver_opts {
	std::vector<plugin_opts> plugins;
	std::vector<std::string> fields, dump_tables;
	std::string capture, filter, output;
	bool has_filter = false, has_output = false, offsets = false, quiet = false;
	bool list_tables = false, bench = false;
	uint64_t max_events = 0, duration_ms = 0, thread_pool = 0;
};

extern const char* const k_usage;
int parse_args(int argc, char** argv, driver_opts& o);  // 0, or 2 after a usage error

// ---- JSON output (output.cpp) ----

void emit(const Json::Value& v);
void emit_error(const std::string& plugin, const std::string& stage, const std::string& msg);
std::string hex(const void* data, size_t len);
const char* severity_name(sinsp_logger::severity sev);
extern std::mutex g_out_lock;

template<typename T>
T read_as(const extract_value_t& v) {
	T out{};
	memcpy(&out, v.ptr, std::min<size_t>(sizeof out, v.len));
	return out;
}

// One extracted value as JSON, by the field's (transformed) type.
Json::Value value_json(const filtercheck_field_info* info, const extract_value_t& v);

// ---- tables (tables.cpp) ----

void list_tables(sinsp& inspector);
void dump_table(sinsp& inspector, const std::string& name);

// ---- the driver (driver.cpp) ----

int run_driver(driver_opts opts);

}  // namespace fp_sinsp
