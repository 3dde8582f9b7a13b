/* cmd/cmd.h - the herald subcommands and what they share.
 *
 * Each command returns an exit status (enum hd_exit); results go to stdout,
 * progress and errors to stderr, every error line starting "herald: ". */
#ifndef HERALD_CMD_H
#define HERALD_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "herald/campaign.h"

int hd_cmd_validate(int argc, char **argv);
int hd_cmd_plan(int argc, char **argv);
int hd_cmd_link(int argc, char **argv);
int hd_cmd_generate(int argc, char **argv);
int hd_cmd_run(int argc, char **argv);
int hd_cmd_status(int argc, char **argv);
int hd_cmd_pause(int argc, char **argv);
int hd_cmd_unpause(int argc, char **argv);
int hd_cmd_retry(int argc, char **argv);
int hd_cmd_proofs(int argc, char **argv);
int hd_cmd_keys(int argc, char **argv);
int hd_cmd_preview(int argc, char **argv);
int hd_cmd_help(int argc, char **argv);
int hd_cmd_completion(int argc, char **argv);

/* The commands' table and help (help.c). hd_cli_dispatch runs argv[0]'s
 * command (its --help/-h, anywhere before "--", prints its help instead) and
 * returns its exit status; hd_cli_help prints a command's help, or the list
 * of commands for NULL; hd_cli_usage prints a command's synopsis lines, for
 * a usage error. */
int hd_cli_dispatch(int argc, char **argv);
int hd_cli_help(FILE *out, const char *name);
void hd_cli_usage(FILE *out, const char *name);
bool hd_cli_wants_help(int argc, char **argv);

/* Loads and validates a campaign, printing every diagnostic to stderr.
 * Returns NULL and sets *code (65, 66, 74, ...) when it has errors. */
struct hd_campaign *hd_cli_load_campaign(const char *path, int *code);

/* hd_cli_load_campaign, then every channel's settings checked by its
 * module (hd_channel_check_campaign), problems printed the same way: what
 * `herald validate` and `herald plan` accept. NULL with *code on an error. */
struct hd_campaign *hd_cli_validate_campaign(const char *path, int *code);

/* Prints "herald: message" to stderr and returns code. */
int hd_cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when arg equals name or "name=..." (then *value points after '='),
 * or arg equals name and a next argument exists (then *value is it and *i
 * advances). For options that take a value. */
bool hd_cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

#endif
