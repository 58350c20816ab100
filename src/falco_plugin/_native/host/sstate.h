/*
 * sstate.h: what the files of the capture replay's state engine share: libsinsp's view of
 * processes and file descriptors, rebuilt from a capture's process list and events.
 *
 *   sstate.c         per event: the thread and fd of the event (libsinsp's reset), stored enter
 *                    events, delayed removals, sections; thread helpers (main thread, group,
 *                    reaper); dispatch to the parsers
 *   sstate_proc.c    process parsers: clone/fork/vfork/clone3, execve/execveat, procexit,
 *                    credentials, limits, cwd/root, session, users and groups
 *   sstate_fd.c      fd parsers: open*, socket, bind, connect, accept, close, dup, pipe,
 *                    fcntl, read/write tuples, the fd kinds created by a single-fd syscall
 *   sysfields*.c     the proc.*, thread.*, fd.*, user.*, group.* and syscall evt.* fields
 *
 * The state lives in the host's own `threads` table (tables_store.c), the table plugins read
 * through the tables API: each thread and fd is an hentry with libsinsp's static fields at
 * fixed indices (TF_* and FF_* below); what libsinsp keeps beside the table (clone time,
 * stored enter event, socket union...) hangs off the entry's `ext`.
 */
#ifndef FP_HOST_SSTATE_H
#define FP_HOST_SSTATE_H

#include "tables.h"

/* libsinsp's static thread fields, in the order tables_store.c declares them. */
enum {
    TF_TID, TF_PID, TF_PTID, TF_REAPER_TID, TF_SID, TF_COMM, TF_EXE, TF_EXE_PATH,
    TF_EXE_WRITABLE, TF_EXE_UPPER, TF_EXE_LOWER, TF_EXE_MEMFD, TF_ARGS, TF_ENV, TF_CGROUPS,
    TF_FLAGS, TF_FD_LIMIT, TF_UID, TF_GID, TF_LOGINUID, TF_EXE_INO, TF_EXE_INO_CTIME,
    TF_EXE_INO_MTIME, TF_VTID, TF_VPID, TF_VPGID, TF_PGID, TF_PIDNS_START, TF_ROOT, TF_TTY,
    TF_FDS, TF_CWD, TF_COUNT
};

/* libsinsp's static fd fields, in the order tables_store.c declares them. */
enum {
    FF_TYPE, FF_OPEN_FLAGS, FF_NAME, FF_NAME_RAW, FF_OLD_NAME, FF_FLAGS, FF_DEV, FF_MOUNT_ID,
    FF_INO, FF_PID, FF_FD, FF_SOCK_FIRST, FF_COUNT = FF_SOCK_FIRST + 21
};

/* scap fd types (scap_fd_type) */
enum {
    FD_UNINITIALIZED = -1, FD_UNKNOWN = 0, FD_FILE = 1, FD_DIRECTORY = 2, FD_IPV4_SOCK = 3,
    FD_IPV6_SOCK = 4, FD_IPV4_SERVSOCK = 5, FD_IPV6_SERVSOCK = 6, FD_FIFO = 7, FD_UNIX_SOCK = 8,
    FD_EVENT = 9, FD_UNSUPPORTED = 10, FD_SIGNALFD = 11, FD_EVENTPOLL = 12, FD_INOTIFY = 13,
    FD_TIMERFD = 14, FD_NETLINK = 15, FD_FILE_V2 = 16, FD_BPF = 17, FD_USERFAULTFD = 18,
    FD_IOURING = 19, FD_MEMFD = 20, FD_PIDFD = 21
};

enum { L4_UNKNOWN = 0, L4_TCP = 2, L4_UDP = 3, L4_ICMP = 4, L4_RAW = 5, L4_NA = 255 };

/* thread flags (PPM_CL_*) */
#define CL_CLONE_FILES (1u << 0)
#define CL_CLONE_NEWPID (1u << 6)
#define CL_CLONE_PARENT (1u << 8)
#define CL_CLONE_THREAD (1u << 13)
#define CL_CLONE_INVERTED (1u << 16)
#define CL_NAME_CHANGED (1u << 17)
#define CL_CLOSED (1u << 18)
#define CL_ACTIVE (1u << 19)
#define CL_CLONE_NEWUSER (1u << 20)
#define CL_PIPE_SRC (1u << 21)
#define CL_PIPE_DST (1u << 22)
#define CL_CLONE_VFORK (1u << 27)
#define CL_CHILD_IN_PIDNS (1u << 29)
#define CL_IS_MAIN_THREAD (1u << 30)

/* fd flags (sinsp_fdinfo::flags) */
#define FDF_FROM_PROC (1u << 0)
#define FDF_ROLE_CLIENT (1u << 2)
#define FDF_ROLE_SERVER (1u << 3)
#define FDF_CONNECTED (1u << 13)
#define FDF_CLONED (1u << 14)
#define FDF_PENDING (1u << 15)
#define FDF_FAILED (1u << 16)
#define FDF_OVERLAY_UPPER (1u << 17)
#define FDF_OVERLAY_LOWER (1u << 18)

/* open flags (PPM_O_*) */
#define PO_DIRECTORY (1u << 10)
#define PO_CLOEXEC (1u << 12)
#define PO_F_CREATED (1u << 14)
#define PO_FD_UPPER_LAYER (1u << 15)
#define PO_FD_LOWER_LAYER (1u << 16)
#define PO_EPOLL_CLOEXEC (1u << 0)
#define PO_MFD_CLOEXEC (1u << 0)

/* The socket union of libsinsp's fdinfo (byte offsets of its members). */
#define SOCK_LEN 40
enum {
    SK4_SIP = 0, SK4_DIP = 4, SK4_SPORT = 8, SK4_DPORT = 10, SK4_PROTO = 12,
    SK6_SIP = 0, SK6_DIP = 16, SK6_SPORT = 32, SK6_DPORT = 34, SK6_PROTO = 36,
    SKS4_IP = 0, SKS4_PORT = 4, SKS4_PROTO = 6,
    SKS6_IP = 0, SKS6_PORT = 16, SKS6_PROTO = 18,
    SKU_SRC = 0, SKU_DST = 8
};

/* What libsinsp keeps for a thread beside the table (threadinfo.h). */
typedef struct sthread {
    uint64_t clone_ts, lastexec_ts;
    int32_t lastevent_type; /* -1: none */
    int64_t lastevent_fd;
    uint8_t *lastevent;     /* the stored enter event */
    uint16_t lastevent_cpu; /* UINT16_MAX: the stored event is not valid */
    uint64_t cap_permitted, cap_effective, cap_inheritable;
    uint32_t vmsize_kb, vmrss_kb, vmswap_kb;
    uint64_t pfmajor, pfminor;
    uint64_t exe_ino_ctime_dur_clone, exe_ino_ctime_dur_pidns;
    uint64_t children_listed, children_alive; /* m_children (expired ones included) */
    bool in_group;  /* libsinsp gave it a thread group (create_thread_dependencies) */
    int64_t gpid;   /* that group's pid (m_tginfo: its pid may change later, not its group) */
    bool reaper;    /* its group is a reaper (init, or prctl'd child subreaper) */
    uint64_t lastevent_ts, prevevent_ts;
    char *cmdline; /* m_cmd_line: comm and args when the args were set, NULL: none */
} sthread;

/* What libsinsp keeps for an fd beside the table: the socket union. */
typedef struct sfd {
    uint8_t sock[SOCK_LEN];
} sfd;

/* The event being processed: what libsinsp's sinsp_evt holds after parsing. */
typedef struct sevent {
    const ss_plugin_event *e;
    uint16_t cpu;
    hentry *tinfo;  /* a reference while the event is current */
    hentry *fdinfo; /* a reference while the event is current */
    int32_t errorcode;
    bool fd_name_changed;
} sevent;

/* Per event type, from the plan (P_EVENT_INFO). */
typedef struct evinfo {
    uint8_t kind, arg, reset, fdloc;
    uint32_t flags, category;
    uint16_t enter, alt_enter; /* exit events: the enter types it pairs with */
    uint8_t nparams;
    uint8_t *ptypes;
    char **pnames;
    char *name;
} evinfo;

#define EVINFO_MAX 1024

extern evinfo g_evinfo[];
extern sevent g_sev;
extern bool g_sstate_on;
extern uint64_t g_boot_ts;

/* entry accessors (static fields exist from creation) */
static inline uint64_t tu(const hentry *t, int f) { return t->v[f].u; }
static inline int64_t ti(const hentry *t, int f) { return (int64_t)t->v[f].u; }
static inline const char *ts(const hentry *t, int f) { return t->v[f].s ? t->v[f].s : ""; }
static inline void tset(hentry *t, int f, uint64_t v) { t->v[f].u = v; }
void tsets(hentry *t, int f, const char *s);
void tsetsn(hentry *t, int f, const char *s, size_t n);
static inline sthread *tx(const hentry *t) { return (sthread *)t->ext; }
static inline sfd *fx(const hentry *f) { return (sfd *)f->ext; }
static inline uint32_t fd_type(const hentry *f) { return (uint32_t)f->v[FF_TYPE].u; }

/* the socket union of an fd (libsinsp's sinsp_sockinfo), little-endian fields */
static inline uint8_t *sk(hentry *f) { return ((sfd *)f->ext)->sock; }
static inline uint32_t g32(const uint8_t *b, int off) { return rd32(b + off); }
static inline uint16_t g16(const uint8_t *b, int off) { return rd16(b + off); }
static inline void p32(uint8_t *b, int off, uint32_t v) { __builtin_memcpy(b + off, &v, 4); }
static inline void p16(uint8_t *b, int off, uint16_t v) { __builtin_memcpy(b + off, &v, 2); }
static inline uint64_t g64(const uint8_t *b, int off)
{
    uint64_t v;
    __builtin_memcpy(&v, b + off, 8);
    return v;
}

/* event parameters */
typedef struct {
    const uint8_t *p;
    uint32_t len;
} sparam;
sparam ev_param(const ss_plugin_event *e, uint32_t i);
int64_t ev_i64(const ss_plugin_event *e, uint32_t i); /* 0 when absent; sign-extends */
uint64_t ev_u64(const ss_plugin_event *e, uint32_t i);
const char *ev_str(const ss_plugin_event *e, uint32_t i, size_t *len);
bool ev_has_res(const ss_plugin_event *e);
size_t ev_ptype_size(uint8_t pt); /* a PT_* type's size as libsinsp reads it, 0: variable */
hentry *sysf_thread(const ss_plugin_event *e); /* the thread fields read */
int64_t ev_res(const ss_plugin_event *e);
/* libsinsp's strictness while it parses an event: as<T>() throws on a parameter whose length
 * is not T's, as<std::string>() on one that is not one NUL-terminated string, and a missing
 * parameter is out of range. While g_ss_strict is set, the reads above keep the first such
 * parameter of the event in g_ss_bad (got: SIZE_MAX when missing). */
typedef struct {
    bool set;
    const ss_plugin_event *e; /* the event read: the current one, or its stored enter event */
    uint32_t idx;
    size_t want, got;
} ss_badparam;
extern bool g_ss_strict;
extern ss_badparam g_ss_bad;

/* threads */
hentry *st_find(int64_t tid);
sthread *tx_ensure(hentry *t); /* its sthread, made when missing */
void st_reset_groups(void);    /* a new section: no thread group left over */
hentry *st_get(int64_t tid); /* find, else a fake "<NA>" entry as libsinsp adds it */
hentry *st_new_thread(int64_t tid);
void st_add_thread(hentry *t, bool deps);
void st_remove_thread(int64_t tid);
void st_deps(hentry *t);
bool st_invalid(const hentry *t);
bool st_is_main(const hentry *t);
hentry *st_main(hentry *t);
htable *st_fdtable(hentry *t); /* the table its fds live in (the main thread's with
                                 * CLONE_FILES), NULL without one */
hentry *st_fdtable_owner(hentry *t);
uint64_t st_group_count(int64_t pid);
void st_set_reaper(int64_t pid, bool reaper);
bool st_recently_exited(int64_t tid, int64_t ptid, uint64_t ts);
void sstate_tid_to_remove(int64_t tid);
void sstate_set_thread(sevent *ev, hentry *t);
void sstate_set_fd(sevent *ev, hentry *f);
void st_set_args(hentry *t, const sparam *p);
void st_keep_cmdline(hentry *t);
void st_set_strs(hentry *t, int f, const uint8_t *p, uint32_t len);
void st_set_cgroups(hentry *t, const uint8_t *p, uint32_t len);
void st_copy_table(hentry *to, const hentry *from, int f);
void st_update_cwd(hentry *t, const char *cwd, size_t n);
void st_cwd(hentry *t, sbuf *out); /* the main thread's cwd, "./" without one */
void st_drop_stored(hentry *t);

/* fds */
hentry *sf_get(hentry *t, int64_t fd);
hentry *sf_new(void);
hentry *sf_add(hentry *t, int64_t fd, hentry *f); /* takes f; the event's fdinfo becomes it */
hentry *sf_clone(const hentry *f);
sfd *fx_ensure(hentry *f);
void sf_sync(hentry *f); /* the socket_* fields from the union */
void sf_schedule_close(int64_t tid, int64_t fd);
void sf_retain_cloexec(hentry *t);
void sf_set_name(hentry *f, const char *s);
void sock_name(hentry *f, sbuf *out); /* sockinfo_to_str */
void sock_tuple_text(sparam p, sbuf *out); /* a socktuple parameter as libsinsp prints it */
bool sock_mapped(const uint8_t *ip16);     /* an IPv4-mapped (or all-zero) IPv6 address */
hentry *sf_typed(uint32_t type, uint32_t openflags);
void sf_dirfd_dir(sevent *ev, const char *name, size_t n, int64_t dirfd, sbuf *out);
/* the socket parsers (sstate_net.c) */
void sn_socket(sevent *ev, int64_t fd, uint32_t domain, uint32_t type, uint32_t proto,
               uint32_t flags);
void sn_io(sevent *ev, bool read, uint8_t arg);
void sn_bind(sevent *ev);
void sn_connect(sevent *ev);
void sn_accept(sevent *ev, bool accept4);
const char *fd_typestring(const hentry *f);
char fd_typechar(const hentry *f);
void path_concat(const char *dir, size_t dlen, const char *name, size_t nlen, sbuf *out);

/* users and groups */
void su_add_user(uint32_t uid, uint32_t gid, const char *name, const char *home,
                 const char *shell, bool named);
void su_add_group(uint32_t gid, const char *name, bool named);
void su_rm_user(uint32_t uid);
void su_rm_group(uint32_t gid);
void su_ensure_user(uint32_t uid, uint32_t gid);
void su_ensure_group(uint32_t gid);
bool su_user(uint32_t uid, const char **name, const char **home, const char **shell);
bool su_group(uint32_t gid, const char **name);
void su_clear(void);

/* parsers (sstate_proc.c, sstate_fd.c) */
void sp_clone(sevent *ev);
void sp_execve(sevent *ev);
void sp_procexit(sevent *ev);
void sp_proc_misc(sevent *ev, uint8_t kind, uint8_t arg);
void sp_fd(sevent *ev, uint8_t kind, uint8_t arg);
bool sp_fd_kind(uint8_t kind);
bool retrieve_enter(sevent *ev, const ss_plugin_event **enter);

#endif /* FP_HOST_SSTATE_H */
