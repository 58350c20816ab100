/*
 * host.h: what the files of the SDK host's C engine share: the loaded plugins and their
 * states, the run options, and each file's entry points.
 *
 * The engine is the part of the host that must be C: it loads plugins the way libsinsp does
 * (dlopen, dlsym), calls the plugin API, runs the capture loops, serves the state tables,
 * async events and capture listening, extracts fields and evaluates filters. Everything else
 * (argument parsing, metadata checks, config validation, filter parsing, output) is done by
 * falco_plugin.host in Python, which hands the engine a plan (proto.h) and reads its records.
 *
 * Files, one job each:
 *   main.c      the process: reads the plan, loads the plugins, runs the cycles or `info`
 *   wire.c      the two channels: plan reader, record writer, error/warning/log records
 *   util.c      allocation, growable buffers, clocks
 *   loader.c    dlopen/dlsym, the static getters (R_META), init/destroy/set_config, signals
 *   cycle.c     one load/init/open/capture/close/destroy cycle, and what is reported after it
 *   capture.c   the event threads: next_batch (or a stream's batches), checks, the pipeline
 *   stream.c    a raw event stream (a capture's events) as the "syscall" source
 *   extract.c   field requests, extract_fields calls, values, --extract-repeat/-threads
 *   filter.c    the compiled filter and the host's own evt.* fields
 *   tables_*.c  the state tables API (handles and checks, the vtables, the host's tables)
 *   async.c     async events: the handler, per-source queues, delivery, dump_state
 *   listen.c    capture listening: capture_open/close and the routine thread pool
 */
#ifndef FP_HOST_H
#define FP_HOST_H

#define _GNU_SOURCE

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../fp_abi.h"
#include "proto.h"

#define ERRBUF 2048

/* Types of the syscall fields of a replayed capture beyond the plugin field types (FTYPE_*,
 * which are libsinsp's PT_* codes too). */
#define PT_INT16 2
#define PT_INT32 3
#define PT_INT64 4
#define PT_UINT32 7
#define PT_PORT 22

/* ---- util.c ---- */

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
uint64_t clock_ns(int clock_id); /* CLOCK_MONOTONIC, CLOCK_REALTIME */
uint64_t event_now_ns(void);     /* the time the host stamps on events */
long read_rss_kb(void);

/* A growable byte buffer, always NUL terminated. */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

void sb_grow(sbuf *b, size_t extra);
void sb_add(sbuf *b, const void *s, size_t n);
void sb_adds(sbuf *b, const char *s);
void sb_reset(sbuf *b);
const char *sb_str(const sbuf *b);
void sb_free(sbuf *b);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline uint32_t rd32(const void *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline uint16_t rd16(const void *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return v;
}

/* ---- the plugins ---- */

typedef struct host_plugin host_plugin;

#define OWNER_MAGIC 0x66706f77u /* "fpow" */

/* What init_input.owner points to: one per plugin state. */
typedef struct host_owner {
    uint32_t magic;
    host_plugin *plugin;
    uint64_t index;
    char last_error[FP_MAX_ERRLEN];
    struct otrack *trk; /* its table handles (plugins with the tables input) */
    atomic_int tbl_dirty; /* handles of the current call are to be ended after it */
    /* async events: the handler was given to this state (and not cleared since) and takes
     * events (both change under the async lock); dump_state is running on it */
    bool async_set, async_on, dumping;
    bool listen_open; /* capture_open succeeded, capture_close not called yet */
    bool routines_ok; /* subscribe is allowed (under the pool's lock) */
} host_owner;

/* The symbols, resolved with dlsym (NULL when absent). */
typedef struct {
#define FP_SYM_MEMBER(name) void *name;
    FP_SYMBOLS(FP_SYM_MEMBER)
#undef FP_SYM_MEMBER
} plugin_syms;

/* One field of get_fields, as Python checked it. */
typedef struct {
    char *name;
    uint32_t ftype;
    bool is_list;
} plugin_field;

/* Per capturing plugin: which state of this plugin serves its events (X_NO_SLOT: none). */
#define X_NO_SLOT UINT64_MAX

struct host_plugin {
    uint32_t index;
    char *path;
    void *handle;
    plugin_syms api;

    /* from the plan */
    char *name; /* get_name, for messages */
    unsigned caps;
    uint32_t id;
    char *source; /* the source its events belong to */
    char *config, *open_params, *set_config;
    uint64_t ninit;
    uint32_t req_minor;
    plugin_field *fields;
    size_t nfields;
    char **async_names;
    size_t nasync_names;
    uint32_t async_stream; /* FP_NO_PLUGIN: the host's own stream */
    uint64_t *slot_for;    /* per plugin index: the state serving its events */
    bool *xsrc;            /* per plugin index: it extracts from those events */

    /* after init, per cycle */
    uint64_t *xtypes_bm; /* get_extract_event_types as a 65536-bit map, NULL: the default */
    uint64_t *ptypes_bm; /* get_parse_event_types, same */
    struct xctx *xc;     /* this plugin's capture: extraction bindings and values */
    struct pbind *pb;    /* the parsers of its events, in order */
    size_t npb;

    /* states */
    uint64_t nstates;
    ss_plugin_t **states;
    host_owner *owners;
    ss_instance_t *inst;
    bool opened;

    /* a raw event stream instead of a library (stream.c): the file is `path` */
    bool is_stream;
    struct evstream *stream;
    uint8_t *stream_shown; /* per event: libsinsp hands it to its user (else only parses it) */
    size_t stream_nshown;
    uint8_t *stream_cpus; /* per event: its cpu, u16 (P_CPUS) */
    size_t stream_ncpus;

    /* counters of a cycle */
    _Atomic uint64_t x_failures, x_calls, x_ns, p_failures, p_calls;
    _Atomic uint64_t entry_leaks, table_misuse;
    _Atomic uint64_t async_events, async_refused, dump_events, routine_calls;
    atomic_int x_warned, p_warned, leak_warned, async_warned;
    uint64_t filtered_out;

    /* the capture */
    pthread_t thread;
    bool thread_started;
    uint64_t events, timeouts;
    bool eof, failed;
    uint64_t capture_ns, init_ns;
    long rss_kb;
    struct astream *as_to;   /* async plugin: the stream its events are delivered to */
    struct astream *as_mine; /* capturing plugin: its own stream, when async plugins use it */
};

/* Options of the run (from the plan). */
typedef struct {
    int mode;
    bool deepbind, quiet, reload, no_e2s, offsets, async_reset, dump_state;
    uint64_t max_events, cycles, extract_threads, extract_repeat, async_wait_ms, async_until;
    uint64_t routine_threads;
    uint64_t tick_ns; /* P_PROGRESS_EVERY, in ns; 0: no R_TICK */
    bool thread_tid_set;
    int64_t thread_tid;
    char *hostname;
    char **dumps;
    size_t ndumps;
    uint64_t *large_types_bm; /* event types whose parameter lengths are u32; NULL: unknown */
} host_opts;

extern host_opts g_opt;
extern host_plugin *g_pl;
extern size_t g_np;
extern atomic_int g_abort;
extern volatile int g_stop_signal; /* SIGINT or SIGTERM was received */

static inline const char *plugin_label(const host_plugin *p)
{
    return (p && p->name && p->name[0]) ? p->name : (p ? p->path : NULL);
}

static inline bool type_in(const uint64_t *bm, uint16_t type)
{
    return (bm[type >> 6] >> (type & 63)) & 1;
}

/* ---- wire.c ---- */

typedef struct {
    const uint8_t *p;
    size_t n, i;
    bool bad;
} plan_reader;

bool plan_read_message(int fd, uint8_t **buf, size_t *len);
uint8_t pr_u8(plan_reader *r);
uint32_t pr_u32(plan_reader *r);
uint64_t pr_u64(plan_reader *r);
char *pr_str(plan_reader *r); /* a copy (NULL for a NULL str) */
const uint8_t *pr_bytes(plan_reader *r, uint32_t *len);

void wire_init(int fd);
/* One record being written; rec_send puts it on the channel at once, whole. */
void rec_begin(sbuf *b, uint8_t kind);
void rec_u8(sbuf *b, uint8_t v);
void rec_u32(sbuf *b, uint32_t v);
void rec_u64(sbuf *b, uint64_t v);
void rec_str(sbuf *b, const char *s);
void rec_strn(sbuf *b, const void *s, size_t n);
void rec_send(sbuf *b);
uint32_t plugin_ix(const host_plugin *p); /* FP_NO_PLUGIN for NULL */

void report_error(const host_plugin *p, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void report_warning(const host_plugin *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void host_log_fn(ss_plugin_owner_t *o, const char *component, const char *msg,
                 ss_plugin_log_severity sev);

/* ---- loader.c ---- */

bool load_library(host_plugin *p, char *err, size_t errlen);
void unload_library(host_plugin *p);
void report_meta(host_plugin *p);
bool init_state(host_plugin *p, uint64_t k, const char *config, char *err, size_t errlen);
void destroy_states(host_plugin *p);
bool apply_set_config(host_plugin *p);
const char *plugin_last_error(host_plugin *p, ss_plugin_t *st);
const char *host_get_owner_last_error(ss_plugin_owner_t *o);
void ow_error(host_owner *ow, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void install_stop_signals(void);
bool stop_signals_unchanged(void);
uint64_t *fetch_types(host_plugin *p, bool extract, uint32_t *n, uint16_t **list);

/* ---- cycle.c ---- */

bool run_cycle(uint64_t cycle);
int run_info(host_plugin *p);

/* ---- capture.c ---- */

void *capture_main(void *arg);
bool plugin_id_event_ok(const ss_plugin_event *e, uint32_t nparams, const char *what, char *err,
                        size_t errlen);

/* ---- extract.c ---- */

/* One field the host extracts: a field of one plugin with its argument, or one of the
 * host's own evt.* fields. Requests are numbered in plan order. */
typedef struct field_req {
    host_plugin *ex; /* NULL: an evt.* field */
    uint32_t evt_code;
    uint32_t field_id;
    const char *name; /* the field's name, for the plugin */
    char *canon;      /* name[arg] as written, for messages */
    uint32_t ftype;
    bool is_list;
    bool arg_present;
    uint64_t arg_index;
    char *arg_key;
} field_req;

/* One extracted value (a host-owned copy: the plugin's memory lasts until its next call). */
typedef struct {
    uint64_t u;  /* numbers; booleans as the raw ss_plugin_bool */
    size_t soff; /* strings: offset in xvalue.s */
    uint32_t slen;
    uint8_t iplen;
    uint8_t ip[16];
} xelem;

typedef struct xvalue {
    uint64_t gen; /* the event it was extracted for (see xctx.gen) */
    bool present; /* SUCCESS with at least one value */
    uint64_t n;
    xelem *e;
    uint64_t cap;
    sbuf s;
    bool off_given; /* the plugin filled its value_offsets arrays */
    uint32_t off_start, off_len;
} xvalue;

/* NULL for a value with no strings (a numeric field: soff is not set, UBSan flags p + soff) */
static inline const char *xv_str(const xvalue *v, const xelem *e)
{
    return v->s.p ? v->s.p + e->soff : NULL;
}
void xv_set_u64(xvalue *v, uint64_t u);
void xv_set_str(xvalue *v, const char *s, size_t n);
void xv_add_str(xvalue *v, const char *s, size_t n); /* one more value of a list */
void xv_set_ip(xvalue *v, const void *ip, uint8_t len);

struct xctx;
extern field_req *g_reqs;
extern size_t g_nreq;
extern uint32_t *g_emit;
extern size_t g_nemit;

bool x_read_request(plan_reader *r, uint8_t tag); /* P_REQUEST, P_EVTREQ, P_SYSREQ */
uint32_t req_ftype(size_t req);
bool req_is_list(size_t req);
void x_bind_all(void);
void x_release_all(void);
void x_new_event(struct xctx *xc, uint64_t ts);
uint64_t x_first_ts(const struct xctx *xc);
void x_skip_plugins(struct xctx *xc); /* no plugin field for the current event */
/* The value of request req for the current event, extracted on first use; NULL after a
 * fatal contract violation (reported). */
const xvalue *x_get(struct xctx *xc, size_t req, const ss_plugin_event_input *ein,
                    host_plugin *src);
bool x_extract_all(struct xctx *xc, const ss_plugin_event_input *ein, host_plugin *src);
const char *x_info(struct xctx *xc, const ss_plugin_event_input *ein, host_plugin *src);
void x_repeat(struct xctx *xc, const ss_plugin_event_input *ein, uint64_t k);
void x_keep(struct xctx *xc, const ss_plugin_event *e, uint64_t evtnum);
void x_flush(struct xctx *xc);
bool x_check(host_plugin *p);
bool x_encode(sbuf *b, struct xctx *xc, const ss_plugin_event_input *ein, host_plugin *src);

/* ---- filter.c ---- */

bool filter_read(plan_reader *r);
extern bool g_filtering; /* a filter was given */
/* -1: a fatal error was reported; 0/1: the event does not / does match */
int filter_eval(struct xctx *xc, const ss_plugin_event_input *ein, host_plugin *src);
void filter_free(void);
/* An evt.* field of an event into v (false: absent). */
bool evt_field(uint32_t code, struct xctx *xc, const ss_plugin_event_input *ein,
               host_plugin *src, xvalue *v);

/* ---- parse (capture.c) ---- */

typedef struct pbind {
    host_plugin *pl;
    ss_plugin_t *st;
    host_owner *ow;
    bool syscall_src;
    uint64_t calls, failures;
} pbind;

bool p_event(pbind *b, const ss_plugin_event_input *ein, const char *src_name);
void p_flush(host_plugin *p);

/* ---- tables_*.c ---- */

extern _Thread_local host_owner *tl_owner; /* the plugin state being called on this thread */
extern const ss_plugin_init_tables_input g_init_tables;
extern ss_plugin_table_reader_vtable_ext g_reader_ext;
extern ss_plugin_table_writer_vtable_ext g_writer_ext;
extern ss_plugin_table_reader_vtable g_reader_v0;
extern ss_plugin_table_writer_vtable g_writer_v0;
extern _Atomic uint64_t g_misuse_unowned;

bool tables_active(void);
void tables_setup(void);
void tables_add_fixture(const uint8_t *ops, size_t len);
bool tables_fixture(plan_reader *unused, char *err, size_t errlen);
void tables_teardown(void);
void tables_register_owner(host_owner *ow);
void tbl_end_call(host_owner *ow, const char *call);
bool dump_table(const char *name);

static inline void tbl_after_call(host_owner *ow, const char *call)
{
    if (ow && atomic_load_explicit(&ow->tbl_dirty, memory_order_relaxed))
        tbl_end_call(ow, call);
}

/* ---- stream.c ---- */

bool stream_open(host_plugin *p);
void stream_close(host_plugin *p);
ss_plugin_rc stream_next(host_plugin *p, uint32_t *n, ss_plugin_event ***evts,
                         const uint8_t **shown, const uint16_t **cpus);
const char *stream_error(host_plugin *p);

/* ---- sstate*.c: a capture replay's state engine ---- */

bool sstate_read_info(plan_reader *r);
bool sstate_read_section(plan_reader *r);
bool sstate_read_user(plan_reader *r, bool group);
bool sstate_read_extra(plan_reader *r);
extern bool g_sstate_on; /* the plan described event types: a capture is replayed */
void sstate_begin_cycle(void);
void sstate_end_cycle(void);
/* before stream event `index`: start the sections that begin there (false: reported in err) */
bool sstate_before(uint64_t index, char *err, size_t errlen);
uint64_t sstate_next_section(void);
bool sstate_event(const ss_plugin_event *e, uint16_t cpu); /* false: a parameter libsinsp
                                                              * cannot parse (it stops) */
void sstate_bad_param(const ss_plugin_event *e, uint64_t evn, char *err, size_t errlen);
bool sysf_read_sc_name(plan_reader *r);
/* A syscall field of the current event of a replayed capture (sysfields*.c); false: absent */
bool sysf_field(const field_req *r, const ss_plugin_event_input *ein, xvalue *v);

/* ---- async.c ---- */

void async_setup(void);
void async_teardown(void);
bool async_set_all(bool on, bool report);
bool async_drain(struct astream *as, uint64_t *evtnum);
bool async_drain_all(void);
bool async_wait(uint64_t ms, uint64_t until);
bool async_dump_all(void);
bool async_start_delivery(void);
void async_stop_delivery(void);
void async_set_stream_evtnum(struct astream *as, uint64_t evtnum);

/* ---- listen.c ---- */

bool listen_start(void);
bool listen_close_all(bool report);
void listen_shutdown(void);

#endif /* FP_HOST_H */
