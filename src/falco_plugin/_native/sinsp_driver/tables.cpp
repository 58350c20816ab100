// tables.cpp: libsinsp's table registry as plugins see it: --list-tables (names and key
// types) and --dump-table NAME (every entry through the plugin table API: fields, types,
// values; nested tables as their sizes).
#include "driver.h"

namespace fp_sinsp {

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
void list_tables(sinsp& inspector) {
	Json::Value list(Json::arrayValue);
	for(const auto& [name, table] : inspector.get_table_registry()->tables()) {
		Json::Value t;
		t["name"] = name;
		t["key_type"] = state_type_name(table->key_type());
		list.append(t);
	}
	Json::Value root;
	root["tables"] = list;
	emit(root);
}

void dump_table(sinsp& inspector, const std::string& name) {
	const auto& tables = inspector.get_table_registry()->tables();
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

}  // namespace fp_sinsp
