/*
 * C reference for the event-parsing benchmark: walk a buffer of scap events stored back to
 * back, the way a C consumer would, with the same checks as falco_plugin.event.raw
 * (header present, len within the buffer, lengths table present, lengths add up).
 *
 *   long walk_headers(buf, size, large, ntypes, &sum) - read every header, sum the ts fields
 *   long walk_params(buf, size, large, ntypes, &sum)  - also read every parameter length and
 *                                                       touch the first byte of each value
 *
 * `large[type]` is 1 for types whose parameter lengths are u32. Both return the number of
 * events walked, or -1 - offset on malformed input. `sum` keeps the work from being optimized
 * away.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HEADER_LEN 26

struct header {
	uint64_t ts;
	int64_t tid;
	uint32_t len;
	uint16_t type;
	uint32_t nparams;
};

static int read_header(const uint8_t *p, struct header *h) {
	memcpy(&h->ts, p, 8);
	memcpy(&h->tid, p + 8, 8);
	memcpy(&h->len, p + 16, 4);
	memcpy(&h->type, p + 20, 2);
	memcpy(&h->nparams, p + 22, 4);
	return 0;
}

long walk_headers(const uint8_t *buf, size_t size, const uint8_t *large, size_t ntypes,
		  uint64_t *sum) {
	size_t off = 0;
	long count = 0;
	uint64_t acc = 0;
	while (off < size) {
		struct header h;
		if (size - off < HEADER_LEN)
			return -1 - (long)off;
		read_header(buf + off, &h);
		if (h.len < HEADER_LEN || h.len > size - off || h.type >= ntypes)
			return -1 - (long)off;
		acc += h.ts;
		off += h.len;
		count++;
	}
	*sum = acc;
	return count;
}

long walk_params(const uint8_t *buf, size_t size, const uint8_t *large, size_t ntypes,
		 uint64_t *sum) {
	size_t off = 0;
	long count = 0;
	uint64_t acc = 0;
	while (off < size) {
		struct header h;
		if (size - off < HEADER_LEN)
			return -1 - (long)off;
		const uint8_t *ev = buf + off;
		read_header(ev, &h);
		if (h.len < HEADER_LEN || h.len > size - off || h.type >= ntypes)
			return -1 - (long)off;
		size_t width = large[h.type] ? 4 : 2;
		size_t table = HEADER_LEN + (size_t)h.nparams * width;
		if (table > h.len)
			return -1 - (long)off;
		size_t pos = table;
		for (uint32_t i = 0; i < h.nparams; i++) {
			uint32_t plen = 0;
			if (width == 4) {
				memcpy(&plen, ev + HEADER_LEN + 4 * i, 4);
			} else {
				uint16_t l16;
				memcpy(&l16, ev + HEADER_LEN + 2 * i, 2);
				plen = l16;
			}
			if (plen > h.len - pos)
				return -1 - (long)off;
			if (plen)
				acc += ev[pos];
			pos += plen;
		}
		if (pos != h.len)
			return -1 - (long)off;
		acc += h.ts;
		off += h.len;
		count++;
	}
	*sum = acc;
	return count;
}
