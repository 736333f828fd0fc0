/* facerec config: the effective server settings (defaults, --config file,
 * FACEREC_* environment, flags) as an INI file with each value's source. */
#include "cli.h"
#include "facerec/config.h"

int cli_cmd_config(int argc, char **argv) {
    struct fr_config cfg;
    int rc = cli_load_config("config", "Print the server settings in effect as an INI file (loadable with --config), each value\n"
                                       "with where it came from.", argc, argv, &cfg);
    if (rc != CLI_OK) return rc == CLI_HELP_SHOWN ? CLI_OK : rc;
    fr_config_dump(&cfg, stdout);
    fr_config_clear(&cfg);
    return CLI_OK;
}
