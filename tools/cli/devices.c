/* facerec devices: the backends this program can use and the devices they
 * see. The CPU backend is built in; modules (libfacerec-cuda.so) are looked
 * up the way a server start does, so this answers "why is it running on the
 * CPU?" without starting one. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "facerec/backend.h"

int cli_cmd_devices(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: facerec devices\n\nList the compute backends found (the built-in CPU backend and the\n"
                   "modules: libfacerec-cuda.so in FACEREC_MODULE_PATH, else next to the program, in\n"
                   "../lib/facerec or the install's library directory) and the devices each one sees.\n");
            return CLI_OK;
        }
        fprintf(stderr, "facerec devices: unexpected argument '%s'\n", argv[i]);
        return CLI_USAGE;
    }
    int32_t n = fr_backend_reg_count();
    for (int32_t i = 0; i < n; i++) {
        struct fr_backend_reg_info ri;
        fr_backend_reg_get(i, &ri);
        if (!ri.loaded) {
            printf("%-5s not available: %s\n", ri.name, ri.status);
            continue;
        }
        printf("%-5s %s: %d device%s%s%s\n", ri.name, ri.source, (int)ri.n_devices, ri.n_devices == 1 ? "" : "s",
               ri.n_devices == 0 && ri.status[0] ? ": " : "", ri.n_devices == 0 ? ri.status : "");
        for (int32_t d = 0; d < ri.n_devices; d++) {
            char line[512];
            if (i == 0) snprintf(line, sizeof line, "0: cpu, %ld cores online", sysconf(_SC_NPROCESSORS_ONLN));
            else fr_backend_reg_device(i, d, line, sizeof line);
            printf("      %s\n", line);
        }
    }
    return CLI_OK;
}
