// fp-sinsp: falco-plugin's test driver for the REAL libsinsp.
//
// Loads plugins into a libsinsp inspector the way Falco does (register, init, filterchecks of
// the extractors, open a plugin source or a scap file), reads every event with sinsp::next()
// and prints JSON lines shaped like the SDK host's `run --json`, so that one test scenario
// checks both hosts with the same expectations:
//   {"plugin", "evtnum", "ts", "tid", "type", "source", "plugin_id", "info", "payload_hex",
//    "fields", "offsets", "output"}          a plugin event (322)
//   {"evtnum", "ts", "tid", "type", "name", "source", "fields", ...}   any other event
//   {"async": true, "plugin", "name", "data_hex", "source", "evtnum", "ts"}   an async event
//   {"progress": {...}}, {"metrics": {...}}, {"table": {...}}, {"summary": {...}}
//   {"error": {"plugin", "stage", "message"}}   (exit status 1)
// Plugin log messages (through libsinsp's logger) go to stderr as "SEVERITY: component: msg".
// Usage: see k_usage below. Compiled by falco_plugin.sinsp against `pkg-config libsinsp`.

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

namespace {

const char* const k_usage =
        "usage: fp-sinsp [options] PLUGIN.so [--config STR] [--open-params STR]\n"
        "                [--set-config STR] [PLUGIN2.so ...]\n"
        "options (before the first plugin):\n"
        "  --capture FILE      read a scap capture file instead of opening a plugin source\n"
        "  --field NAME        extract NAME (NAME[ARG]) on every event (repeatable)\n"
        "  --offsets           also print where each value lies in the event (\"offsets\")\n"
        "  --filter EXPR       print only events matching a libsinsp filter\n"
        "  --output FMT        print FMT (Falco's output syntax) per event as \"output\"\n"
        "  --max-events N      stop after N events\n"
        "  --duration MS       stop after MS milliseconds (for sources that do not end)\n"
        "  --dump-table NAME   print the table NAME after the capture (repeatable)\n"
        "  --list-tables       print the tables of libsinsp's registry after the capture\n"
        "  --thread-pool N     give libsinsp a routine thread pool of N threads (Falco and\n"
        "                      libsinsp built with the defaults have none)\n"
        "  --quiet             no event lines\n"
        "  --bench             for benchmarks: no event lines; time each --field's extraction\n"
        "                      on every event (the first, uncached call), the read loop, and\n"
        "                      each plugin's start (load + init, RSS growth): \"bench\" in the\n"
        "                      summary\n";

// ---- JSON output ---------------------------------------------------------------------------

std::mutex g_out_lock;

void emit(const Json::Value& v) {
	static const std::unique_ptr<Json::StreamWriter> writer = [] {
		Json::StreamWriterBuilder b;
		b["indentation"] = "";
		b["emitUTF8"] = true;
		return std::unique_ptr<Json::StreamWriter>(b.newStreamWriter());
	}();
	std::lock_guard<std::mutex> lock(g_out_lock);
	writer->write(v, &std::cout);
	std::cout << "\n" << std::flush;
}

void emit_error(const std::string& plugin, const std::string& stage, const std::string& msg) {
	Json::Value e;
	e["plugin"] = plugin.empty() ? Json::Value() : Json::Value(plugin);
	e["stage"] = stage;
	e["message"] = msg;
	Json::Value root;
	root["error"] = e;
	emit(root);
}

std::string hex(const void* data, size_t len) {
	static const char digits[] = "0123456789abcdef";
	std::string out;
	out.reserve(2 * len);
	for(size_t i = 0; i < len; i++) {
		uint8_t b = static_cast<const uint8_t*>(data)[i];
		out += digits[b >> 4];
		out += digits[b & 15];
	}
	return out;
}

const char* severity_name(sinsp_logger::severity sev) {
	switch(sev) {
	case sinsp_logger::SEV_FATAL:
		return "FATAL";
	case sinsp_logger::SEV_CRITICAL:
		return "CRITICAL";
	case sinsp_logger::SEV_ERROR:
		return "ERROR";
	case sinsp_logger::SEV_WARNING:
		return "WARNING";
	case sinsp_logger::SEV_NOTICE:
		return "NOTICE";
	case sinsp_logger::SEV_INFO:
		return "INFO";
	case sinsp_logger::SEV_DEBUG:
		return "DEBUG";
	case sinsp_logger::SEV_TRACE:
		return "TRACE";
	}
	return "UNKNOWN";
}

// ---- options -------------------------------------------------------------------------------

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

bool parse_u64(const char* s, uint64_t& out) {
	char* end = nullptr;
	if(!*s || *s == '-') {
		return false;
	}
	errno = 0;
	out = strtoull(s, &end, 10);
	return errno == 0 && *end == 0;
}

// Returns 0, or 2 after printing a usage error.
int parse_args(int argc, char** argv, driver_opts& o) {
	auto usage = [](const std::string& msg) {
		std::cerr << "fp-sinsp: " << msg << "\n" << k_usage;
		return 2;
	};
	int i = 1;
	for(; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		std::string a = argv[i];
		if(a == "--help") {
			std::cout << k_usage;
			exit(0);
		}
		bool takes_value = a != "--offsets" && a != "--quiet" && a != "--list-tables" &&
		                   a != "--bench";
		if(takes_value && i + 1 >= argc) {
			return usage(a + " needs a value");
		}
		const char* v = takes_value ? argv[++i] : "";
		if(a == "--capture") {
			o.capture = v;
		} else if(a == "--field") {
			o.fields.emplace_back(v);
		} else if(a == "--filter") {
			o.filter = v;
			o.has_filter = true;
		} else if(a == "--output") {
			o.output = v;
			o.has_output = true;
		} else if(a == "--dump-table") {
			o.dump_tables.emplace_back(v);
		} else if(a == "--offsets") {
			o.offsets = true;
		} else if(a == "--quiet") {
			o.quiet = true;
		} else if(a == "--list-tables") {
			o.list_tables = true;
		} else if(a == "--bench") {
			o.bench = o.quiet = true;
		} else if(a == "--max-events" || a == "--duration" || a == "--thread-pool") {
			uint64_t n;
			if(!parse_u64(v, n)) {
				return usage(a + " needs an unsigned integer, not '" + v + "'");
			}
			(a == "--max-events" ? o.max_events
			 : a == "--duration" ? o.duration_ms
			                     : o.thread_pool) = n;
		} else {
			return usage("unknown option " + a);
		}
	}
	for(; i < argc; i++) {
		std::string a = argv[i];
		if(a.rfind("--", 0) != 0) {
			o.plugins.push_back(plugin_opts{a});
			continue;
		}
		if(o.plugins.empty() || i + 1 >= argc) {
			return usage(a + ": a plugin option needs a plugin before it and a value");
		}
		auto& p = o.plugins.back();
		std::string v = argv[++i];
		if(a == "--config") {
			p.config = v;
		} else if(a == "--open-params") {
			p.open_params = v;
			p.has_open_params = true;
		} else if(a == "--set-config") {
			p.set_config = v;
			p.has_set_config = true;
		} else {
			return usage("unknown plugin option " + a);
		}
	}
	if(o.plugins.empty() && o.capture.empty()) {
		return usage("no plugin and no --capture");
	}
	return 0;
}

// ---- a routine thread pool (libsinsp's own is compiled out by default) ----------------------

// Runs every subscribed routine again and again on N threads until it returns false or is
// unsubscribed, as libsinsp's BS_thread_pool-based pool does.
class routine_pool : public sinsp_thread_pool {
public:
	explicit routine_pool(size_t n) {
		for(size_t i = 0; i < n; i++) {
			m_threads.emplace_back([this] { work(); });
		}
	}
	~routine_pool() override {
		purge();
		{
			std::lock_guard<std::mutex> l(m_lock);
			m_stop = true;
		}
		m_cv.notify_all();
		for(auto& t : m_threads) {
			t.join();
		}
	}
	routine_id_t subscribe(const std::function<bool()>& func) override {
		std::lock_guard<std::mutex> l(m_lock);
		auto r = std::make_shared<routine>(routine{func});
		auto id = reinterpret_cast<routine_id_t>(r.get());
		m_routines[id] = r;
		m_queue.push_back(r);
		m_cv.notify_one();
		return id;
	}
	bool unsubscribe(routine_id_t id) override {
		std::unique_lock<std::mutex> l(m_lock);
		auto it = m_routines.find(id);
		if(it == m_routines.end()) {
			return false;
		}
		it->second->cancelled = true;
		m_routines.erase(it);
		return true;
	}
	void purge() override {
		std::unique_lock<std::mutex> l(m_lock);
		for(auto& [id, r] : m_routines) {
			r->cancelled = true;
		}
		m_routines.clear();
		m_queue.clear();
		m_cv.wait(l, [this] { return m_running == 0; });
	}
	size_t routines_num() override {
		std::lock_guard<std::mutex> l(m_lock);
		return m_routines.size();
	}

private:
	struct routine {
		std::function<bool()> fn;
		bool cancelled = false;
	};
	void work() {
		std::unique_lock<std::mutex> l(m_lock);
		while(true) {
			m_cv.wait(l, [this] { return m_stop || !m_queue.empty(); });
			if(m_stop) {
				return;
			}
			auto r = m_queue.front();
			m_queue.erase(m_queue.begin());
			if(r->cancelled) {
				continue;
			}
			m_running++;
			l.unlock();
			bool again = r->fn();
			l.lock();
			m_running--;
			if(again && !r->cancelled) {
				m_queue.push_back(r);
			} else if(!r->cancelled) {
				m_routines.erase(reinterpret_cast<routine_id_t>(r.get()));
			}
			m_cv.notify_all();
		}
	}
	std::mutex m_lock;
	std::condition_variable m_cv;
	std::map<routine_id_t, std::shared_ptr<routine>> m_routines;
	std::vector<std::shared_ptr<routine>> m_queue;
	std::vector<std::thread> m_threads;
	size_t m_running = 0;
	bool m_stop = false;
};

// ---- values --------------------------------------------------------------------------------

template<typename T>
T read_as(const extract_value_t& v) {
	T out{};
	memcpy(&out, v.ptr, std::min<size_t>(sizeof out, v.len));
	return out;
}

// One extracted value as JSON, by the field's (transformed) type; text for the types
// plugins cannot return.
Json::Value value_json(const filtercheck_field_info* info, const extract_value_t& v) {
	switch(info->m_type) {
	case PT_UINT8:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint8_t>(v)));
	case PT_UINT16:
	case PT_PORT:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint16_t>(v)));
	case PT_UINT32:
	case PT_MODE:
	case PT_FLAGS32:
	case PT_UID:
	case PT_GID:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint32_t>(v)));
	case PT_UINT64:
	case PT_RELTIME:
	case PT_ABSTIME:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint64_t>(v)));
	case PT_INT8:
		return Json::Value(static_cast<Json::Int64>(read_as<int8_t>(v)));
	case PT_INT16:
		return Json::Value(static_cast<Json::Int64>(read_as<int16_t>(v)));
	case PT_INT32:
		return Json::Value(static_cast<Json::Int64>(read_as<int32_t>(v)));
	case PT_INT64:
	case PT_ERRNO:
	case PT_FD:
	case PT_PID:
		return Json::Value(static_cast<Json::Int64>(read_as<int64_t>(v)));
	case PT_BOOL:
		return Json::Value(read_as<uint32_t>(v) != 0);
	case PT_CHARBUF:
	case PT_FSPATH:
	case PT_FSRELPATH:
		return Json::Value(std::string(reinterpret_cast<const char*>(v.ptr),
		                               strnlen(reinterpret_cast<const char*>(v.ptr), v.len)));
	case PT_IPADDR:
	case PT_IPNET:
	case PT_IPV4ADDR:
	case PT_IPV6ADDR:
		if(v.len == 4 || v.len == 16) {
			char text[INET6_ADDRSTRLEN];
			if(inet_ntop(v.len == 4 ? AF_INET : AF_INET6, v.ptr, text, sizeof text)) {
				return Json::Value(text);
			}
		}
		return Json::Value(hex(v.ptr, v.len));
	default:
		return Json::Value(hex(v.ptr, v.len));
	}
}

// ---- the driver ----------------------------------------------------------------------------

using bench_clock = std::chrono::steady_clock;

uint64_t ns_since(bench_clock::time_point t0) {
	return static_cast<uint64_t>(
	        std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now() - t0).count());
}

struct field_check {
	std::string name;
	std::unique_ptr<sinsp_filter_check> check;
};

class driver {
public:
	explicit driver(driver_opts o):
	        m_opts(std::move(o)),
	        m_metrics(&m_inspector, METRICS_V2_PLUGINS) {}

	int run() {
		if(m_opts.thread_pool > 0 && !m_inspector.set_thread_pool(std::make_shared<routine_pool>(
		                                     m_opts.thread_pool))) {
			emit_error("", "thread_pool", "libsinsp refused the routine thread pool");
			return 1;
		}
		if(!load_plugins() || !setup_checks() || !open()) {
			return 1;
		}
		int rc = loop();
		after_capture();
		return rc;
	}

private:
	bool load_plugins() {
		for(auto& p : m_opts.plugins) {
			std::shared_ptr<sinsp_plugin> plugin;
			uint64_t rss_before = rss_kb();
			auto t0 = bench_clock::now();
			try {
				plugin = m_inspector.register_plugin(p.path);
			} catch(const std::exception& e) {
				emit_error("", "load", e.what());
				return false;
			}
			std::string err;
			if(!plugin->init(p.config, err)) {
				emit_error(plugin->name(), "init", err);
				return false;
			}
			if(m_opts.bench) {  // dlopen to a finished init, as Falco starts a plugin
				Json::Value b;
				b["start_ns"] = static_cast<Json::UInt64>(ns_since(t0));
				b["rss_kb_before"] = static_cast<Json::UInt64>(rss_before);
				b["rss_kb_after"] = static_cast<Json::UInt64>(rss_kb());
				m_bench_plugins[plugin->name()] = b;
			}
			if(p.has_set_config && !plugin->set_config(p.set_config)) {
				emit_error(plugin->name(), "set_config", plugin->get_last_error());
				return false;
			}
			m_plugins.push_back(plugin);
			if(!m_input && m_opts.capture.empty() && (plugin->caps() & CAP_SOURCING)) {
				m_input = plugin;
				m_open_params = p.open_params;
			}
		}
		if(!m_input && m_opts.capture.empty()) {
			emit_error("", "open", "no plugin with the event sourcing capability and no --capture");
			return false;
		}
		return true;
	}

	// As Falco does: a plugin source gets the generic evt.* fields and the fields of the
	// extractors compatible with it; the syscall source gets libsinsp's own fields too.
	bool setup_checks() {
		m_source = m_input && m_input->id() != 0 ? m_input->event_source() : "syscall";
		if(m_source == "syscall") {
			m_checks = std::make_unique<sinsp_filter_check_list>();
		} else {
			m_checks = std::make_unique<filter_check_list>();
			m_checks->add_filter_check(m_inspector.new_generic_filtercheck());
		}
		for(auto& p : m_plugins) {
			if((p->caps() & CAP_EXTRACTION) &&
			   sinsp_plugin::is_source_compatible(p->extract_event_sources(), m_source)) {
				m_checks->add_filter_check(sinsp_plugin::new_filtercheck(p));
			}
		}
		std::string who = m_input ? m_input->name() : "";
		try {
			m_info_check = make_check("evt.plugininfo");
			for(auto& name : m_opts.fields) {
				m_fields.push_back(field_check{name, make_check(name)});
			}
			m_field_ns.assign(m_fields.size(), 0);
			m_field_values.assign(m_fields.size(), 0);
		} catch(const std::exception& e) {
			emit_error(who, "fields", e.what());
			return false;
		}
		try {
			if(m_opts.has_output) {
				m_formatter = std::make_unique<sinsp_evt_formatter>(&m_inspector,
				                                                    m_opts.output,
				                                                    *m_checks);
			}
		} catch(const std::exception& e) {
			emit_error(who, "fields", std::string("--output: ") + e.what());
			return false;
		}
		try {
			if(m_opts.has_filter) {
				auto factory = std::make_shared<sinsp_filter_factory>(&m_inspector, *m_checks);
				sinsp_filter_compiler compiler(factory, m_opts.filter);
				m_filter = compiler.compile();
			}
		} catch(const std::exception& e) {
			emit_error(who, "filter", e.what());
			return false;
		}
		return true;
	}

	std::unique_ptr<sinsp_filter_check> make_check(const std::string& name) {
		auto chk = m_checks->new_filter_check_from_fldname(name, &m_inspector, false);
		if(!chk) {
			throw sinsp_exception("no field named '" + name + "' for source " + m_source);
		}
		chk->parse_field_name(name, true, false);
		return chk;
	}

	bool open() {
		std::string who = m_input ? m_input->name() : "";
		try {
			if(!m_opts.capture.empty()) {
				m_inspector.open_savefile(m_opts.capture);
			} else {
				// Falco: FULL for a syscall source plugin (nodriver engine), HOSTINFO by default
				// (plugins_hostinfo: true) for the others
				m_inspector.open_plugin(m_input->name(),
				                        m_open_params,
				                        m_input->id() == 0
				                                ? sinsp_plugin_platform::SINSP_PLATFORM_FULL
				                                : sinsp_plugin_platform::SINSP_PLATFORM_HOSTINFO);
			}
			m_inspector.start_capture();
		} catch(const std::exception& e) {
			emit_error(who, m_opts.capture.empty() ? "open" : "capture", e.what());
			return false;
		}
		m_opened = true;
		return true;
	}

	int loop() {
		auto start = std::chrono::steady_clock::now();
		struct loop_timer {  // the read loop's time, however it ends
			uint64_t& out;
			bench_clock::time_point t0 = bench_clock::now();
			~loop_timer() { out = ns_since(t0); }
		} timer{m_loop_ns};
		std::string who = m_input ? m_input->name() : "";
		while(true) {
			if(m_opts.duration_ms &&
			   std::chrono::steady_clock::now() - start >=
			           std::chrono::milliseconds(m_opts.duration_ms)) {
				break;
			}
			sinsp_evt* evt = nullptr;
			int32_t rc;
			try {
				rc = m_inspector.next(&evt);
			} catch(const std::exception& e) {
				emit_error(who, "next_batch", e.what());
				return 1;
			}
			if(rc == SCAP_TIMEOUT || rc == SCAP_FILTERED_EVENT) {
				m_timeouts += rc == SCAP_TIMEOUT;
				continue;
			}
			if(rc == SCAP_EOF) {
				m_eof = true;
				break;
			}
			if(rc != SCAP_SUCCESS) {
				emit_error(who, "next_batch", m_inspector.getlasterr());
				return 1;
			}
			m_events += evt->get_type() != PPME_ASYNCEVENT_E;
			try {
				on_event(evt);
			} catch(const std::exception& e) {  // libsinsp throws on some fields and events
				emit_error(who, "event", "event " + std::to_string(evt->get_num()) + ": " + e.what());
				return 1;
			}
			if(m_opts.max_events && m_events >= m_opts.max_events) {
				break;
			}
		}
		return 0;
	}

	// --bench: each field's extraction timed alone, nothing else done per event
	void bench_event(sinsp_evt* evt) {
		if(evt->get_type() == PPME_ASYNCEVENT_E) {
			m_async++;
			return;
		}
		if(m_filter && !m_filter->run(evt)) {
			m_filtered_out++;
			return;
		}
		for(size_t i = 0; i < m_fields.size(); i++) {
			auto t0 = bench_clock::now();
			bool ok = m_fields[i].check->extract(evt, m_values);
			m_field_ns[i] += ns_since(t0);
			m_field_values[i] += ok ? m_values.size() : 0;
		}
	}

	// What one pair of clock reads costs (the median of many), to take off each timing.
	static uint64_t clock_cost_ns() {
		std::vector<uint64_t> samples;
		for(int i = 0; i < 10001; i++) {
			auto t0 = bench_clock::now();
			samples.push_back(ns_since(t0));
		}
		std::nth_element(samples.begin(), samples.begin() + 5000, samples.end());
		return samples[5000];
	}

	Json::Value bench_summary() {
		Json::Value b, fields(Json::objectValue);
		uint64_t clock_ns = clock_cost_ns();
		for(size_t i = 0; i < m_fields.size(); i++) {
			Json::Value f;
			f["calls"] = static_cast<Json::UInt64>(m_events);
			f["values"] = static_cast<Json::UInt64>(m_field_values[i]);
			f["ns"] = static_cast<Json::UInt64>(m_field_ns[i]);
			f["ns_per_call"] = m_events ? (static_cast<double>(m_field_ns[i]) / m_events -
			                               static_cast<double>(clock_ns))
			                            : 0.0;
			fields[m_fields[i].name] = f;
		}
		b["fields"] = fields;
		b["clock_ns"] = static_cast<Json::UInt64>(clock_ns);
		b["loop_ns"] = static_cast<Json::UInt64>(m_loop_ns);
		b["plugins"] = m_bench_plugins;
		return b;
	}

	static uint64_t rss_kb() {
		FILE* f = fopen("/proc/self/statm", "r");
		unsigned long long size = 0, resident = 0;
		if(f) {
			if(fscanf(f, "%llu %llu", &size, &resident) != 2) {
				resident = 0;
			}
			fclose(f);
		}
		return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) / 1024;
	}

	void on_event(sinsp_evt* evt) {
		if(m_opts.bench) {
			bench_event(evt);
			return;
		}
		Json::Value rec;
		uint16_t type = evt->get_type();
		if(type == PPME_ASYNCEVENT_E) {
			m_async++;
			rec["async"] = true;
			std::string name(evt->get_param(1)->data());
			rec["name"] = name;
			auto data = evt->get_param(2);
			rec["data_hex"] = hex(data->data(), data->len());
			rec["plugin"] = async_owner(name);
		} else {
			if(m_filter && !m_filter->run(evt)) {
				m_filtered_out++;
				return;
			}
			if(type == PPME_PLUGINEVENT_E) {
				rec["plugin"] = m_input ? m_input->name() : "";
				rec["plugin_id"] = read_as<uint32_t>(
				        extract_value_t{(uint8_t*)evt->get_param(0)->data(), 4});
				auto payload = evt->get_param(1);
				rec["payload_hex"] = hex(payload->data(), payload->len());
				std::vector<extract_value_t> vals;
				if(m_info_check->extract(evt, vals) && !vals.empty()) {
					rec["info"] = value_json(m_info_check->get_transformed_field_info(), vals[0]);
				} else {
					rec["info"] = Json::Value();
				}
			} else {
				rec["name"] = evt->get_name();
			}
			if(!m_fields.empty()) {
				extract_fields(evt, rec);
			}
			if(m_formatter) {
				std::string out;
				m_formatter->tostring(evt, out);
				rec["output"] = out;
			}
		}
		rec["evtnum"] = static_cast<Json::UInt64>(evt->get_num());
		rec["ts"] = static_cast<Json::UInt64>(evt->get_ts());
		rec["tid"] = static_cast<Json::Int64>(evt->get_tid());
		rec["type"] = type;
		rec["source"] = evt->get_source_name() ? evt->get_source_name() : "";
		if(!m_opts.quiet) {
			emit(rec);
		}
	}

	void extract_fields(sinsp_evt* evt, Json::Value& rec) {
		Json::Value fields(Json::objectValue), offsets(Json::objectValue);
		for(auto& f : m_fields) {
			std::vector<extract_value_t> vals;
			std::vector<extract_offset_t> offs;
			bool ok = m_opts.offsets ? f.check->extract_with_offsets(evt, vals, offs)
			                         : f.check->extract(evt, vals);
			auto info = f.check->get_transformed_field_info();
			Json::Value v;
			if(ok && !vals.empty()) {
				if(info->m_flags & EPF_IS_LIST) {
					v = Json::Value(Json::arrayValue);
					for(auto& x : vals) {
						v.append(value_json(info, x));
					}
				} else {
					v = value_json(info, vals[0]);
				}
			} else if(ok && (info->m_flags & EPF_IS_LIST)) {
				v = Json::Value(Json::arrayValue);
			}
			fields[f.name] = v;
			// one offset per field, as the API defines it (libsinsp also pairs one with every
			// further value of a list); a zero length means "none"
			if(m_opts.offsets) {
				Json::Value pair;
				if(ok && !offs.empty() && offs[0].length != 0) {
					pair.append(offs[0].start);
					pair.append(offs[0].length);
				}
				offsets[f.name] = pair;
			}
		}
		rec["fields"] = fields;
		if(m_opts.offsets) {
			rec["offsets"] = offsets;
		}
	}

	Json::Value async_owner(const std::string& name) {
		for(auto& p : m_plugins) {
			if((p->caps() & CAP_ASYNC) && p->async_event_names().count(name)) {
				return p->name();
			}
		}
		return Json::Value();
	}

	void after_capture() {
		if(m_input && m_input->id() != 0) {
			try {
				uint32_t pct = 0;
				std::string text = m_input->get_progress(pct);
				Json::Value p, root;
				p["plugin"] = m_input->name();
				p["pct"] = pct;
				p["text"] = text;
				root["progress"] = p;
				emit(root);
			} catch(const std::exception& e) {
				emit_error(m_input->name(), "progress", e.what());
			}
		}
		if(m_opts.list_tables) {
			list_tables();
		}
		for(auto& name : m_opts.dump_tables) {
			dump_table(name);
		}
		if(m_opened) {
			try {
				m_inspector.close();  // capture_close, async handlers cleared
			} catch(const std::exception& e) {
				emit_error("", "close", e.what());
			}
		}
		print_metrics();
		Json::Value s, root;
		s["plugin"] = m_input ? m_input->name() : "";
		s["events"] = static_cast<Json::UInt64>(m_events);
		s["async_events"] = static_cast<Json::UInt64>(m_async);
		s["timeouts"] = static_cast<Json::UInt64>(m_timeouts);
		s["filtered_out"] = static_cast<Json::UInt64>(m_filtered_out);
		s["eof"] = m_eof;
		s["host"] = "libsinsp";
		if(m_opts.bench) {
			s["bench"] = bench_summary();
		}
		root["summary"] = s;
		emit(root);
	}

	void print_metrics() {
		static const char* const value_types[] = {"u32", "s32", "u64", "s64", "d", "f", "i"};
		std::map<std::string, Json::Value> per_plugin;
		try {
			m_metrics.snapshot();
		} catch(const std::exception& e) {
			emit_error("", "metrics", e.what());
			return;
		}
		for(const auto& m : m_metrics.get_metrics()) {
			std::string full = m.name;
			auto dot = full.find('.');
			std::string plugin = full.substr(0, dot);
			Json::Value item;
			item["name"] = dot == std::string::npos ? full : full.substr(dot + 1);
			item["type"] = m.metric_type == METRIC_VALUE_METRIC_TYPE_MONOTONIC ? "monotonic"
			                                                                    : "non_monotonic";
			item["value_type"] = m.type < METRIC_VALUE_TYPE_MAX ? value_types[m.type] : "unknown";
			switch(m.type) {
			case METRIC_VALUE_TYPE_U32:
				item["value"] = m.value.u32;
				break;
			case METRIC_VALUE_TYPE_S32:
				item["value"] = m.value.s32;
				break;
			case METRIC_VALUE_TYPE_U64:
				item["value"] = static_cast<Json::UInt64>(m.value.u64);
				break;
			case METRIC_VALUE_TYPE_S64:
				item["value"] = static_cast<Json::Int64>(m.value.s64);
				break;
			case METRIC_VALUE_TYPE_D:
				item["value"] = m.value.d;
				break;
			case METRIC_VALUE_TYPE_F:
				item["value"] = m.value.f;
				break;
			case METRIC_VALUE_TYPE_I:
				item["value"] = m.value.i;
				break;
			default:
				break;
			}
			per_plugin[plugin].append(item);
		}
		for(auto& [plugin, items] : per_plugin) {
			Json::Value m, root;
			m["plugin"] = plugin;
			m["items"] = items;
			root["metrics"] = m;
			emit(root);
		}
	}

	// ---- tables, as libsinsp's table registry shows them to plugins ----

	static const char* state_type_name(ss_plugin_state_type t) {
		switch(t) {
		case SS_PLUGIN_ST_INT8:
			return "int8";
		case SS_PLUGIN_ST_INT16:
			return "int16";
		case SS_PLUGIN_ST_INT32:
			return "int32";
		case SS_PLUGIN_ST_INT64:
			return "int64";
		case SS_PLUGIN_ST_UINT8:
			return "uint8";
		case SS_PLUGIN_ST_UINT16:
			return "uint16";
		case SS_PLUGIN_ST_UINT32:
			return "uint32";
		case SS_PLUGIN_ST_UINT64:
			return "uint64";
		case SS_PLUGIN_ST_STRING:
			return "string";
		case SS_PLUGIN_ST_TABLE:
			return "table";
		case SS_PLUGIN_ST_BOOL:
			return "bool";
		}
		return "unknown";
	}

	static Json::Value state_json(ss_plugin_state_type t,
	                              const ss_plugin_state_data& d,
	                              libsinsp::state::sinsp_table_owner* owner) {
		switch(t) {
		case SS_PLUGIN_ST_INT8:
			return Json::Value(static_cast<int>(d.s8));
		case SS_PLUGIN_ST_INT16:
			return Json::Value(static_cast<int>(d.s16));
		case SS_PLUGIN_ST_INT32:
			return Json::Value(d.s32);
		case SS_PLUGIN_ST_INT64:
			return Json::Value(static_cast<Json::Int64>(d.s64));
		case SS_PLUGIN_ST_UINT8:
			return Json::Value(static_cast<unsigned>(d.u8));
		case SS_PLUGIN_ST_UINT16:
			return Json::Value(static_cast<unsigned>(d.u16));
		case SS_PLUGIN_ST_UINT32:
			return Json::Value(d.u32);
		case SS_PLUGIN_ST_UINT64:
			return Json::Value(static_cast<Json::UInt64>(d.u64));
		case SS_PLUGIN_ST_STRING:
			return Json::Value(d.str ? d.str : "");
		case SS_PLUGIN_ST_BOOL:
			return Json::Value(d.b != 0);
		case SS_PLUGIN_ST_TABLE: {
			Json::Value sub;
			if(d.table) {
				libsinsp::state::table_input_adapter nested(d.table);
				sub["size"] = static_cast<Json::UInt64>(nested.get_size(owner));
			}
			return sub;
		}
		}
		return Json::Value();
	}

	struct table_walk {
		libsinsp::state::base_table* table;
		libsinsp::state::sinsp_table_owner* owner;
		const ss_plugin_table_fieldinfo* infos;
		std::vector<ss_plugin_table_field_t*> accessors;
		Json::Value entries{Json::arrayValue};
	};

	static ss_plugin_bool walk_entry(ss_plugin_table_iterator_state_t* s,
	                                 ss_plugin_table_entry_t* e) {
		auto* w = reinterpret_cast<table_walk*>(s);
		Json::Value fields(Json::objectValue);
		for(size_t i = 0; i < w->accessors.size(); i++) {
			ss_plugin_state_data d{};
			const auto& info = w->infos[i];
			try {
				if(w->table->read_entry_field(w->owner, e, w->accessors[i], &d) ==
				   SS_PLUGIN_SUCCESS) {
					fields[info.name] = state_json(info.field_type, d, w->owner);
				}
			} catch(const std::exception& ex) {
				fields[info.name] = std::string("<error: ") + ex.what() + ">";
			}
		}
		Json::Value entry;
		entry["fields"] = fields;
		w->entries.append(entry);
		return true;
	}

	// {"tables": [{"name", "key_type"}, ...]}: what plugins see through list_tables
	void list_tables() {
		Json::Value list(Json::arrayValue);
		for(const auto& [name, table] : m_inspector.get_table_registry()->tables()) {
			Json::Value t;
			t["name"] = name;
			t["key_type"] = state_type_name(table->key_type());
			list.append(t);
		}
		Json::Value root;
		root["tables"] = list;
		emit(root);
	}

	void dump_table(const std::string& name) {
		const auto& tables = m_inspector.get_table_registry()->tables();
		auto it = tables.find(name);
		if(it == tables.end()) {
			emit_error("", "dump_table", "--dump-table: no table named '" + name + "'");
			return;
		}
		libsinsp::state::sinsp_table_owner owner;
		auto* table = it->second;
		uint32_t n = 0;
		const auto* infos = table->list_fields(&owner, &n);
		table_walk walk{table, &owner, infos};
		Json::Value t, fields(Json::arrayValue);
		for(uint32_t i = 0; i < n; i++) {
			walk.accessors.push_back(table->get_field(&owner, infos[i].name, infos[i].field_type));
			Json::Value f;
			f["name"] = infos[i].name;
			f["type"] = state_type_name(infos[i].field_type);
			f["read_only"] = infos[i].read_only != 0;
			fields.append(f);
		}
		table->iterate_entries(&owner, walk_entry, reinterpret_cast<void*>(&walk));
		t["name"] = name;
		t["key_type"] = state_type_name(table->key_type());
		t["size"] = static_cast<Json::UInt64>(table->get_size(&owner));
		t["fields"] = fields;
		t["entries"] = walk.entries;
		Json::Value root;
		root["table"] = t;
		emit(root);
	}

	driver_opts m_opts;
	sinsp m_inspector;
	libs::metrics::libs_metrics_collector m_metrics;
	std::vector<std::shared_ptr<sinsp_plugin>> m_plugins;
	std::shared_ptr<sinsp_plugin> m_input;
	std::string m_open_params, m_source;
	std::unique_ptr<filter_check_list> m_checks;
	std::unique_ptr<sinsp_filter_check> m_info_check;
	std::vector<field_check> m_fields;
	std::unique_ptr<sinsp_evt_formatter> m_formatter;
	std::unique_ptr<sinsp_filter> m_filter;
	bool m_opened = false, m_eof = false;
	uint64_t m_events = 0, m_async = 0, m_timeouts = 0, m_filtered_out = 0;
	// --bench
	std::vector<extract_value_t> m_values;
	std::vector<uint64_t> m_field_ns, m_field_values;
	uint64_t m_loop_ns = 0;
	Json::Value m_bench_plugins{Json::objectValue};
};

}  // namespace

int main(int argc, char** argv) {
	driver_opts opts;
	if(int rc = parse_args(argc, argv, opts)) {
		return rc;
	}
	libsinsp_logger()->add_callback_log([](std::string&& msg, sinsp_logger::severity sev) {
		std::lock_guard<std::mutex> lock(g_out_lock);
		std::cerr << severity_name(sev) << ": " << msg << "\n" << std::flush;
	});
	libsinsp_logger()->disable_timestamps();
	libsinsp_logger()->set_severity(sinsp_logger::SEV_TRACE);
	try {
		driver d(std::move(opts));
		return d.run();
	} catch(const std::exception& e) {
		emit_error("", "driver", e.what());
		return 1;
	}
}
