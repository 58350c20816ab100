/*
 * loader.c: a plugin's library and states as libsinsp handles them: dlopen with
 * RTLD_LOCAL|RTLD_NOW, every plugin_* symbol looked up with dlsym, the static getters
 * reported raw (R_META) for Python to check, init/destroy/set_config, the owner's last
 * error, the event types asked for after init, and the stop signals the host installs
 * before the first init (plugins must leave them alone).
 */
#include "host.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef const char *(*get_str_fn)(void);

static const char *const k_symbol_names[] = {
#define FP_SYM_NAME(name) "plugin_" #name,
    FP_SYMBOLS(FP_SYM_NAME)
#undef FP_SYM_NAME
};

#define NSYMBOLS (sizeof k_symbol_names / sizeof k_symbol_names[0])

_Static_assert(sizeof(plugin_syms) == NSYMBOLS * sizeof(void *), "plugin_syms");
_Static_assert(NSYMBOLS <= 64, "the symbol mask is a u64");

bool load_library(host_plugin *p, char *err, size_t errlen)
{
    int flags = RTLD_LOCAL | RTLD_NOW | (g_opt.deepbind ? RTLD_DEEPBIND : 0);
    void **slot = (void **)&p->api;
    size_t i;
    dlerror();
    p->handle = dlopen(p->path, flags);
    if (!p->handle) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s", e ? e : "unknown dlopen error");
        return false;
    }
    for (i = 0; i < NSYMBOLS; i++)
        slot[i] = dlsym(p->handle, k_symbol_names[i]);
    return true;
}

void unload_library(host_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    p->handle = NULL;
    memset(&p->api, 0, sizeof p->api);
}

static const char *call_str(void *fn)
{
    return fn ? ((get_str_fn)fn)() : NULL;
}

/* What the library says about itself before init, as it says it. */
void report_meta(host_plugin *p)
{
    void **slot = (void **)&p->api;
    uint64_t mask = 0;
    ss_plugin_schema_type st = SS_PLUGIN_SCHEMA_NONE;
    const char *schema = NULL;
    sbuf b = {0};
    size_t i;
    for (i = 0; i < NSYMBOLS; i++)
        if (slot[i])
            mask |= 1ull << i;
    rec_begin(&b, R_META);
    rec_u32(&b, p->index);
    rec_u64(&b, mask);
    rec_str(&b, call_str(p->api.get_required_api_version));
    rec_str(&b, call_str(p->api.get_version));
    rec_str(&b, call_str(p->api.get_name));
    rec_str(&b, call_str(p->api.get_description));
    rec_str(&b, call_str(p->api.get_contact));
    rec_str(&b, call_str(p->api.get_event_source));
    rec_str(&b, call_str(p->api.get_fields));
    rec_str(&b, call_str(p->api.get_extract_event_sources));
    rec_str(&b, call_str(p->api.get_parse_event_sources));
    rec_str(&b, call_str(p->api.get_async_events));
    rec_str(&b, call_str(p->api.get_async_event_sources));
    if (p->api.get_init_schema)
        schema = ((fp_get_init_schema_fn)p->api.get_init_schema)(&st);
    rec_str(&b, schema);
    rec_u8(&b, p->api.get_id != NULL);
    rec_u32(&b, p->api.get_id ? ((fp_get_id_fn)p->api.get_id)() : 0);
    rec_u32(&b, (uint32_t)st);
    rec_send(&b);
    sb_free(&b);
}

const char *host_get_owner_last_error(ss_plugin_owner_t *o)
{
    host_owner *ow = o;
    if (!ow || ow->magic != OWNER_MAGIC || !ow->last_error[0])
        return NULL;
    return ow->last_error;
}

void ow_error(host_owner *ow, const char *fmt, ...)
{
    va_list ap;
    if (!ow || ow->magic != OWNER_MAGIC)
        return;
    va_start(ap, fmt);
    vsnprintf(ow->last_error, sizeof ow->last_error, fmt, ap);
    va_end(ap);
}

const char *plugin_last_error(host_plugin *p, ss_plugin_t *st)
{
    const char *e;
    if (!st)
        return "(the plugin returned no state, so no error message is available)";
    e = ((fp_get_last_error_fn)p->api.get_last_error)(st);
    return (e && e[0]) ? e : "(the plugin's get_last_error returned no message)";
}

/* ---- stop signals: SIGINT and SIGTERM end the captures, like in Falco ---- */

volatile int g_stop_signal = 0;
static bool g_signals_installed;

static void on_stop(int sig) { g_stop_signal = sig; }

void install_stop_signals(void)
{
    struct sigaction sa;
    if (g_signals_installed)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART; /* what signal() gives: plugins' blocking calls are restarted */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    g_signals_installed = true;
}

static bool handler_is_ours(int sig)
{
    struct sigaction cur;
    return sigaction(sig, NULL, &cur) == 0 && cur.sa_handler == on_stop;
}

bool stop_signals_unchanged(void) { return handler_is_ours(SIGINT) && handler_is_ours(SIGTERM); }

/* ---- states ---- */

/* Inits state slot k; the state is kept (for destroy) even when init fails. */
bool init_state(host_plugin *p, uint64_t k, const char *config, char *err, size_t errlen)
{
    ss_plugin_init_input in;
    ss_plugin_rc rc = SS_PLUGIN_FAILURE;
    ss_plugin_t *st;
    host_owner *ow = &p->owners[k];

    memset(ow, 0, sizeof *ow);
    ow->magic = OWNER_MAGIC;
    ow->plugin = p;
    ow->index = k;
    memset(&in, 0, sizeof in);
    in.config = config;
    in.owner = ow;
    in.get_owner_last_error = host_get_owner_last_error;
    /* like libsinsp: the tables only for plugins that parse or extract */
    in.tables = (p->caps & (CAP_PARSE | CAP_EXTRACT)) && tables_active() ? &g_init_tables : NULL;
    if (in.tables)
        tables_register_owner(ow);
    in.log_fn = host_log_fn;

    tl_owner = ow;
    st = ((fp_init_fn)p->api.init)(&in, &rc);
    tl_owner = NULL;
    p->states[k] = st;
    if (k + 1 > p->nstates)
        p->nstates = k + 1;
    tbl_after_call(ow, "init");
    if (rc != SS_PLUGIN_SUCCESS) {
        snprintf(err, errlen, "could not initialize plugin (rc=%d): %s", (int)rc,
                 plugin_last_error(p, st));
        return false;
    }
    if (atomic_load(&p->table_misuse)) {
        snprintf(err, errlen, "the plugin misused the table API during init (see above)");
        return false;
    }
    if (!handler_is_ours(SIGINT) || !handler_is_ours(SIGTERM)) {
        snprintf(err, errlen, "plugin init changed the %s handler",
                 handler_is_ours(SIGINT) ? "SIGTERM" : "SIGINT");
        return false;
    }
    return true;
}

void destroy_states(host_plugin *p)
{
    uint64_t k = p->nstates;
    while (k-- > 0) {
        if (p->states[k])
            ((fp_destroy_fn)p->api.destroy)(p->states[k]);
        p->states[k] = NULL;
    }
    p->nstates = 0;
}

bool apply_set_config(host_plugin *p)
{
    ss_plugin_set_config_input in;
    uint64_t k;
    if (!p->set_config)
        return true;
    if (!p->api.set_config) {
        report_error(p, "set_config",
                     "--set-config given but the plugin does not export plugin_set_config");
        return false;
    }
    in.config = p->set_config;
    for (k = 0; k < p->nstates; k++) {
        ss_plugin_rc rc = ((fp_set_config_fn)p->api.set_config)(p->states[k], &in);
        if (rc != SS_PLUGIN_SUCCESS) {
            report_error(p, "set_config", "set_config failed (rc=%d): %s", (int)rc,
                         plugin_last_error(p, p->states[k]));
            return false;
        }
    }
    return true;
}

/* get_extract_event_types / get_parse_event_types after init, like libsinsp: NULL or an
 * empty list means the default. Returns a 65536-bit map (NULL: the default); *list and *n
 * are the plugin's own list (valid until its next call). */
uint64_t *fetch_types(host_plugin *p, bool extract, uint32_t *n, uint16_t **list)
{
    void *fn = extract ? p->api.get_extract_event_types : p->api.get_parse_event_types;
    unsigned cap = extract ? CAP_EXTRACT : CAP_PARSE;
    uint64_t *bm;
    uint16_t *t;
    uint32_t i;
    *n = 0;
    *list = NULL;
    if (!(p->caps & cap) || !fn || !p->nstates || !p->states[0])
        return NULL;
    t = ((fp_get_extract_event_types_fn)fn)(n, p->states[0]);
    if (!t || !*n) {
        *n = 0;
        return NULL;
    }
    if (*n > 65536)
        *n = 65536; /* more than exist: a broken list, every type is in it anyway */
    *list = t;
    bm = xcalloc(65536 / 64, sizeof *bm);
    for (i = 0; i < *n; i++)
        bm[t[i] >> 6] |= 1ull << (t[i] & 63);
    return bm;
}
