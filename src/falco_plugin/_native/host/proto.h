/*
 * proto.h: the wire format between the SDK host's Python side and its C engine.
 *
 * This header is the one description of it: the engine includes it, and
 * falco_plugin.host.wire reads the names and numbers below from this file at import
 * (enum members, #define constants and the X-macro lists), so both sides always agree.
 *
 * Two channels, both binary, little-endian, built from the same primitives:
 *   u8, u32, u64 (signed values travel as their two's complement u64),
 *   str = u32 length + bytes (length FP_NULL_STR means NULL; no terminator on the wire).
 *
 * The plan (Python -> engine, on the fd given as argv[1]): two messages, each a u32 length
 * and that many bytes. The load message lists the libraries; the engine loads them, reports
 * R_META per plugin and R_READY, and then reads the run message (an empty message, or the
 * end of the pipe, means "stop"). Each message is a sequence of items: a u8 tag (P_*) and
 * the values that tag takes (written next to each tag below).
 *
 * The records (engine -> Python, on the fd given as argv[2]): each a u32 length, a u8 kind
 * (R_*) and the values listed next to the kind. The plugins' own stdout and stderr stay on
 * fds 1 and 2: they never mix with the records.
 */
#ifndef FP_HOST_PROTO_H
#define FP_HOST_PROTO_H

#define FP_PROTO_VERSION 1
#define FP_NULL_STR 4294967295
#define FP_NO_PLUGIN 4294967295
#define FP_HOST_API_MAJOR 3
#define FP_HOST_API_MINOR 12
#define FP_HOST_API_PATCH 0

/* The plugin_* symbols the engine looks up with dlsym, in this order: bit i of R_META's
 * symbol mask is set when plugin_<name i> exists. */
#define FP_SYMBOLS(X)                                                                          \
    X(get_required_api_version)                                                                \
    X(get_version)                                                                             \
    X(get_name)                                                                                \
    X(get_description)                                                                         \
    X(get_contact)                                                                             \
    X(init)                                                                                    \
    X(destroy)                                                                                 \
    X(get_last_error)                                                                          \
    X(get_init_schema)                                                                         \
    X(set_config)                                                                              \
    X(get_metrics)                                                                             \
    X(get_id)                                                                                  \
    X(get_event_source)                                                                        \
    X(open)                                                                                    \
    X(close)                                                                                   \
    X(next_batch)                                                                              \
    X(list_open_params)                                                                        \
    X(get_progress)                                                                            \
    X(event_to_string)                                                                         \
    X(get_fields)                                                                              \
    X(extract_fields)                                                                          \
    X(get_extract_event_sources)                                                               \
    X(get_extract_event_types)                                                                 \
    X(parse_event)                                                                             \
    X(get_parse_event_sources)                                                                 \
    X(get_parse_event_types)                                                                   \
    X(get_async_events)                                                                        \
    X(get_async_event_sources)                                                                 \
    X(set_async_event_handler)                                                                 \
    X(dump_state)                                                                              \
    X(capture_open)                                                                            \
    X(capture_close)

/* Capabilities, as Python decides them from the symbols (P_CAPS). */
enum fp_cap {
    CAP_SOURCE = 1,
    CAP_EXTRACT = 2,
    CAP_PARSE = 4,
    CAP_ASYNC = 8,
    CAP_LISTEN = 16,
};

/* Plan items. */
enum fp_plan_tag {
    P_END = 0,
    /* load message */
    P_LIBRARY = 1,  /* str path: the next plugin (its index is its position) */
    P_DEEPBIND = 2, /* (none): dlopen with RTLD_DEEPBIND too */
    P_STREAM = 3,   /* str path: the next "plugin" is a raw event stream, a file of events back
                     * to back that the host reads as the "syscall" source (a capture replay;
                     * no library, no R_META) */
    /* run message: what to do */
    P_MODE = 10,            /* u8: MODE_RUN or MODE_INFO */
    P_MAX_EVENTS = 11,      /* u64: per capture, 0 = no limit */
    P_QUIET = 12,           /* (none): no R_EVENT records */
    P_CYCLES = 13,          /* u64 */
    P_RELOAD = 14,          /* (none): dlclose and dlopen again between cycles */
    P_NO_E2S = 15,          /* (none): never call event_to_string */
    P_EXTRACT_THREADS = 16, /* u64 */
    P_EXTRACT_REPEAT = 17,  /* u64 */
    P_ASYNC_WAIT = 18,      /* u64 ms */
    P_ASYNC_UNTIL = 38,     /* u64: P_ASYNC_WAIT ends once the capture delivered this many
                             * async events (absent or 0: it lasts its ms) */
    P_ASYNC_RESET = 19,     /* (none) */
    P_DUMP_STATE = 20,      /* (none) */
    P_ROUTINE_THREADS = 21, /* u64 */
    P_THREAD_TID = 22,      /* u64 (an int64): the tid stamped on plugin events */
    P_HOSTNAME = 23,        /* str: what evt.hostname extracts */
    P_LARGE_TYPES = 24,     /* u32 n, then n u16 event types whose parameter lengths are u32 */
    P_DUMP_TABLE = 25,      /* str name; repeatable */
    P_FIXTURE = 26,         /* str: fixture ops (FX_*, ending with FX_DONE) that fill the
                             * `threads` table; repeatable, applied in order every cycle */
    /* run message: a capture replay (the stream's events rebuild libsinsp's state) */
    P_EVENT_INFO = 27, /* u32 type, u8 kind (SK_*), u8 arg, u8 reset (RS_*), u8 fd location
                        * (255: none), u32 EF_* flags, u32 EC_* category, u32 enter type,
                        * u32 other enter type (65535: none), str name, str param types (one
                        * byte each, PT_*), then one str per parameter: its name. libsinsp's
                        * facts about one event type */
    P_SECTION = 28,    /* u64 index of its first event, u64 boot time (epoch ns), str fixture
                        * ops: a section of the capture, whose process list replaces the
                        * threads table when its first event comes; the users and groups
                        * that follow belong to it */
    P_USER = 29,       /* u32 uid, u32 gid, str name, str home, str shell */
    P_GROUP = 30,      /* u32 gid, str name */
    P_SYSCALL_NAME = 31, /* u32 ppm_sc code, str name: what generic events are named by */
    P_THREAD_EXTRA = 32, /* u64 tid, then u64 each: clone_ts, cap_permitted, cap_effective,
                          * cap_inheritable, vmsize_kb, vmrss_kb, vmswap_kb, pfmajor, pfminor,
                          * exe_ino_ctime_duration_clone_ts, ..._pidns_start: what the process
                          * list says of a thread beyond the table's fields (current section) */
    P_PROGRESS_EVERY = 39,  /* u64 ms: while capturing, an R_TICK per capture at most this
                             * often (the first at its start); absent or 0: none */
    /* run message: one section per plugin, in load order */
    P_PLUGIN = 40,       /* u32 index: the following items are about this plugin */
    P_CAPS = 41,         /* u32 CAP_* bits */
    P_SOURCE = 42,       /* str: the source its events belong to ("syscall" without an id) */
    P_CONFIG = 43,       /* str: what init receives (validated, defaulted) */
    P_OPEN_PARAMS = 44,  /* str */
    P_SET_CONFIG = 45,   /* str: what set_config receives after init */
    P_NINIT = 46,        /* u64: states to init */
    P_REQ_MINOR = 47,    /* u32: minor of its required API version */
    P_FIELD = 48,        /* str name, u32 ftype, u8 is_list: its get_fields, in order */
    P_ASYNC_NAME = 49,   /* str: a name of get_async_events */
    P_ASYNC_STREAM = 50, /* u32: the capturing plugin its async events go to, FP_NO_PLUGIN:
                          * the host's own "syscall" stream */
    P_NAME = 51,         /* str: its name, for messages */
    P_ID = 52,           /* u32: its plugin id (0: none) */
    P_SHOWN = 53,        /* str: a stream's flag per event, 1 when libsinsp hands the event to
                          * its user, 0 when it only parses it (missing flags: 1) */
    P_CPUS = 54,         /* str: a stream's cpu per event, u16 each (missing: 0) */
    /* run message: routing (after every P_PLUGIN section) */
    P_SLOT = 60,   /* u32 plugin, u32 source plugin, u64 state, u8 extracts: the state serving
                    * that source's events (its parser or, when extracts, its extractor) */
    P_PARSER = 61, /* u32 source plugin, u32 parser plugin: in call order */
    /* run message: extraction */
    P_REQUEST = 70, /* str canonical text, u32 plugin, u32 field index, u8 arg_present,
                     * u64 arg_index, str arg_key: a plugin field to extract (requests are
                     * numbered in order, shared with P_EVTREQ) */
    P_EVTREQ = 71,  /* str canonical text, u32 EVF_* code, u32 field type: a field the host
                     * extracts itself */
    P_EMIT = 72,    /* u32 request: its values go into every R_EVENT, in this order */
    P_OFFSETS = 73, /* (none): pass value_offsets to plugins requiring API 3.11+ */
    P_FILTER = 74,  /* a filter node (see below) */
    P_SYSREQ = 75,  /* str canonical text, u32 SF_* code, u32 field type (PT_*), u8 is_list,
                     * u64 arg index (an int64, -1: none), str arg key: a syscall field of a
                     * replayed capture (sysfields*.c) */
};

enum fp_mode { MODE_RUN = 0, MODE_INFO = 1 };

/* The --threads-fixture and the default threads, as a stack machine over the host's tables.
 * FX_ENTRY starts an entry in the current table; FX_INT / FX_STR / FX_BOOL set a field of
 * it (FX_BAD: a JSON value of no usable kind); FX_TABLE enters the nested table of a field,
 * FX_POP leaves it; FX_END puts the entry in its table (the key is its key field, else its
 * position); FX_VALUE is a whole entry of a table with a single string field (like args);
 * FX_NOT_OBJECT an entry that is neither. The engine checks names, types and ranges. */
enum fp_fixture_op {
    FX_DONE = 0,
    FX_ENTRY = 1, /* str label (messages about the entry start with it) */
    FX_INT = 2,   /* str field, u8 negative, u64 magnitude */
    FX_STR = 3,   /* str field, str value */
    FX_BOOL = 4,  /* str field, u8 value */
    FX_TABLE = 5, /* str field */
    FX_POP = 6,
    FX_END = 7,
    FX_VALUE = 8, /* str label, str value */
    FX_BAD = 9,   /* str field */
    FX_NOT_OBJECT = 10,
};

/* The state parsers of a capture replay, one per kind of event libsinsp parses
 * (sinsp_parser::process_event); the arg byte of P_EVENT_INFO selects a variant. */
enum fp_state_kind {
    SK_NONE = 0,
    SK_STORE = 1,       /* an enter event kept for its exit event (arg 1: only when param 0
                         * is present) */
    SK_CLONE = 2,       /* clone, fork, vfork, clone3 exit */
    SK_EXECVE = 3,      /* execve, execveat exit */
    SK_PROCEXIT = 4,
    SK_SETUID = 5,      /* arg: the parameter holding the (effective) uid */
    SK_SETGID = 6,      /* arg: the parameter holding the (effective) gid */
    SK_RLIMIT = 7,      /* getrlimit, setrlimit */
    SK_PRLIMIT = 8,
    SK_CHDIR = 9,
    SK_FCHDIR = 10,
    SK_GETCWD = 11,
    SK_CHROOT = 12,
    SK_SETSID = 13,
    SK_USER_EVT = 14,   /* arg 1: added, 0: deleted */
    SK_GROUP_EVT = 15,  /* arg 1: added, 0: deleted */
    SK_CAPSET = 16,
    SK_UNSHARE = 17,    /* arg: the parameter holding the flags */
    SK_PRCTL = 18,
    SK_VM = 19,         /* brk, mmap, mmap2, munmap */
    SK_SCHEDSWITCH = 20,
    SK_OPEN = 21,       /* arg: 0 open, 1 creat, 2 openat, 3 openat2, 4 open_by_handle_at */
    SK_SOCKET = 22,
    SK_BIND = 23,
    SK_CONNECT = 24,
    SK_ACCEPT = 25,     /* arg 1: accept4 (has flags) */
    SK_CLOSE = 26,
    SK_CLOSE_RANGE = 27,
    SK_DUP = 28,        /* arg 1: dup3 (has flags) */
    SK_PIPE = 29,       /* arg 1: pipe2 (has flags) */
    SK_SOCKETPAIR = 30,
    SK_EVENTFD = 31,    /* arg 1: eventfd2 (has flags) */
    SK_SINGLE_FD = 32,  /* arg: the fd type; the flags parameter is found by event name */
    SK_MEMFD = 33,
    SK_FCNTL = 34,
    SK_READ = 35,       /* arg: the parameter of the tuple (0: none), 128 + n: recvmmsg */
    SK_WRITE = 36,      /* arg: 1 send/sendto/sendmsg, 2 sendmmsg, 0 others */
    SK_PIDFD_OPEN = 37,
    SK_PIDFD_GETFD = 38,
};

/* How libsinsp finds the thread of an event before parsing it (sinsp_parser::reset). */
enum fp_state_reset {
    RS_THREAD = 0, /* the event's tid, a fake "<NA>" thread added when unknown */
    RS_FIND = 1,   /* the event's tid, never added (clone/fork exits, procexit) */
    RS_NONE = 2,   /* no thread (meta events: users, groups, containers, plugin, async) */
    RS_SKIP = 3,   /* EF_SKIPPARSERESET: no thread, no parsing (procinfo: its thread) */
    RS_SCHED = 4,  /* scheduler switches: the thread if known, nothing else */
};

/* libsinsp's event flags and categories (ppm_event_flags, ppm_event_category): P_EVENT_INFO
 * carries them as these bits; a category is one of the values below 64 plus flag bits. */
enum fp_event_flag {
    EF_CREATES_FD = 1,
    EF_DESTROYS_FD = 2,
    EF_USES_FD = 4,
    EF_READS_FROM_FD = 8,
    EF_WRITES_TO_FD = 16,
    EF_MODIFIES_STATE = 32,
    EF_UNUSED = 64,
    EF_WAITS = 128,
    EF_SKIPPARSERESET = 256,
    EF_OLD_VERSION = 512,
    EF_LARGE_PAYLOAD = 2048,
    EF_CONVERTER_MANAGED = 4096,
};
enum fp_event_category {
    EC_UNKNOWN = 0,
    EC_OTHER = 1,
    EC_FILE = 2,
    EC_NET = 3,
    EC_IPC = 4,
    EC_MEMORY = 5,
    EC_PROCESS = 6,
    EC_SLEEP = 7,
    EC_SYSTEM = 8,
    EC_SIGNAL = 9,
    EC_USER = 10,
    EC_TIME = 11,
    EC_PROCESSING = 12,
    EC_IO_READ = 32,
    EC_IO_WRITE = 33,
    EC_IO_OTHER = 34,
    EC_WAIT = 64,
    EC_SCHEDULER = 128,
    EC_INTERNAL = 256,
    EC_SYSCALL = 512,
    EC_TRACEPOINT = 1024,
    EC_PLUGIN = 2048,
    EC_METAEVENT = 4096,
    EC_ITER = 8192,
};

/* A filter is a tree in prefix order: F_AND / F_OR with a u32 child count then the children,
 * F_NOT then its child, F_CHECK with
 *   u32 request, u8 op (OP_*), u8 modifier (0 or MOD_*), u8 rhs kind (RHS_*), then
 *   RHS_NONE: nothing; RHS_FIELD: u32 request; RHS_VALUES: u32 n then n values,
 *   each encoded for the left field's type (VALUE ENCODING below). */
enum fp_filter_node { F_AND = 1, F_OR = 2, F_NOT = 3, F_CHECK = 4 };
enum fp_filter_rhs { RHS_NONE = 0, RHS_VALUES = 1, RHS_FIELD = 2 };
enum fp_filter_mod { MOD_ONEOF = 1, MOD_ANYOF = 2, MOD_ALLOF = 3 };
enum fp_filter_op {
    OP_EQ = 1,
    OP_NE = 2,
    OP_LT = 3,
    OP_LE = 4,
    OP_GT = 5,
    OP_GE = 6,
    OP_CONTAINS = 7,
    OP_ICONTAINS = 8,
    OP_BCONTAINS = 9,
    OP_STARTSWITH = 10,
    OP_BSTARTSWITH = 11,
    OP_ENDSWITH = 12,
    OP_GLOB = 13,
    OP_IGLOB = 14,
    OP_PMATCH = 15,
    OP_IN = 16,
    OP_INTERSECTS = 17,
    OP_EXISTS = 18,
    OP_REGEX = 19, /* the whole string matches a POSIX extended regular expression */
};

/* VALUE ENCODING, by field type (the plugin API's ss_plugin_field_type numbers):
 *   uint64, reltime, abstime, bool: u64;  string: str;
 *   ipaddr, and ipnet values extracted: u8 len (4 or 16) + len bytes;
 *   ipnet values in a filter: the same, then u8 prefix bits.
 * The same encoding carries extracted values in R_EVENT and R_TABLE. */

/* The fields of every event that the host itself extracts (libsinsp's generic evt.*
 * fields, as Falco offers them to plugin sources). */
enum fp_evt_field {
    EVF_NUM = 1,           /* uint64 */
    EVF_TIME = 2,          /* string */
    EVF_TIME_S = 3,        /* string */
    EVF_TIME_ISO8601 = 4,  /* string */
    EVF_DATETIME = 5,      /* string */
    EVF_DATETIME_S = 6,    /* string */
    EVF_RAWTIME = 7,       /* abstime */
    EVF_RAWTIME_S = 8,     /* abstime */
    EVF_RAWTIME_NS = 9,    /* abstime */
    EVF_RELTIME = 10,      /* reltime */
    EVF_RELTIME_S = 11,    /* reltime */
    EVF_RELTIME_NS = 12,   /* reltime */
    EVF_PLUGINNAME = 13,   /* string */
    EVF_PLUGININFO = 14,   /* string */
    EVF_SOURCE = 15,       /* string */
    EVF_IS_ASYNC = 16,     /* bool */
    EVF_ASYNCTYPE = 17,    /* string */
    EVF_HOSTNAME = 18,     /* string */
};

/* The syscall fields of a replayed capture (falco_plugin.host.sysfields lists them; one
 * code each, in that order). */
enum fp_sys_field {
    SF_PROC_EXE = 100,
    SF_PROC_PEXE = 101,
    SF_PROC_AEXE = 102,
    SF_PROC_EXEPATH = 103,
    SF_PROC_PEXEPATH = 104,
    SF_PROC_AEXEPATH = 105,
    SF_PROC_NAME = 106,
    SF_PROC_PNAME = 107,
    SF_PROC_ANAME = 108,
    SF_PROC_ARGS = 109,
    SF_PROC_AARGS = 110,
    SF_PROC_CMDLINE = 111,
    SF_PROC_PCMDLINE = 112,
    SF_PROC_ACMDLINE = 113,
    SF_PROC_CMDNARGS = 114,
    SF_PROC_CMDLENARGS = 115,
    SF_PROC_EXELINE = 116,
    SF_PROC_ENV = 117,
    SF_PROC_AENV = 118,
    SF_PROC_CWD = 119,
    SF_PROC_LOGINSHELLID = 120,
    SF_PROC_TTY = 121,
    SF_PROC_PID = 122,
    SF_PROC_PPID = 123,
    SF_PROC_APID = 124,
    SF_PROC_VPID = 125,
    SF_PROC_PVPID = 126,
    SF_PROC_SID = 127,
    SF_PROC_SNAME = 128,
    SF_PROC_SID_EXE = 129,
    SF_PROC_SID_EXEPATH = 130,
    SF_PROC_VPGID = 131,
    SF_PROC_VPGID_NAME = 132,
    SF_PROC_VPGID_EXE = 133,
    SF_PROC_VPGID_EXEPATH = 134,
    SF_PROC_PGID = 135,
    SF_PROC_PGID_NAME = 136,
    SF_PROC_PGID_EXE = 137,
    SF_PROC_PGID_EXEPATH = 138,
    SF_PROC_DURATION = 139,
    SF_PROC_PPID_DURATION = 140,
    SF_PROC_PID_TS = 141,
    SF_PROC_PPID_TS = 142,
    SF_PROC_IS_EXE_WRITABLE = 143,
    SF_PROC_IS_EXE_UPPER_LAYER = 144,
    SF_PROC_IS_EXE_LOWER_LAYER = 145,
    SF_PROC_IS_EXE_FROM_MEMFD = 146,
    SF_PROC_IS_SID_LEADER = 147,
    SF_PROC_IS_VPGID_LEADER = 148,
    SF_PROC_IS_PGID_LEADER = 149,
    SF_PROC_EXE_INO = 150,
    SF_PROC_EXE_INO_CTIME = 151,
    SF_PROC_EXE_INO_MTIME = 152,
    SF_PROC_EXE_INO_DUR_CLONE = 153,
    SF_PROC_EXE_INO_DUR_PIDNS = 154,
    SF_PROC_PIDNS_INIT_START_TS = 155,
    SF_PROC_FDOPENCOUNT = 156,
    SF_PROC_FDLIMIT = 157,
    SF_PROC_VMSIZE = 158,
    SF_PROC_VMRSS = 159,
    SF_PROC_VMSWAP = 160,
    SF_PROC_NTHREADS = 161,
    SF_PROC_NCHILDS = 162,
    SF_PROC_STDIN_TYPE = 163,
    SF_PROC_STDOUT_TYPE = 164,
    SF_PROC_STDERR_TYPE = 165,
    SF_PROC_STDIN_NAME = 166,
    SF_PROC_STDOUT_NAME = 167,
    SF_PROC_STDERR_NAME = 168,
    SF_THREAD_PFMAJOR = 169,
    SF_THREAD_PFMINOR = 170,
    SF_THREAD_TID = 171,
    SF_THREAD_ISMAIN = 172,
    SF_THREAD_VTID = 173,
    SF_THREAD_CGROUPS = 174,
    SF_THREAD_CGROUP = 175,
    SF_THREAD_VMSIZE = 176,
    SF_THREAD_VMRSS = 177,
    SF_USER_UID = 178,
    SF_USER_NAME = 179,
    SF_USER_HOMEDIR = 180,
    SF_USER_SHELL = 181,
    SF_USER_LOGINUID = 182,
    SF_USER_LOGINNAME = 183,
    SF_GROUP_GID = 184,
    SF_GROUP_NAME = 185,
    SF_FD_NUM = 186,
    SF_FD_TYPE = 187,
    SF_FD_TYPECHAR = 188,
    SF_FD_NAME = 189,
    SF_FD_DIRECTORY = 190,
    SF_FD_FILENAME = 191,
    SF_FD_CIP = 192,
    SF_FD_SIP = 193,
    SF_FD_CPORT = 194,
    SF_FD_SPORT = 195,
    SF_FD_CPROTO = 196,
    SF_FD_SPROTO = 197,
    SF_FD_L4PROTO = 198,
    SF_FD_SOCKFAMILY = 199,
    SF_FD_UID = 200,
    SF_FD_CONNECTED = 201,
    SF_FD_NAME_CHANGED = 202,
    SF_FD_DEV = 203,
    SF_FD_DEV_MAJOR = 204,
    SF_FD_DEV_MINOR = 205,
    SF_FD_INO = 206,
    SF_FD_NAMERAW = 207,
    SF_FD_TYPES = 208,
    SF_FD_IS_UPPER_LAYER = 209,
    SF_FD_IS_LOWER_LAYER = 210,
    SF_EVT_TYPE = 211,
    SF_SYSCALL_TYPE = 212,
    SF_EVT_DIR = 213,
    SF_EVT_CATEGORY = 214,
    SF_EVT_CPU = 215,
    SF_EVT_RAWRES = 216,
    SF_EVT_FAILED = 217,
    SF_EVT_IS_IO = 218,
    SF_EVT_IS_IO_READ = 219,
    SF_EVT_IS_IO_WRITE = 220,
    SF_EVT_IO_DIR = 221,
    SF_EVT_IS_WAIT = 222,
    SF_EVT_IS_SYSLOG = 223,
    SF_EVT_COUNT = 224,
    SF_EVT_COUNT_ERROR = 225,
    SF_EVT_COUNT_EXIT = 226,
    SF_EVT_IS_OPEN_READ = 227,
    SF_EVT_IS_OPEN_WRITE = 228,
    SF_EVT_IS_OPEN_EXEC = 229,
    SF_EVT_IS_OPEN_CREATE = 230,
    SF_EVT_RAWARG = 231,
};

/* Records. */
enum fp_record_kind {
    /* u32 plugin, u64 symbol mask, then str each: required_api_version, version, name,
     * description, contact, event_source, fields, extract_event_sources,
     * parse_event_sources, async_events, async_event_sources, init_schema; then u8 has_id,
     * u32 id, u32 schema_type (a NULL str: the getter is missing or returned NULL) */
    R_META = 1,
    R_LOAD_ERROR = 2, /* u32 plugin, str message: dlopen failed */
    R_READY = 3,      /* (none): every library is loaded, send the run message */
    R_ERROR = 4,      /* u32 plugin (FP_NO_PLUGIN: the host), str stage, str message */
    R_WARNING = 5,    /* u32 plugin (FP_NO_PLUGIN: the host), str message */
    R_LOG = 6,        /* u32 plugin, str component, u32 severity, str message */
    /* u32 plugin (the capturing one), u64 evtnum, str raw event, str info (event_to_string),
     * then per P_EMIT request: u8 present, u8 has_offset, u32 start, u32 length, u32 n and
     * n values (VALUE ENCODING) */
    R_EVENT = 7,
    /* u32 stream plugin (FP_NO_PLUGIN: the host's), u32 emitting plugin, u8 dump,
     * u64 evtnum, str raw event (its plugin id filled in) */
    R_ASYNC = 8,
    R_PROGRESS = 9, /* u32 plugin, u32 pct, str text */
    /* u32 plugin, u32 n, then per metric: str name, u32 type, u32 value_type, u64 raw bits
     * (the value's union as written by the plugin, zero-extended) */
    R_METRICS = 10,
    /* u32 plugin, u64 cycle, then u64 each: inits, events, timeouts, eof, capture_ns,
     * init_ns, rss_kb (a signed value), extract_failures, filtered_out, extract_calls,
     * extract_ns, parse_calls, parse_failures, entry_leaks, async_events, async_refused,
     * dump_events, routine_calls */
    R_SUMMARY = 11,
    R_EXTRACT_CHECK = 12, /* u32 plugin, u64 threads, u64 events, u64 calls, u64 mismatches */
    /* str name, u32 owner plugin (FP_NO_PLUGIN: the host), u32 key_type, u64 size, u32 nfields,
     * per field: str name, u32 type, u8 read_only; u64 nentries, per entry: u8 has_key,
     * u64 key, then per field: u8 present and the value (integers and bools u64, string str,
     * table: its size u64) */
    R_TABLE = 13,
    /* u32 plugin, str init_error, u8 open_params_given, str open_params (JSON, as returned),
     * then twice (extract, parse): u8 given, u32 n, n u16 types */
    R_INFO = 14,
    /* u32 plugin (the capturing one), u64 events so far (as R_SUMMARY counts them), u8
     * has_progress (it has get_progress), u32 pct, str text: a capture under way
     * (P_PROGRESS_EVERY) */
    R_TICK = 20,
};

#endif /* FP_HOST_PROTO_H */
