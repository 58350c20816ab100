// output.cpp: fp-sinsp's JSON lines (one record per line, under one lock: plugin threads
// emit too), error records, and extracted values as JSON by libsinsp's field types.
#include "driver.h"

namespace fp_sinsp {

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

// One extracted value as JSON, by the field's (transformed) type; text for the types
// plugins cannot return.
Json::Value value_json(const filtercheck_field_info* info, const extract_value_t& v) {
	switch(info->m_type) {
	case PT_UINT8:
	case PT_FLAGS8:
	case PT_ENUMFLAGS8:
	case PT_SIGTYPE:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint8_t>(v)));
	case PT_UINT16:
	case PT_FLAGS16:
	case PT_ENUMFLAGS16:
	case PT_SYSCALLID:
	case PT_PORT:
		return Json::Value(static_cast<Json::UInt64>(read_as<uint16_t>(v)));
	case PT_UINT32:
	case PT_MODE:
	case PT_FLAGS32:
	case PT_ENUMFLAGS32:
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
	case PT_FD32:
	case PT_PID32:
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

}  // namespace fp_sinsp
