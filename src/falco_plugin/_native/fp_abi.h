/*
 * The Falco plugin ABI (plugin API 3.x) as this SDK uses it.
 *
 * Written for falco-plugin from the published layouts of libs'
 * userspace/plugin/plugin_types.h and plugin_api.h: only the types, values
 * and signatures that the shim and the SDK host need. Struct layouts must
 * match the host byte for byte; field order is part of the ABI.
 */
#ifndef FP_ABI_H
#define FP_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP_ABI_MAJOR 3
#define FP_MAX_ERRLEN 1024

typedef uint32_t ss_plugin_bool;

typedef enum {
    SS_PLUGIN_SUCCESS = 0,
    SS_PLUGIN_FAILURE = 1,
    SS_PLUGIN_TIMEOUT = -1,
    SS_PLUGIN_EOF = 2,
    SS_PLUGIN_NOT_SUPPORTED = 3,
} ss_plugin_rc;

typedef enum {
    SS_PLUGIN_SCHEMA_NONE = 0,
    SS_PLUGIN_SCHEMA_JSON = 1,
} ss_plugin_schema_type;

typedef enum {
    SS_PLUGIN_LOG_SEV_FATAL = 1,
    SS_PLUGIN_LOG_SEV_CRITICAL = 2,
    SS_PLUGIN_LOG_SEV_ERROR = 3,
    SS_PLUGIN_LOG_SEV_WARNING = 4,
    SS_PLUGIN_LOG_SEV_NOTICE = 5,
    SS_PLUGIN_LOG_SEV_INFO = 6,
    SS_PLUGIN_LOG_SEV_DEBUG = 7,
    SS_PLUGIN_LOG_SEV_TRACE = 8,
} ss_plugin_log_severity;

/* Event header: packed, 26 bytes, followed by the parameter lengths and data. */
#pragma pack(push, 1)
typedef struct ss_plugin_event {
    uint64_t ts;
    uint64_t tid;
    uint32_t len;
    uint16_t type;
    uint32_t nparams;
} ss_plugin_event;
#pragma pack(pop)

#define FP_EVENT_HEADER_LEN 26u
#define FP_PLUGINEVENT_TYPE 322u
#define FP_ASYNCEVENT_TYPE 402u
/* header + two u32 lengths + the u32 plugin id */
#define FP_PLUGINEVENT_PAYLOAD_OFFSET 38u

typedef struct ss_plugin_event_input {
    const ss_plugin_event *evt;
    uint64_t evtnum;
    const char *evtsrc;
} ss_plugin_event_input;

typedef void ss_plugin_t;
typedef void ss_instance_t;
typedef void ss_plugin_owner_t;
typedef void ss_plugin_init_tables_input_t; /* older code: see ss_plugin_init_tables_input */

/* ---- state tables (the _ext vtables are 3.1+; reader_ext/writer_ext of the init tables
 * input were appended in 3.4-3.6) ---- */

/* Opaque to the user of a table: the owner gives them meaning. */
typedef void ss_plugin_table_t;
typedef void ss_plugin_table_entry_t;
typedef void ss_plugin_table_field_t;
typedef void ss_plugin_table_iterator_state_t;

/* The values mirror libs' internal type codes, hence the gaps. */
typedef enum ss_plugin_state_type {
    SS_PLUGIN_ST_INT8 = 1,
    SS_PLUGIN_ST_INT16 = 2,
    SS_PLUGIN_ST_INT32 = 3,
    SS_PLUGIN_ST_INT64 = 4,
    SS_PLUGIN_ST_UINT8 = 5,
    SS_PLUGIN_ST_UINT16 = 6,
    SS_PLUGIN_ST_UINT32 = 7,
    SS_PLUGIN_ST_UINT64 = 8,
    SS_PLUGIN_ST_STRING = 9,
    SS_PLUGIN_ST_TABLE = 10,
    SS_PLUGIN_ST_BOOL = 25,
} ss_plugin_state_type;

/* One value read from or written to a table (8 bytes). A string read points into memory
 * owned by the table; a TABLE value is a table handle (an ss_plugin_table_input*). */
typedef union ss_plugin_state_data {
    int8_t s8;
    int16_t s16;
    int32_t s32;
    int64_t s64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const char *str;
    ss_plugin_bool b;
    ss_plugin_table_t *table;
} ss_plugin_state_data;

typedef struct ss_plugin_table_info {
    const char *name;
    ss_plugin_state_type key_type;
} ss_plugin_table_info;

typedef struct ss_plugin_table_fieldinfo {
    const char *name;
    ss_plugin_state_type field_type;
    ss_plugin_bool read_only;
} ss_plugin_table_fieldinfo;

/* Returns true to go on with the iteration. The entry is borrowed: valid during the call. */
typedef ss_plugin_bool (*ss_plugin_table_iterator_func_t)(ss_plugin_table_iterator_state_t *s,
                                                          ss_plugin_table_entry_t *e);

/* The deprecated (3.0) by-value vtables, then the _ext ones (3.1+), which start with the
 * same members. A table owner must fill both with the same function pointers. */
typedef struct {
    const char *(*get_table_name)(ss_plugin_table_t *t);
    uint64_t (*get_table_size)(ss_plugin_table_t *t);
    ss_plugin_table_entry_t *(*get_table_entry)(ss_plugin_table_t *t,
                                                const ss_plugin_state_data *key);
    ss_plugin_rc (*read_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                     const ss_plugin_table_field_t *f, ss_plugin_state_data *out);
} ss_plugin_table_reader_vtable;

typedef struct {
    const char *(*get_table_name)(ss_plugin_table_t *t);
    uint64_t (*get_table_size)(ss_plugin_table_t *t);
    ss_plugin_table_entry_t *(*get_table_entry)(ss_plugin_table_t *t,
                                                const ss_plugin_state_data *key);
    ss_plugin_rc (*read_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                     const ss_plugin_table_field_t *f, ss_plugin_state_data *out);
    void (*release_table_entry)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e);
    ss_plugin_bool (*iterate_entries)(ss_plugin_table_t *t, ss_plugin_table_iterator_func_t it,
                                      ss_plugin_table_iterator_state_t *s);
} ss_plugin_table_reader_vtable_ext;

typedef struct {
    ss_plugin_rc (*clear_table)(ss_plugin_table_t *t);
    ss_plugin_rc (*erase_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key);
    ss_plugin_table_entry_t *(*create_table_entry)(ss_plugin_table_t *t);
    void (*destroy_table_entry)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e);
    ss_plugin_table_entry_t *(*add_table_entry)(ss_plugin_table_t *t,
                                                const ss_plugin_state_data *key,
                                                ss_plugin_table_entry_t *entry);
    ss_plugin_rc (*write_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                      const ss_plugin_table_field_t *f,
                                      const ss_plugin_state_data *in);
} ss_plugin_table_writer_vtable;

typedef struct {
    ss_plugin_rc (*clear_table)(ss_plugin_table_t *t);
    ss_plugin_rc (*erase_table_entry)(ss_plugin_table_t *t, const ss_plugin_state_data *key);
    ss_plugin_table_entry_t *(*create_table_entry)(ss_plugin_table_t *t);
    void (*destroy_table_entry)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e);
    ss_plugin_table_entry_t *(*add_table_entry)(ss_plugin_table_t *t,
                                                const ss_plugin_state_data *key,
                                                ss_plugin_table_entry_t *entry);
    ss_plugin_rc (*write_entry_field)(ss_plugin_table_t *t, ss_plugin_table_entry_t *e,
                                      const ss_plugin_table_field_t *f,
                                      const ss_plugin_state_data *in);
} ss_plugin_table_writer_vtable_ext;

typedef struct {
    const ss_plugin_table_fieldinfo *(*list_table_fields)(ss_plugin_table_t *t,
                                                          uint32_t *nfields);
    ss_plugin_table_field_t *(*get_table_field)(ss_plugin_table_t *t, const char *name,
                                                ss_plugin_state_type data_type);
    ss_plugin_table_field_t *(*add_table_field)(ss_plugin_table_t *t, const char *name,
                                                ss_plugin_state_type data_type);
} ss_plugin_table_fields_vtable;

typedef struct {
    const ss_plugin_table_fieldinfo *(*list_table_fields)(ss_plugin_table_t *t,
                                                          uint32_t *nfields);
    ss_plugin_table_field_t *(*get_table_field)(ss_plugin_table_t *t, const char *name,
                                                ss_plugin_state_type data_type);
    ss_plugin_table_field_t *(*add_table_field)(ss_plugin_table_t *t, const char *name,
                                                ss_plugin_state_type data_type);
} ss_plugin_table_fields_vtable_ext;

/* A table as add_table receives it from its owner, and what every table handle the host
 * gives out points to (152 bytes). */
typedef struct ss_plugin_table_input {
    const char *name;
    ss_plugin_state_type key_type;
    ss_plugin_table_t *table;
    ss_plugin_table_reader_vtable reader;  /* deprecated: same pointers as reader_ext */
    ss_plugin_table_writer_vtable writer;  /* deprecated: same pointers as writer_ext */
    ss_plugin_table_fields_vtable fields;  /* deprecated: same pointers as fields_ext */
    ss_plugin_table_reader_vtable_ext *reader_ext;
    ss_plugin_table_writer_vtable_ext *writer_ext;
    ss_plugin_table_fields_vtable_ext *fields_ext;
} ss_plugin_table_input;

/* init_input.tables (72 bytes); NULL for a plugin with neither parse nor extract. */
typedef struct ss_plugin_init_tables_input {
    ss_plugin_table_info *(*list_tables)(ss_plugin_owner_t *o, uint32_t *ntables);
    ss_plugin_table_t *(*get_table)(ss_plugin_owner_t *o, const char *name,
                                    ss_plugin_state_type key_type);
    ss_plugin_rc (*add_table)(ss_plugin_owner_t *o, const ss_plugin_table_input *in);
    ss_plugin_table_fields_vtable fields; /* deprecated: same pointers as fields_ext */
    ss_plugin_table_fields_vtable_ext *fields_ext;
    ss_plugin_table_reader_vtable_ext *reader_ext;
    ss_plugin_table_writer_vtable_ext *writer_ext;
} ss_plugin_init_tables_input;

/* The owner comes first (the final 3.3.0 form of the logger). */
typedef void (*ss_plugin_log_fn_t)(ss_plugin_owner_t *o, const char *component, const char *msg,
                                   ss_plugin_log_severity sev);

typedef struct ss_plugin_init_input {
    const char *config;
    ss_plugin_owner_t *owner;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
    const ss_plugin_init_tables_input *tables;
    ss_plugin_log_fn_t log_fn;
} ss_plugin_init_input;

typedef struct ss_plugin_set_config_input {
    const char *config;
} ss_plugin_set_config_input;

typedef enum {
    SS_PLUGIN_METRIC_VALUE_TYPE_U32 = 0,
    SS_PLUGIN_METRIC_VALUE_TYPE_S32 = 1,
    SS_PLUGIN_METRIC_VALUE_TYPE_U64 = 2,
    SS_PLUGIN_METRIC_VALUE_TYPE_S64 = 3,
    SS_PLUGIN_METRIC_VALUE_TYPE_D = 4,
    SS_PLUGIN_METRIC_VALUE_TYPE_F = 5,
    SS_PLUGIN_METRIC_VALUE_TYPE_I = 6,
} ss_plugin_metric_value_type;

typedef union ss_plugin_metric_value {
    uint32_t u32;
    int32_t s32;
    uint64_t u64;
    int64_t s64;
    double d;
    float f;
    int i;
} ss_plugin_metric_value;

typedef enum {
    SS_PLUGIN_METRIC_TYPE_MONOTONIC = 0,
    SS_PLUGIN_METRIC_TYPE_NON_MONOTONIC = 1,
} ss_plugin_metric_type;

typedef struct ss_plugin_metric {
    const char *name;
    ss_plugin_metric_type type;
    ss_plugin_metric_value value;
    ss_plugin_metric_value_type value_type;
} ss_plugin_metric;

/* ---- field extraction ---- */

typedef enum {
    FTYPE_UINT64 = 8,
    FTYPE_STRING = 9,
    FTYPE_RELTIME = 20,
    FTYPE_ABSTIME = 21,
    FTYPE_BOOL = 25,
    FTYPE_IPADDR = 40,
    FTYPE_IPNET = 41,
} ss_plugin_field_type;

typedef struct ss_plugin_byte_buffer {
    uint32_t len;
    const void *ptr;
} ss_plugin_byte_buffer;

/* One requested field (input) and its values (output, plugin-owned memory). */
typedef struct ss_plugin_extract_field {
    union {
        const char **str;
        uint64_t *u64;
        uint32_t *u32;
        ss_plugin_bool *boolean;
        ss_plugin_byte_buffer *buf;
    } res;
    uint64_t res_len;
    uint32_t field_id;
    const char *field;
    const char *arg_key;
    uint64_t arg_index;
    ss_plugin_bool arg_present;
    uint32_t ftype;
    ss_plugin_bool flist;
} ss_plugin_extract_field;

/* 3.11+: where each field's value lies in the event; arrays owned by the plugin. */
typedef struct ss_plugin_extract_value_offsets {
    uint32_t *start;
    uint32_t *length;
} ss_plugin_extract_value_offsets;

/* Kept for older code: the by-value reader is ss_plugin_table_reader_vtable (same size). */
typedef struct { void *fn[4]; } fp_table_reader_v0;

typedef struct ss_plugin_field_extract_input {
    ss_plugin_owner_t *owner;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
    uint32_t num_fields;
    ss_plugin_extract_field *fields;
    ss_plugin_table_reader_vtable table_reader; /* deprecated: same pointers as the _ext one */
    ss_plugin_table_reader_vtable_ext *table_reader_ext;
    ss_plugin_extract_value_offsets *value_offsets; /* only read when required API >= 3.11 */
} ss_plugin_field_extract_input;

/* ---- event parsing ---- */

/* What parse_event receives besides the event (112 bytes). */
typedef struct ss_plugin_event_parse_input {
    ss_plugin_owner_t *owner;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
    ss_plugin_table_reader_vtable table_reader; /* deprecated: same pointers as the _ext one */
    ss_plugin_table_writer_vtable table_writer; /* deprecated: same pointers as the _ext one */
    ss_plugin_table_reader_vtable_ext *table_reader_ext;
    ss_plugin_table_writer_vtable_ext *table_writer_ext;
} ss_plugin_event_parse_input;

/* ---- async events (dump_state is 3.10+) ---- */

/* Given by the host to set_async_event_handler and dump_state; thread-safe, may be called
 * from any plugin thread. The event must be an async event (type 402, 3 parameters with
 * u32 lengths: plugin id u32, name NUL-terminated and listed by get_async_events, data);
 * the host copies it before returning and fills in the plugin id itself. On failure it
 * writes a message into err when err is not NULL: a buffer of FP_MAX_ERRLEN bytes
 * (NUL included) owned by the plugin. */
typedef ss_plugin_rc (*ss_plugin_async_event_handler_t)(ss_plugin_owner_t *o,
                                                        const ss_plugin_event *evt, char *err);

/* ---- capture listening (3.7-3.10; get_owner_last_error appended last) ---- */

typedef void ss_plugin_routine_t;       /* a subscribed routine: opaque, given by the host */
typedef void ss_plugin_routine_state_t; /* the plugin's argument to its routine */

/* Called again and again on a host thread; returns false to end (unsubscribe itself). */
typedef ss_plugin_bool (*ss_plugin_routine_fn_t)(ss_plugin_t *s, ss_plugin_routine_state_t *i);

/* The host's thread pool (16 bytes). */
typedef struct ss_plugin_routine_vtable {
    ss_plugin_routine_t *(*subscribe)(ss_plugin_owner_t *o, ss_plugin_routine_fn_t f,
                                      ss_plugin_routine_state_t *i);
    ss_plugin_rc (*unsubscribe)(ss_plugin_owner_t *o, ss_plugin_routine_t *r);
} ss_plugin_routine_vtable;

/* What capture_open and capture_close receive (40 bytes). */
typedef struct ss_plugin_capture_listen_input {
    ss_plugin_owner_t *owner;
    ss_plugin_routine_vtable *routine;
    ss_plugin_table_reader_vtable_ext *table_reader_ext;
    ss_plugin_table_writer_vtable_ext *table_writer_ext;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
} ss_plugin_capture_listen_input;

/* Signatures of the exported symbols (each exported as plugin_<name>). */
typedef const char *(*fp_get_str_fn)(void);
typedef const char *(*fp_get_init_schema_fn)(ss_plugin_schema_type *t);
typedef ss_plugin_t *(*fp_init_fn)(const ss_plugin_init_input *in, ss_plugin_rc *rc);
typedef void (*fp_destroy_fn)(ss_plugin_t *s);
typedef const char *(*fp_get_last_error_fn)(ss_plugin_t *s);
typedef ss_plugin_rc (*fp_set_config_fn)(ss_plugin_t *s, const ss_plugin_set_config_input *in);
typedef ss_plugin_metric *(*fp_get_metrics_fn)(ss_plugin_t *s, uint32_t *n);
typedef uint32_t (*fp_get_id_fn)(void);
typedef ss_instance_t *(*fp_open_fn)(ss_plugin_t *s, const char *params, ss_plugin_rc *rc);
typedef void (*fp_close_fn)(ss_plugin_t *s, ss_instance_t *h);
typedef const char *(*fp_list_open_params_fn)(ss_plugin_t *s, ss_plugin_rc *rc);
typedef const char *(*fp_get_progress_fn)(ss_plugin_t *s, ss_instance_t *h, uint32_t *pct);
typedef const char *(*fp_event_to_string_fn)(ss_plugin_t *s, const ss_plugin_event_input *evt);
typedef const char *(*fp_get_fields_fn)(void);
typedef ss_plugin_rc (*fp_extract_fields_fn)(ss_plugin_t *s, const ss_plugin_event_input *evt,
                                             const ss_plugin_field_extract_input *in);
typedef uint16_t *(*fp_get_extract_event_types_fn)(uint32_t *numtypes, ss_plugin_t *s);
/* plugin_get_parse_event_sources is an fp_get_str_fn: a JSON array of source names. */
typedef uint16_t *(*fp_get_parse_event_types_fn)(uint32_t *numtypes, ss_plugin_t *s);
typedef ss_plugin_rc (*fp_parse_event_fn)(ss_plugin_t *s, const ss_plugin_event_input *evt,
                                          const ss_plugin_event_parse_input *in);
typedef ss_plugin_rc (*fp_next_batch_fn)(ss_plugin_t *s, ss_instance_t *h, uint32_t *nevts,
                                         ss_plugin_event ***evts);
/* plugin_get_async_events and plugin_get_async_event_sources are fp_get_str_fn: JSON arrays
 * of strings (event names; source names). */
typedef ss_plugin_rc (*fp_set_async_event_handler_fn)(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                                      const ss_plugin_async_event_handler_t h);
typedef ss_plugin_rc (*fp_dump_state_fn)(ss_plugin_t *s, ss_plugin_owner_t *owner,
                                         const ss_plugin_async_event_handler_t h);
/* plugin_capture_open and plugin_capture_close */
typedef ss_plugin_rc (*fp_capture_listen_fn)(ss_plugin_t *s,
                                             const ss_plugin_capture_listen_input *in);

#ifdef __cplusplus
}
#endif

#endif /* FP_ABI_H */
