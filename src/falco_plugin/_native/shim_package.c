/*
 * A packaged plugin library (falco-plugin package), included by shim_interp.c when
 * FP_PACKAGED is 1: everything the plugin runs on lies in a folder beside the library
 * (FP_PACKAGE_DIR, relative to it), so nothing of the build machine is used.
 *
 * - Before Python starts: the target is checked against what the package needs (CPU
 *   architecture, minimum glibc), and the system libraries shipped in the package are
 *   loaded (so that the extension modules needing them find them by their soname).
 * - The interpreter's module search path is the package's standard library, found from
 *   the library's own location (dladdr), never from the environment.
 * - Every file of the package is listed in a manifest baked into the library (path, size,
 *   SHA-256): the package bootstrap (falco_plugin/_packaged.py) checks at init that they
 *   are all there, and checks the digest of each module's code when it is loaded, with
 *   fp_digest below.
 */
#include <gnu/libc-version.h>
#include <sys/utsname.h>

static const unsigned char fp_package_code[] = FP_PACKAGE_CODE;

/* ------------------------------------------------------------------ paths */

static void fp_library_folder(char *out, size_t cap);

/* The package folder (an absolute path): FP_PACKAGE_DIR beside this library. */
static int fp_package_folder(char *out, size_t cap) {
    char origin[PATH_MAX];
    fp_library_folder(origin, sizeof origin);
    if (!origin[0]) return -1;
    return snprintf(out, cap, "%s/%s", origin, FP_PACKAGE_DIR) < (int)cap ? 0 : -1;
}

/* ------------------------------------------------------------------ target checks */

/* Dotted versions ("2.36" against "2.31"), major then minor. */
static int fp_version_cmp(const char *a, const char *b) {
    int a1 = 0, a2 = 0, b1 = 0, b2 = 0;
    (void)sscanf(a, "%d.%d", &a1, &a2);
    (void)sscanf(b, "%d.%d", &b1, &b2);
    return a1 != b1 ? (a1 < b1 ? -1 : 1) : (a2 != b2 ? (a2 < b2 ? -1 : 1) : 0);
}

static int fp_package_check_target(char *err, size_t errlen) {
    struct utsname u;
    if (uname(&u) == 0 && strcmp(u.machine, FP_TARGET_ARCH) != 0) {
        snprintf(err, errlen,
                 "plugin %s was packaged for %s machines, this one is %s: package it on (or "
                 "for) this architecture",
                 FP_META_NAME, FP_TARGET_ARCH, u.machine);
        return -1;
    }
    const char *glibc = gnu_get_libc_version();
    if (FP_MIN_GLIBC[0] && fp_version_cmp(glibc, FP_MIN_GLIBC) < 0) {
        snprintf(err, errlen,
                 "plugin %s needs glibc %s or newer (its package was built against it), this "
                 "system has glibc %s: package it on a system with an older glibc",
                 FP_META_NAME, FP_MIN_GLIBC, glibc);
        return -1;
    }
    return 0;
}

static void fp_sha256_hex(const unsigned char *data, size_t n, char out[65]);

/* The manifest line of a package file ("path\tsize\tsha256"), or NULL. */
static const char *fp_manifest_entry(const char *rel, size_t len) {
    const char *m = FP_MANIFEST;
    for (const char *p = m; (p = strstr(p, rel)) != NULL; p++) {
        if ((p == m || p[-1] == '\n') && p[len] == '\t') return p + len + 1;
    }
    return NULL;
}

/* Check the native files Python does not load itself (FP_NATIVE_FILES: the shipped system
 * libraries and libpython) against the manifest, before anything runs their code. */
static int fp_package_verify(const char *folder, char *err, size_t errlen) {
    const char *p = FP_NATIVE_FILES;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char rel[PATH_MAX], path[PATH_MAX], hex[65];
        snprintf(rel, sizeof rel, "%.*s", (int)n, p);
        snprintf(path, sizeof path, "%s/%s", folder, rel);
        const char *entry = fp_manifest_entry(rel, n);
        FILE *f = fopen(path, "rb");
        long size = -1;
        unsigned char *data = NULL;
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (data = malloc((size_t)size + 1)) && fread(data, 1, (size_t)size, f) == (size_t)size)
            fp_sha256_hex(data, (size_t)size, hex);
        else
            size = -1;
        if (f) fclose(f);
        free(data);
        const char *tab = entry ? strchr(entry, '\t') : NULL;
        if (size < 0 || !tab || strtol(entry, NULL, 10) != size || strncmp(tab + 1, hex, 64) != 0) {
            snprintf(err, errlen,
                     "plugin %s: %s %s: the package was modified or mixed with another version; "
                     "extract it again",
                     FP_META_NAME, path,
                     size < 0 ? "cannot be read" : "differs from the file packaged");
            return -1;
        }
        p += n + (end ? 1 : 0);
    }
    return 0;
}

/* Load the system libraries shipped in the package (FP_PRELOAD: one path a line, relative
 * to the package folder, dependencies first). They stay loaded for the process. */
static int fp_package_preload(const char *folder, char *err, size_t errlen) {
    const char *p = FP_PRELOAD;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%.*s", folder, (int)n, p);
        if (!dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) {
            snprintf(err, errlen, "plugin %s: cannot load %s from its package: %s",
                     FP_META_NAME, path, dlerror());
            return -1;
        }
        p += n + (end ? 1 : 0);
    }
    return 0;
}

/* ------------------------------------------------------------------ interpreter config */

/* Before the first Python start: check the target, load the shipped libraries, and point
 * the interpreter at the package's standard library (FP_STDLIB_PATHS, one a line). */
static PyStatus fp_package_configure(PyConfig *config, char *err, size_t errlen) {
    char folder[PATH_MAX];
    if (fp_package_folder(folder, sizeof folder) < 0) {
        snprintf(err, errlen, "plugin %s cannot find the folder it was loaded from",
                 FP_META_NAME);
        return PyStatus_Error(err);
    }
    if (fp_package_check_target(err, errlen) < 0 || fp_package_verify(folder, err, errlen) < 0 ||
        fp_package_preload(folder, err, errlen) < 0)
        return PyStatus_Error(err);
    config->write_bytecode = 0; /* the package holds compiled code; its folder may be read-only */
    config->module_search_paths_set = 1;
    PyStatus status = PyConfig_SetBytesString(config, &config->program_name, FP_META_NAME);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(config, &config->home, folder);
    const char *p = FP_STDLIB_PATHS;
    while (!PyStatus_Exception(status) && *p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%.*s", folder, (int)n, p);
        wchar_t *wide = Py_DecodeLocale(path, NULL);
        if (!wide) return PyStatus_NoMemory();
        status = PyWideStringList_Append(&config->module_search_paths, wide);
        PyMem_RawFree(wide);
        p += n + (end ? 1 : 0);
    }
    return status;
}

/* ------------------------------------------------------------------ SHA-256 (FIPS 180-4) */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char block[64];
    size_t used;
} fp_sha256;

static const uint32_t fp_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define FP_ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

#define FP_S0(x) (FP_ROR(x, 2) ^ FP_ROR(x, 13) ^ FP_ROR(x, 22))
#define FP_S1(x) (FP_ROR(x, 6) ^ FP_ROR(x, 11) ^ FP_ROR(x, 25))
#define FP_ROUND(a, b, c, d, e, f, g, h, i)                                                   \
    do {                                                                                      \
        uint32_t t1 = h + FP_S1(e) + ((e & f) ^ (~e & g)) + fp_sha256_k[i] + w[i];            \
        d += t1;                                                                              \
        h = t1 + FP_S0(a) + ((a & b) ^ (a & c) ^ (b & c));                                    \
    } while (0)

static void fp_sha256_block(fp_sha256 *s, const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = FP_ROR(w[i - 15], 7) ^ FP_ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = FP_ROR(w[i - 2], 17) ^ FP_ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    uint32_t e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i += 8) { /* the eight variables rotate by renaming */
        FP_ROUND(a, b, c, d, e, f, g, h, i);
        FP_ROUND(h, a, b, c, d, e, f, g, i + 1);
        FP_ROUND(g, h, a, b, c, d, e, f, i + 2);
        FP_ROUND(f, g, h, a, b, c, d, e, i + 3);
        FP_ROUND(e, f, g, h, a, b, c, d, i + 4);
        FP_ROUND(d, e, f, g, h, a, b, c, i + 5);
        FP_ROUND(c, d, e, f, g, h, a, b, i + 6);
        FP_ROUND(b, c, d, e, f, g, h, a, i + 7);
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void fp_sha256_blocks_c(fp_sha256 *s, const unsigned char *p, size_t blocks) {
    for (; blocks; blocks--, p += 64) fp_sha256_block(s, p);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * The same compression with the x86 SHA extensions (Intel's SHA-NI, 2016 on), about ten
 * times faster: the state lives as (A,B,E,F) and (C,D,G,H), each sha256rnds2 does two
 * rounds, sha256msg1/msg2 extend the message schedule four words at a time.
 */
__attribute__((target("sha,sse4.1"))) static void
fp_sha256_blocks_ni(fp_sha256 *s, const unsigned char *p, size_t blocks) {
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[0]), 0xB1);
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[4]), 0x1B);
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8); /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);      /* CDGH */
    for (; blocks; blocks--, p += 64) {
        __m128i save0 = st0, save1 = st1, m[4];
        for (int g = 0; g < 16; g++) { /* four rounds per group */
            if (g < 4)
                m[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), swap);
            __m128i msg = _mm_add_epi32(
                m[g % 4], _mm_loadu_si128((const __m128i *)&fp_sha256_k[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            if (g >= 3 && g <= 14) {
                __m128i t = _mm_alignr_epi8(m[g % 4], m[(g + 3) % 4], 4);
                m[(g + 1) % 4] = _mm_sha256msg2_epu32(_mm_add_epi32(m[(g + 1) % 4], t), m[g % 4]);
            }
            st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
            if (g >= 1 && g <= 12) m[(g + 3) % 4] = _mm_sha256msg1_epu32(m[(g + 3) % 4], m[g % 4]);
        }
        st0 = _mm_add_epi32(st0, save0);
        st1 = _mm_add_epi32(st1, save1);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);                                           /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);                                           /* DCHG */
    _mm_storeu_si128((__m128i *)&s->h[0], _mm_blend_epi16(tmp, st1, 0xF0));        /* DCBA */
    _mm_storeu_si128((__m128i *)&s->h[4], _mm_alignr_epi8(st1, tmp, 8));           /* HGFE */
}

static int fp_has_sha_ni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)) &&
           __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)); /* SHA, SSE4.1 */
}
#endif

typedef void (*fp_sha256_blocks_fn)(fp_sha256 *, const unsigned char *, size_t);

static fp_sha256_blocks_fn fp_sha256_blocks(void) {
#if defined(__x86_64__)
    static int ni = -1;
    if (ni < 0) ni = fp_has_sha_ni();
    if (ni) return fp_sha256_blocks_ni;
#endif
    return fp_sha256_blocks_c;
}

static void fp_sha256_hex(const unsigned char *data, size_t n, char out[65]) {
    fp_sha256 s = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
                    0x1f83d9ab, 0x5be0cd19},
                   0, {0}, 0};
    fp_sha256_blocks_fn blocks = fp_sha256_blocks();
    s.len = (uint64_t)n * 8;
    blocks(&s, data, n / 64);
    data += n / 64 * 64;
    n %= 64;
    unsigned char tail[128] = {0};
    memcpy(tail, data, n);
    tail[n] = 0x80;
    size_t last = (n + 9 > 64 ? 2 : 1) * 64 - 1;
    for (int i = 0; i < 8; i++) tail[last - i] = (unsigned char)(s.len >> (8 * i));
    blocks(&s, tail, n + 9 > 64 ? 2 : 1);
    for (int i = 0; i < 8; i++) snprintf(out + 8 * i, 9, "%08x", s.h[i]);
}

/* digest(data) -> the SHA-256 of a bytes-like object, as hex; the GIL is released while
 * hashing. */
static PyObject *fp_digest(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    char hex[65];
    Py_BEGIN_ALLOW_THREADS
    fp_sha256_hex(view.buf, (size_t)view.len, hex);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyUnicode_FromStringAndSize(hex, 64);
}

static PyMethodDef fp_digest_def = {"digest", fp_digest, METH_O,
                                    "SHA-256 of a bytes-like object, as hex."};

/* ------------------------------------------------------------------ activation */

static int g_package_active;
static PyObject *g_package_checker; /* _packaged.Checker: verifies the code of the package */

/*
 * With the GIL held: run the package bootstrap (once per library and process): it adds
 * the package's standard library to sys.path when another library started the interpreter,
 * installs the manifest checks and checks what was loaded before them.
 */
static int fp_package_activate(void) {
    if (g_package_active) return 0;
    char folder[PATH_MAX];
    if (fp_package_folder(folder, sizeof folder) < 0) {
        PyErr_Format(PyExc_ImportError, "plugin %s cannot find the folder it was loaded from",
                     FP_META_NAME);
        return -1;
    }
    PyObject *code = PyMarshal_ReadObjectFromString((const char *)fp_package_code,
                                                    (Py_ssize_t)sizeof fp_package_code);
    PyObject *mod = code ? PyModule_New("falco_plugin_package_bootstrap") : NULL;
    PyObject *dict = mod ? PyModule_GetDict(mod) : NULL;
    PyObject *res = NULL, *digest = NULL;
    if (dict && PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) == 0)
        res = PyEval_EvalCode(code, dict, dict);
    if (res) digest = PyCFunction_New(&fp_digest_def, NULL);
    Py_XDECREF(res);
    res = digest ? PyObject_CallMethod(mod, "activate", "ssssO", FP_META_NAME, folder,
                                       FP_STDLIB_PATHS, FP_MANIFEST, digest)
                 : NULL;
    Py_XDECREF(digest);
    Py_XDECREF(code);
    if (res) {
        Py_XDECREF(g_package_checker);
        g_package_checker = res; /* the checker the import space verifies code with */
        g_package_active = 1;
    }
    Py_XDECREF(mod);
    return res ? 0 : -1;
}
