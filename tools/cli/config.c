/* facerec config: the effective server settings (defaults, --config file,
 * FACEREC_* environment, flags) as an INI file with each value's source. */
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "facerec/config.h"

extern char **environ;

int cli_cmd_config(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: facerec config [--config FILE] [--SETTING VALUE]...\n\n"
                   "Print the server settings in effect as an INI file (loadable with --config), each value\n"
                   "with where it came from.\n\n");
            fr_config_print_help(stdout);
            return CLI_OK;
        }
    struct fr_config cfg;
    fr_config_init(&cfg);
    char err[1024];
    int next = argc;
    int rc = CLI_OK;
    if (fr_config_load(&cfg, argc, argv, environ, &next, err, sizeof(err)) != FR_OK) {
        fprintf(stderr, "facerec config: %s\n", err);
        rc = CLI_USAGE;
    } else if (next < argc) {
        fprintf(stderr, "facerec config: unexpected argument '%s' (see facerec config --help)\n", argv[next]);
        rc = CLI_USAGE;
    } else {
        fr_config_dump(&cfg, stdout);
    }
    fr_config_clear(&cfg);
    return rc;
}
