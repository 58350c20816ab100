// driver.cpp: the driver itself: registers and inits the plugins as Falco does, sets up the
// filterchecks of a source (the generic evt.* ones and the compatible extractors' for a
// plugin source, libsinsp's own for the syscall source), opens a plugin or a capture file,
// reads every event through sinsp::next() and prints it with its fields; then progress,
// tables, metrics and a summary.
#include "driver.h"
#include "pool.h"

namespace fp_sinsp {

namespace {

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
			list_tables(m_inspector);
		}
		for(auto& name : m_opts.dump_tables) {
			dump_table(m_inspector, name);
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

int run_driver(driver_opts opts) {
	driver d(std::move(opts));
	return d.run();
}

}  // namespace fp_sinsp
