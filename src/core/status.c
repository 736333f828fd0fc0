#include "facerec/status.h"

const char *fr_status_str(enum fr_status st) {
    switch (st) {
#define FR__STATUS_STR(name, val, str) case FR_##name: return str;
        FR_STATUS_MAP(FR__STATUS_STR)
#undef FR__STATUS_STR
    }
    return "unknown status";
}

const char *fr_status_name(enum fr_status st) {
    switch (st) {
#define FR__STATUS_NAME(name, val, str) case FR_##name: return #name;
        FR_STATUS_MAP(FR__STATUS_NAME)
#undef FR__STATUS_NAME
    }
    return "UNKNOWN";
}
