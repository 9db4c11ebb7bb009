/*
 * config_arena.c - the arena a parsed configuration lives in: one struct
 *                  cfg and everything it points to (names, strings, arrays)
 *                  are released in one go by cfg_free(); the parser's
 *                  scratch data (macros, split lists, line buffers) lives in
 *                  a second arena released when loading ends.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_int.h"

#define CFG_ARENA_BLOCK 16384
/* ---- arena ----------------------------------------------------------
 *
 * Under AddressSanitizer every allocation is followed by a poisoned red zone
 * (and a block's unused tail stays poisoned), so an overflow from one arena
 * object into the next is reported as it would be between malloc'd objects.
 * Elsewhere the red zone is empty and the macros do nothing. */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CFG_ASAN)
#define CFG_ASAN 1
#endif
#ifdef CFG_ASAN
#include <sanitizer/asan_interface.h>
#define CFG_REDZONE (2 * sizeof(max_align_t))
#define CFG_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CFG_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define CFG_REDZONE 0
#define CFG_POISON(p, n) ((void)(p), (void)(n))
#define CFG_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct cfg_arena_blk {
    struct cfg_arena_blk *next;
    size_t used, cap;
    max_align_t data[];
};

/* cfg_ar_block - a new block of cap bytes, all poisoned, linked into a */
static struct cfg_arena_blk *
cfg_ar_block(struct cfg_arena *a, size_t cap, int big)
{
    struct cfg_arena_blk *b = a->head, *nb = malloc(sizeof *nb + cap);
    if (nb == NULL)
        abort();
    nb->cap = cap;
    nb->used = 0;
    CFG_POISON(nb->data, cap);
    if (big && b != NULL) { /* keep filling the current block */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb;
}

/* cfg_ar_alloc - zeroed memory from the arena (out of memory is fatal) */
void *
cfg_ar_alloc(struct cfg_arena *a, size_t n)
{
    const size_t al = sizeof(max_align_t);
    if (n > SIZE_MAX / 2)
        abort();
    size_t want = n;
    n = (n == 0 ? al : (n + al - 1) / al * al) + CFG_REDZONE;
    struct cfg_arena_blk *b = a->head;
    if (b == NULL || b->cap - b->used < n) {
        int big = n > CFG_ARENA_BLOCK / 4;
        b = cfg_ar_block(a, big ? n : CFG_ARENA_BLOCK, big);
    }
    void *r = (char *)b->data + b->used;
    b->used += n;
    CFG_UNPOISON(r, want ? want : 1);
    memset(r, 0, want ? want : 1);
    return r;
}

/* cfg_ar_strndup - copy n bytes of s as a string */
char *
cfg_ar_strndup(struct cfg_arena *a, const char *s, size_t n)
{
    char *d = cfg_ar_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* cfg_ar_strdup - copy s */
char *
cfg_ar_strdup(struct cfg_arena *a, const char *s)
{
    return cfg_ar_strndup(a, s, strlen(s));
}

/* cfg_ar_grow - make room for element n of an array (doubling; old copy stays in the arena) */
void *
cfg_ar_grow(struct cfg_arena *a, void *arr, size_t n, size_t *cap, size_t el)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = cfg_ar_alloc(a, nc * el);
    if (n > 0)
        memcpy(na, arr, n * el);
    *cap = nc;
    return na;
}

/* cfg_ar_free - release every block (a itself may live in one of them) */
void
cfg_ar_free(struct cfg_arena *a)
{
    struct cfg_arena_blk *b = a->head;
    while (b != NULL) {
        struct cfg_arena_blk *next = b->next;
        free(b);
        b = next;
    }
}
