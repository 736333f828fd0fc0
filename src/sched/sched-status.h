/* The one rendering of the scheduler's /status (src/sched/sched-status.c),
 * shared by fr_sched_status_json and GET /status (src/http/status.c), which
 * adds its own members to the tree before printing it. */
#pragma once

#include <cjson/cJSON.h>

#include "facerec/sched.h"

/* A new cJSON object for *st, or NULL when out of memory. */
cJSON *fr__sched_status_to_json(const struct fr_sched_status *st);
