/*
 * config_check.c - value checks for the configuration parser: control
 *                  octets, host names and EHLO arguments (see config_check.h).
 */
#include "conf/config_check.h"

#include <string.h>

#include "conf/address.h"

#define LDH_NAME_MAX 255
#define LDH_LABEL_MAX 63

/* cfg_ctl_octet - first octet below 0x20 (tab aside if allowed) or 0x7f */
int
cfg_ctl_octet(const char *s, int allow_tab)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f)
            return *p;
    return -1;
}

/* ldh - ASCII letter, digit or hyphen */
static int
ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* cfg_valid_ldh_name - labels of LDH octets, no edge hyphens, 1-63 each */
int
cfg_valid_ldh_name(const char *s)
{
    size_t label = 0, n = strlen(s);

    if (n == 0 || n > LDH_NAME_MAX)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (!ldh(c) || (label == 0 && c == '-') || ++label > LDH_LABEL_MAX) {
            return 0;
        }
    }
    return 1;
}

/* cfg_valid_helo - a host name, or "[...]" holding an IPv4 or IPv6 address */
int
cfg_valid_helo(const char *s)
{
    return s[0] == '[' ? addr_valid_literal(s) : cfg_valid_ldh_name(s);
}
