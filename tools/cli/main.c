/* facerec: the command line. Each subcommand is a table entry; its options
 * are declared once and drive both parsing and --help. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OPT(field) offsetof(struct cli_opts, field)

static const struct cli_option opt_json[] = {
    { "--json", CLI_FLAG, OPT(json), 0, 0, "one JSON object per image (with the 68 landmarks)" },
    { NULL, 0, 0, 0, 0, NULL },
};
static const struct cli_option opt_landmarks[] = {
    { "--landmarks", CLI_FLAG, OPT(landmarks), 0, 0, "text output: append the 68 landmarks to each face" },
    { NULL, 0, 0, 0, 0, NULL },
};
static const struct cli_option opt_aligned[] = {
    { "--aligned", CLI_FLAG, OPT(aligned), 0, 0, "inputs are aligned face crops (150x150): embed them, no detection" },
    { NULL, 0, 0, 0, 0, NULL },
};
static const struct cli_option opt_tolerance[] = {
    { "--tolerance", CLI_FLOAT, OPT(tolerance), 0.0, 2.0, "same-person distance threshold (default 0.6)" },
    { NULL, 0, 0, 0, 0, NULL },
};
static const struct cli_option opt_identify[] = {
    { "--show-distance", CLI_FLAG, OPT(show_distance), 0, 0, "append the distance to each line" },
    { NULL, 0, 0, 0, 0, NULL },
};
static const struct cli_option opt_cluster[] = {
    { "--out", CLI_STR, OPT(out_dir), 0, 0, "write each group's face crops as JPEGs under DIR/person_N/" },
    { "--threshold", CLI_FLOAT, OPT(cluster_threshold), 0.0, 2.0,
      "faces closer than this are linked (default 0.5, stricter than the 0.6 match tolerance)" },
    { "--min-size", CLI_INT, OPT(min_cluster_size), 1, 1000000, "groups with fewer faces are listed as unclustered" },
    { NULL, 0, 0, 0, 0, NULL },
};

static const struct cli_option *const detect_opts[] = { opt_json, opt_landmarks, NULL };
static const struct cli_option *const embed_opts[] = { opt_json, opt_aligned, NULL };
static const struct cli_option *const compare_opts[] = { opt_tolerance, NULL };
static const struct cli_option *const identify_opts[] = { opt_tolerance, opt_identify, NULL };
static const struct cli_option *const cluster_opts[] = { opt_cluster, opt_json, NULL };

static const struct cli_cmd commands[] = {
    { "detect", "[options] PATH...",
      "Find faces. PATH is an image or a directory (searched recursively; files that are not images\n"
      "are skipped). Text: one line per face, path,x,y,width,height,score.\n"
      "Formats, told by content, not by name: JPEG, PNG, WebP, HEIC/HEIF, AVIF, JPEG XL, TIFF (first\n"
      "page), GIF (first frame), BMP and camera RAW (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF and others\n"
      "libraw reads: the embedded preview when large enough, else the demosaiced sensor data).",
      detect_opts, cli_cmd_detect, NULL },
    { "embed", "[options] PATH...",
      "As detect, with each face's 128-d embedding (face-api's descriptor; same person below 0.6).\n"
      "Text: path,x,y,width,height,score,e1,...,e128.",
      embed_opts, cli_cmd_detect, NULL },
    { "compare", "[options] IMAGE_A IMAGE_B",
      "Distance between the largest faces of two images, and whether they are the same person.", compare_opts,
      cli_cmd_compare, NULL },
    { "identify", "[options] KNOWN_DIR UNKNOWN...",
      "Name the faces in UNKNOWN images (files or directories) using known people: KNOWN_DIR/name.jpg\n"
      "or KNOWN_DIR/name/*.jpg. Prints path,name per face: the nearest known person within the\n"
      "tolerance, unknown_person when none is, no_persons_found when the image has no face.",
      identify_opts, cli_cmd_identify, NULL },
    { "cluster", "[options] PATH...",
      "Group all faces into people (Chinese whispers on the descriptor distance) and print the groups.",
      cluster_opts, cli_cmd_cluster, NULL },
    { "config", "[--config FILE] [--SETTING VALUE]...",
      "Print the server settings in effect (defaults, config file, FACEREC_* variables, flags) as an INI file.",
      NULL, NULL, cli_cmd_config },
    { "serve", "[--config FILE] [--SETTING VALUE]...",
      "Serve the HTTP API (detect, embed, verify) until SIGTERM; settings as for config.", NULL, NULL,
      cli_cmd_serve },
    { "user", "add|list|remove|key|revoke [NAME] [--admin] [--data DIR]",
      "Users and API keys of the people gallery: add NAME prints a new key once; list, remove, key, revoke.",
      NULL, NULL, cli_cmd_user },
    { "people", "list|add|rename|delete|merge|enroll|faces|cluster ... [--user NAME] [--data DIR]",
      "Manage the people gallery in the data directory: list, add NAME, rename ID NAME, delete ID,\n"
      "merge INTO FROM, enroll ID IMAGE... [--all], faces ID, cluster [--min-faces N --max-distance D].",
      NULL, NULL, cli_cmd_people },
    { "index", "DIR... [--user NAME] [--data DIR]",
      "Add every photo's faces to the gallery, unassigned (resumable: files already indexed are skipped).",
      NULL, NULL, cli_cmd_index },
    { "search", "IMAGE... [--k N] [--json] [--user NAME] [--data DIR]",
      "Recognize the faces of images against the gallery: the nearest people, or unknown.", NULL, NULL,
      cli_cmd_search },
    { "jobs", "[--limit N] [--json] [--user NAME] [--data DIR]",
      "The user's recent index and cluster runs, newest first.", NULL, NULL, cli_cmd_jobs },
    { "bench", "[--serve | --url URL] [options] [--SETTING VALUE]... [IMAGES...]",
      "Load-test a server: concurrency sweep, latency percentiles, batch sizes, --compare static, --plot.", NULL,
      NULL, cli_cmd_bench },
    { "tune", "[--goal GOAL] [options] [--SETTING VALUE]... [IMAGES...]",
      "Find batch sizes, workers and concurrency for a goal by short benchmarks; prints the config.", NULL, NULL,
      cli_cmd_tune },
    { "devices", "",
      "List the compute backends found (CPU built in, CUDA module) and the devices each one sees.", NULL, NULL,
      cli_cmd_devices },
    { "monitor", "[--url URL] [--key KEY] [--interval S] [--count N] [--once] [--json]",
      "Live view of a running server (queues, faces/s, batches, memory) and of the GPUs (NVML) or CPU.", NULL,
      NULL, cli_cmd_monitor },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: facerec COMMAND [options] ARGS...\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const char *s = commands[i].summary, *nl = strchr(s, '\n');
        fprintf(f, "  %-10s %.*s\n", commands[i].name, nl ? (int)(nl - s) : (int)strlen(s), s);
    }
    fprintf(f, "\nfacerec COMMAND --help for a command's options; facerec --version.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("facerec %s\n", FR_VERSION);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    const struct cli_cmd *cmd = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "facerec: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (cmd->run_raw) return cmd->run_raw(argc - 1, argv + 1);
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help(cmd, stdout);
            return CLI_OK;
        }
    struct cli_opts o;
    cli_default_opts(&o);
    char **pos = calloc((size_t)argc, sizeof(char *));
    int npos = pos ? cli_parse(cmd, argc - 2, argv + 2, &o, pos) : -1;
    int rc;
    if (npos < 0) rc = CLI_USAGE;
    else rc = cmd->run(cmd, &o, npos, pos);
    free(pos);
    return rc;
}
