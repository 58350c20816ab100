/*
 * stream.c: a raw event stream as an event source, the way a capture replays: a file of scap
 * events back to back (falco_plugin.event.replay gives them), read by the host itself as the
 * "syscall" source, with a flag per event saying whether libsinsp would hand it to its user
 * (events it only parses, like enter events kept for their exit, are parsed and not shown).
 * The events go through the same pipeline as a plugin's (capture.c): the parsers, the
 * filter, the output; the threads table starts from the fixture the plan carries.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STREAM_BATCH 512

typedef struct evstream {
    uint8_t *data; /* the file, mapped copy-on-write (the host stamps and fixes events) */
    size_t len, pos;
    uint64_t index; /* of the next event */
    ss_plugin_event *batch[STREAM_BATCH];
    uint8_t shown[STREAM_BATCH];
    uint16_t cpus[STREAM_BATCH];
    char error[ERRBUF];
} evstream;

bool stream_open(host_plugin *p)
{
    evstream *s;
    struct stat st;
    int fd = open(p->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        report_error(p, "open", "cannot read the event stream %s: %s", p->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    s = xcalloc(1, sizeof *s);
    s->len = (size_t)st.st_size;
    if (s->len) {
        s->data = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (s->data == MAP_FAILED) {
            report_error(p, "open", "cannot map the event stream %s: %s", p->path,
                         strerror(errno));
            close(fd);
            free(s);
            return false;
        }
    }
    close(fd);
    p->stream = s;
    p->opened = true;
    return true;
}

void stream_close(host_plugin *p)
{
    evstream *s = p->stream;
    if (!s)
        return;
    if (s->len)
        munmap(s->data, s->len);
    free(s);
    p->stream = NULL;
}

const char *stream_error(host_plugin *p) { return p->stream ? p->stream->error : ""; }

/* The next batch of events: pointers into the mapping, with their shown flags and cpus. A
 * batch ends before a section of a capture starts, whose state is set up before its events. */
ss_plugin_rc stream_next(host_plugin *p, uint32_t *n, ss_plugin_event ***evts,
                         const uint8_t **shown, const uint16_t **cpus)
{
    evstream *s = p->stream;
    uint32_t k = 0;
    uint64_t next_section;
    *shown = s->shown;
    *cpus = s->cpus;
    *evts = s->batch;
    if (!sstate_before(s->index, s->error, sizeof s->error)) {
        *n = 0;
        return SS_PLUGIN_FAILURE;
    }
    next_section = sstate_next_section();
    while (k < STREAM_BATCH && s->pos < s->len && s->index < next_section) {
        uint32_t len;
        if (s->len - s->pos < FP_EVENT_HEADER_LEN ||
            (len = rd32(s->data + s->pos + 16)) < FP_EVENT_HEADER_LEN || len > s->len - s->pos) {
            snprintf(s->error, sizeof s->error,
                     "the event stream %s is cut or malformed at byte %zu (event %" PRIu64 ")",
                     p->path, s->pos, s->index + 1);
            *n = k;
            return SS_PLUGIN_FAILURE;
        }
        s->batch[k] = (ss_plugin_event *)(s->data + s->pos);
        s->shown[k] = s->index >= p->stream_nshown || p->stream_shown[s->index];
        s->cpus[k] = s->index < p->stream_ncpus ? rd16(p->stream_cpus + 2 * s->index) : 0;
        s->pos += len;
        s->index++;
        k++;
    }
    *n = k;
    return s->pos < s->len ? SS_PLUGIN_SUCCESS : SS_PLUGIN_EOF;
}
