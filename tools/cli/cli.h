/* Shared pieces of the facerec command line (tools/cli/). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "facerec/pipeline.h"
#include "facerec/search.h"

/* Exit codes: 0 all inputs read, 1 some failed, 2 usage error. */
enum { CLI_OK = 0, CLI_SOME_FAILED = 1, CLI_USAGE = 2 };

struct cli_opts {
    /* The pipeline's: --models, --detector, --device, --precision, --cpus
     * (threads), --min-confidence, --max-faces, --min-face-size,
     * --max-image-size and --detect-tiles (auto) set it directly. */
    struct fr_pipeline_params pp;
    bool json, landmarks, quiet, aligned, show_distance;
    float tolerance;        /* same-person distance (identify, compare) */
    float cluster_threshold; /* edge distance for clustering */
    int32_t min_cluster_size;
    const char *out_dir;
};

/* One option of a subcommand: the table drives parsing and --help. */
enum cli_arg { CLI_FLAG, CLI_INT, CLI_FLOAT, CLI_STR, CLI_DETECTOR, CLI_DEVICE, CLI_PRECISION, CLI_TILES };
struct cli_option {
    const char *name; /* "--tolerance" */
    enum cli_arg type;
    size_t offset;    /* into struct cli_opts */
    double min, max;  /* bounds for numbers */
    const char *help;
};

struct cli_cmd {
    const char *name;
    const char *usage;  /* after "facerec NAME " */
    const char *summary;
    const struct cli_option *const *opts; /* NULL-terminated */
    int (*run)(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos);
    /* Instead of run, for commands with their own parser (settings): gets
     * argv from the command's name on, --help included. */
    int (*run_raw)(int argc, char **argv);
};

extern const struct cli_option cli_opt_common[];  /* options every command takes (terminated by name NULL) */
void cli_default_opts(struct cli_opts *o);
/* Parses argv after the subcommand; positional args are compacted into
 * pos (returns their count) or -1 on a usage error (message printed). */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_opts *o, char **pos);
void cli_help(const struct cli_cmd *cmd, FILE *f);

/* Files to process: explicit files as given, directories walked
 * recursively in sorted order, keeping only files whose bytes look like an
 * image (non-images are skipped silently). */
struct cli_files {
    char **paths;
    int32_t n, cap;
};
int cli_collect(char **args, int n, struct cli_files *fl); /* 0, or CLI_SOME_FAILED if an arg is missing */
void cli_files_free(struct cli_files *fl);

/* Progress bar on stderr (only when it is a terminal and the work is big). */
struct cli_progress {
    bool on;
    int32_t total, done, faces;
    double t0, last;
};
void cli_progress_start(struct cli_progress *p, int32_t total, bool quiet);
void cli_progress_step(struct cli_progress *p, int32_t faces);
void cli_progress_end(struct cli_progress *p);

/* Reports a failed input on stderr (below the progress bar), sets *rc and
 * counts it as done; false when the input succeeded. */
bool cli_failed(const struct fr_pipeline_result *r, struct cli_progress *p, int *rc);

/* A pipeline configured from the options. */
struct fr_pipeline *cli_pipeline(const struct cli_opts *o, bool landmarks, bool embeddings);

/* JSON string escaping to stdout. */
void cli_print_json_string(const char *s);

/* The face with the largest box that has a descriptor, or -1. */
/* Settings for a raw-argv command (config, serve): prints the usage line,
 * `about` and the settings table for --help (CLI_HELP_SHOWN), or loads
 * defaults, file, environment and flags into *cfg (CLI_OK; the caller
 * clears it), or prints the error (CLI_USAGE, cfg already cleared). */
enum { CLI_HELP_SHOWN = -1 };
struct fr_config;
int cli_load_config(const char *cmd, const char *about, int argc, char **argv, struct fr_config *cfg);

int cli_cmd_detect(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos);
int cli_cmd_compare(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos);
int cli_cmd_identify(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos);
int cli_cmd_cluster(const struct cli_cmd *cmd, const struct cli_opts *o, int npos, char **pos);
int cli_cmd_config(int argc, char **argv);
int cli_cmd_serve(int argc, char **argv);
int cli_cmd_people(int argc, char **argv); /* people.c: the gallery verbs */
int cli_cmd_index(int argc, char **argv);
int cli_cmd_search(int argc, char **argv);
int cli_cmd_jobs(int argc, char **argv);

int cli_cmd_user(int argc, char **argv);
int cli_cmd_bench(int argc, char **argv); /* bench.c */
int cli_cmd_tune(int argc, char **argv);  /* tune.c */
int cli_cmd_monitor(int argc, char **argv);
int cli_cmd_devices(int argc, char **argv); /* devices.c */

/* A response body collected by libcurl (bench, monitor): pass
 * cli_body_write as CURLOPT_WRITEFUNCTION and the body as CURLOPT_WRITEDATA.
 * data is malloc'd and NUL-terminated (free it); a body would grow past
 * max bytes (0 = no limit) or memory runs out: the transfer is aborted. */
struct cli_body {
    char *data;
    size_t len, max;
};
size_t cli_body_write(char *p, size_t size, size_t n, void *body);
