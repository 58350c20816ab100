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
typedef void ss_plugin_init_tables_input_t; /* opaque here: tables come later */

/* The owner comes first (the final 3.3.0 form of the logger). */
typedef void (*ss_plugin_log_fn_t)(ss_plugin_owner_t *o, const char *component, const char *msg,
                                   ss_plugin_log_severity sev);

typedef struct ss_plugin_init_input {
    const char *config;
    ss_plugin_owner_t *owner;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
    const ss_plugin_init_tables_input_t *tables;
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

/* The deprecated by-value table reader (four entries); opaque to this SDK for now. */
typedef struct { void *fn[4]; } fp_table_reader_v0;

typedef struct ss_plugin_field_extract_input {
    ss_plugin_owner_t *owner;
    const char *(*get_owner_last_error)(ss_plugin_owner_t *o);
    uint32_t num_fields;
    ss_plugin_extract_field *fields;
    fp_table_reader_v0 table_reader;
    void *table_reader_ext;
    ss_plugin_extract_value_offsets *value_offsets; /* only read when required API >= 3.11 */
} ss_plugin_field_extract_input;

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
typedef ss_plugin_rc (*fp_next_batch_fn)(ss_plugin_t *s, ss_instance_t *h, uint32_t *nevts,
                                         ss_plugin_event ***evts);

#ifdef __cplusplus
}
#endif

#endif /* FP_ABI_H */
