/*
 * sysfields.c: placeholder, replaced below.
 */
#include "sstate.h"

#include <stdlib.h>

bool sysf_read_sc_name(plan_reader *r)
{
    pr_u32(r);
    free(pr_str(r));
    return !r->bad;
}
