// main.cpp: fp-sinsp's command line (see k_usage) and main(): libsinsp's log to stderr,
// the driver run, any exception libsinsp throws turned into an error record.
#include "driver.h"

namespace fp_sinsp {

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

static bool parse_u64(const char* s, uint64_t& out) {
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

}  // namespace fp_sinsp

using namespace fp_sinsp;

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
		return run_driver(std::move(opts));
	} catch(const std::exception& e) {
		emit_error("", "driver", e.what());
		return 1;
	}
}
