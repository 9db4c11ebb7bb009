/*
 * units.c - the time and size syntax shared by every part of the
 *           configuration language: "1h30m", "45s", "2d" and "10M", "512K".
 *           Declared in config.h. Pure functions; any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"

/* cfg_parse_time - Exim time ("1h30m", "45s", "2d", "90") to seconds; -1 if bad */
long
cfg_parse_time(const char *s)
{
    static const char units[] = "smhdw";
    static const long long mult[] = {1, 60, 3600, 86400, 7 * 86400};
    long long total = 0;
    if (s == NULL || *s == '\0')
        return -1;
    while (*s) {
        long long v = 0;
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++)
            if ((v = v * 10 + (*s - '0')) > INT_MAX)
                return -1;
        const char *u = *s ? strchr(units, *s) : NULL;
        if (*s && u == NULL)
            return -1;
        s += *s != '\0';
        if ((total += v * (u ? mult[u - units] : 1)) > INT_MAX) /* a bare number is seconds */
            return -1;
    }
    return (long)total;
}

/* cfg_parse_size - "10M", "512K", "1G", "1000" to bytes; -1 if bad */
long long
cfg_parse_size(const char *s)
{
    static const char units[] = "kKmMgG";
    static const long long mult[] = {1LL << 10, 1LL << 10, 1LL << 20,
                                     1LL << 20, 1LL << 30, 1LL << 30};
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    const char *u = *e ? strchr(units, *e) : NULL;
    if (errno != 0 || (*e && (u == NULL || e[1] != '\0')))
        return -1;
    long long m = u ? mult[u - units] : 1;
    if (v > (unsigned long long)(LLONG_MAX / m))
        return -1;
    return (long long)v * m;
}
