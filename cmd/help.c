/* cmd/help.c - the table of commands, and the one source of every command's
 * help: `herald COMMAND
 * --help`, `herald help COMMAND`, the man pages (`herald help --man`, built
 * into man/ by CMake) and the shell completions (`herald completion`) are
 * all printed from the table below, so they cannot drift apart.
 * tests/e2e/test_cli_help.sh checks that every option listed here is one the
 * command accepts. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "herald/err.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif

#define MAX_OPTIONS 20

struct option_help {
    const char *spelling; /* "--state-dir DIR" */
    const char *text;     /* one or more sentences, no line breaks */
};

struct command_help {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;     /* one line, lower case, no full stop */
    const char *synopsis;    /* lines "ARGS..." after "herald NAME", '\n'-separated */
    const char *description; /* paragraphs separated by "\n\n", lines unbroken */
    struct option_help options[MAX_OPTIONS];
};

#define STATE_DIR_OPTION                                                                           \
    {                                                                                              \
        "--state-dir DIR", "the campaign's state store, when it is not where the campaign says "   \
                           "(docs/state-store.md: state.dir, $HERALD_STATE_DIR, then "             \
                           "<campaign folder>/herald-state/<id>)"                                  \
    }
#define HELP_OPTION                                                                                \
    {                                                                                              \
        "-h, --help", "show this help and exit"                                                    \
    }

static const struct command_help commands[] = {
    {"validate",
     hd_cmd_validate,
     "check a campaign, its locale files and its channels' settings",
     "CAMPAIGN.yaml",
     "Checks the campaign file, every locale file and each channel's settings (by its module, "
     "without connecting anywhere or reading secrets), and reports every problem at once as "
     "file:line:col: message, with a suggestion for a misspelt key.",
     {HELP_OPTION}},
    {"plan",
     hd_cmd_plan,
     "decide every person's eligibility and write the plan",
     "CAMPAIGN.yaml [--state-dir DIR] [--replan] [--json]",
     "Streams the audience, decides each person's eligibility with a reason, and writes the "
     "plan into the campaign's state store.\n\nRe-running on the same inputs changes nothing; "
     "changed inputs are refused unless --replan, which is allowed only before any delivery "
     "was dispatched. A second store for a campaign whose store can be found is refused.",
     {STATE_DIR_OPTION,
      {"--replan", "plan again from changed inputs (only before anything was sent)"},
      {"--json", "print the summary as JSON (docs/plan-output.md)"},
      HELP_OPTION}},
    {"run",
     hd_cmd_run,
     "dispatch the plan: start or continue, safe to re-run",
     "CAMPAIGN.yaml [--state-dir DIR] [--inflight=resend|hold] [--modules-dir DIR]\n"
     "[--wait-paused] [--ignore-send-window] [--log-format text|json]",
     "Dispatches the plan wave by wave through the channel modules, under rate limits, send "
     "windows and retries; starts or continues, and is safe to re-run at any time. SIGINT and "
     "SIGTERM stop it after the messages in flight settle.\n\nExit status: 0 when everything "
     "planned is final and none failed; 2 failed deliveries; 3 only paused or held work left; "
     "4 a canary halted a wave; 5 stopped by a signal (docs/exit-codes.md).",
     {STATE_DIR_OPTION,
      {"--inflight=resend|hold",
       "what to do with deliveries a killed run left in flight: send them again with the same "
       "id (resend, the default) or park them for review (hold; herald retry --held sends "
       "them)"},
      {"--modules-dir DIR", "where external channel modules are (default $HERALD_MODULES_DIR)"},
      {"--wait-paused", "keep running while only paused work remains"},
      {"--ignore-send-window", "send at any hour (dry runs into the file module, demos)"},
      {"--log-format text|json", "log lines as text (default) or one JSON object per line"},
      HELP_OPTION}},
    {"status",
     hd_cmd_status,
     "progress per wave, shard and channel; pauses; uncertain deliveries",
     "CAMPAIGN.yaml [--state-dir DIR] [--json] [--uncertain] [--shards]",
     "Shows the campaign's progress: per wave and channel the deliveries pending, in flight, "
     "sent, retrying, failed and held; rates and ETA of a running dispatcher; pauses and "
     "canary halts. Pending includes the deliveries deferred by the send window (shown in "
     "parentheses; \"deferred\" in --json).",
     {STATE_DIR_OPTION,
      {"--json", "print the status as JSON"},
      {"--shards", "also one line per shard (country, language)"},
      {"--uncertain",
       "list the deliveries that may exist twice: re-sent after a crash, sent without an "
       "answer, or left in flight by a run that died"},
      HELP_OPTION}},
    {"pause",
     hd_cmd_pause,
     "stop sending to a country, a wave or everything (persists)",
     "CAMPAIGN.yaml (--country XX | --wave W | --all) [--reason TEXT] [--state-dir DIR]",
     "Stops sending to a country, a wave or everything. A running dispatcher obeys within a "
     "second; the pause persists across runs until herald unpause. Who paused and why goes "
     "to the audit log.",
     {{"--country XX", "the country (ISO 3166-1 alpha-2)"},
      {"--wave W", "the wave, by name"},
      {"--all", "every country and wave"},
      {"--reason TEXT", "why, for the audit log and herald status"},
      STATE_DIR_OPTION,
      HELP_OPTION}},
    {"unpause",
     hd_cmd_unpause,
     "resume a paused country or wave, or lift a canary halt",
     "CAMPAIGN.yaml (--country XX | --wave W | --all) [--reason TEXT] [--state-dir DIR]",
     "Resumes sending to a paused country or wave. unpause --wave also lifts a canary halt of "
     "that wave; unpause --all lifts every pause and halt.",
     {{"--country XX", "the country (ISO 3166-1 alpha-2)"},
      {"--wave W", "the wave, by name"},
      {"--all", "every pause and halt"},
      {"--reason TEXT", "why, for the audit log"},
      STATE_DIR_OPTION,
      HELP_OPTION}},
    {"retry",
     hd_cmd_retry,
     "requeue failed or held deliveries, recording who and why",
     "CAMPAIGN.yaml (--failed | --held) --reason TEXT [--channel C] [--country XX]\n"
     "[--state-dir DIR]",
     "Requeues failed (or held) deliveries, optionally only one channel's or one country's, "
     "for a new round of attempts; records who asked and why in the audit log.",
     {{"--failed", "the failed deliveries"},
      {"--held", "the held deliveries (left in flight by a killed run under --inflight=hold, or "
                 "uncertain with no attempts left)"},
      {"--reason TEXT", "why (required), for the audit log"},
      {"--channel C", "only this channel's deliveries"},
      {"--country XX", "only this country's deliveries"},
      STATE_DIR_OPTION,
      HELP_OPTION}},
    {"link",
     hd_cmd_link,
     "make or verify a personal objection link",
     "verify URL [--campaign CAMPAIGN.yaml]\nmake --person ID [--campaign CAMPAIGN.yaml]",
     "verify answers \"valid PERSON\" (exit 0) or \"invalid\" (exit 1) for a personal "
     "objection link, for the objection form's backend; make prints a person's link.\n\nThe "
     "secret comes from the variable or key file that the campaign's objection_link section "
     "names. The scheme is in docs/objection-link.md.",
     {{"--campaign CAMPAIGN.yaml", "the campaign (default $HERALD_CAMPAIGN)"},
      {"--person ID", "make: the person's id"},
      HELP_OPTION}},
    {"generate",
     hd_cmd_generate,
     "write a synthetic audience for demos and benchmarks",
     "--rows N [--seed S] [--format csv|jsonl] [--out FILE|-] [--objections FILE]\n"
     "[--ref-date YYYY-MM-DD]",
     "Writes a synthetic audience: people of the EU, EEA and UK weighted by population, with "
     "their languages and time zones, plus about 6% minors, 1% who already objected, 2% "
     "outside the region, 0.5% malformed rows and 0.1% duplicate ids "
     "(docs/synthetic-audience.md). A summary goes to standard error.",
     {{"--rows N", "number of data rows (required)"},
      {"--seed S", "PRNG seed, decimal or 0x-hex (default 1); the same seed and options give "
                   "byte-identical output"},
      {"--format csv|jsonl", "output format (default csv)"},
      {"--out FILE|-", "audience file (default -, standard output)"},
      {"--objections FILE", "also write the ids of people who already objected, one per line"},
      {"--ref-date YYYY-MM-DD", "reference date for ages (default 2025-06-26)"},
      HELP_OPTION}},
    {"proofs",
     hd_cmd_proofs,
     "export, verify and query signed delivery proofs",
     "export CAMPAIGN.yaml --out DIR [--csv] [--state-dir DIR] [--key SIGNING.key]\n"
     "[--key-name NAME]\n"
     "verify BUNDLE [--pubkey FILE]\n"
     "prove BUNDLE --person ID (--pseudonym-key-env VAR | --pseudonym-key-file FILE)\n"
     "[--out PROOF.json]\n"
     "verify-inclusion PROOF.json --checkpoint BUNDLE/checkpoint [--pubkey FILE]\n"
     "show CAMPAIGN.yaml --person ID [--state-dir DIR] [--out DIR]\n"
     "consistency OLD_BUNDLE NEW_BUNDLE [--pubkey FILE] [--out PROOF.json]",
     "Delivery proofs: pseudonymous records of every final delivery state and every "
     "exclusion, exported as a bundle signed with Ed25519 over an RFC 9162 Merkle root (a "
     "C2SP checkpoint); docs/proofs.md describes it all.\n\nexport writes the bundle of the "
     "campaign's state store (one consistent snapshot, also while a run goes on). verify "
     "checks signature, Merkle root, every record and the summary: exit 0 valid, 1 invalid, "
     "the message naming the first bad record line or file. prove writes one person's "
     "records with their inclusion proofs; verify-inclusion checks such a proof against a "
     "signed checkpoint. show re-renders what the person was sent, from the campaign "
     "snapshot in the store, and checks its SHA-256. consistency proves (and checks) that "
     "NEW's tree extends OLD's.",
     {{"--out DIR", "export: the bundle's folder; prove, consistency: the proof file; show: "
                    "where to write the re-rendered messages"},
      {"--csv", "export: also records.csv"},
      STATE_DIR_OPTION,
      {"--key SIGNING.key", "export: the signing key (default $HERALD_SIGNING_KEY)"},
      {"--key-name NAME", "export: the key name in the signature"},
      {"--pubkey FILE",
       "the signer's public key (PEM or C2SP vkey); without it the bundle's own signer.vkey "
       "is used, which shows the bundle is intact but not who signed it"},
      {"--person ID", "prove, show: the person's id"},
      {"--pseudonym-key-env VAR", "prove: the variable holding the campaign's pseudonym key"},
      {"--pseudonym-key-file FILE", "prove: the file holding the campaign's pseudonym key"},
      {"--checkpoint FILE", "verify-inclusion: the bundle's signed checkpoint"},
      HELP_OPTION}},
    {"keys",
     hd_cmd_keys,
     "make the key pair that signs proof bundles",
     "generate --out PREFIX [--name NAME] [--force]",
     "Makes an Ed25519 key pair for signing proof bundles (herald proofs export --key): "
     "PREFIX.key, the private key (PKCS#8 PEM, mode 0600), to keep secret; PREFIX.pub, the "
     "public key (PEM), what compliance hands out; PREFIX.vkey, the same public key as a C2SP "
     "verifier key line, for transparency-log tooling.",
     {{"--out PREFIX", "where to write the three files (required)"},
      {"--name NAME", "the key name in signatures"},
      {"--force", "replace existing files"},
      HELP_OPTION}},
    {"preview",
     hd_cmd_preview,
     "print a notice exactly as it would be sent",
     "CAMPAIGN.yaml --lang L [--country XX] [--channel C] [--variant] [--name TEXT]\n"
     "[--date SECONDS] [--raw] [--out DIR]",
     "Renders the notice of each channel (or one) for a sample person of language L, with "
     "the renderer herald run uses, and prints it after a line with the size and SHA-256 of "
     "the exact bytes a channel would be handed: an email's recipient, subject and text part "
     "as a reader sees them (--raw: the whole message, headers and MIME parts), a push "
     "notice's JSON. --out also writes the exact bytes, and an email's HTML part for a "
     "browser. The sample person is in a country of the campaign where L is "
     "spoken (--country chooses), so the language falls back exactly as it would for a real "
     "person; a warning says when it does.\n\nWhat belongs to the person (name, address, "
     "id, objection link) is the sample's; with --date, what a real send dates is fixed too, "
     "so the bytes are reproducible.",
     {{"--lang L", "the language asked for (BCP 47)"},
      {"--country XX", "the sample person's country (default: one of the campaign's where L "
                       "is spoken)"},
      {"--channel C", "only this channel (by its name in the campaign)"},
      {"--variant", "the text for people who already objected"},
      {"--name TEXT", "the sample person's name (default Alex Example)"},
      {"--date SECONDS", "the message date, seconds since 1970 (default now)"},
      {"--raw", "print an email's exact bytes instead of its texts"},
      {"--out DIR", "also write each message's exact bytes to DIR/CHANNEL.eml or "
                    "DIR/CHANNEL.json, and an email's HTML part to DIR/CHANNEL.html"},
      HELP_OPTION}},
    {"help",
     hd_cmd_help,
     "describe a command, or print its man page",
     "[COMMAND]\n--man [COMMAND]",
     "Without a command, lists the commands; with one, prints what herald COMMAND --help "
     "prints. --man prints the man page instead (roff), herald(1) without a command.",
     {{"--man", "print the man page (roff) instead"}, HELP_OPTION}},
    {"completion",
     hd_cmd_completion,
     "print a shell completion script",
     "bash|zsh",
     "Prints a completion script for bash or zsh, made from the same table as the help. "
     "Installed packages put it where the shell finds it; by hand: "
     "source <(herald completion bash).",
     {HELP_OPTION}},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command_help *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* Writes text wrapped at width columns, each line starting at column
 * indent. col is where the caller's line stands: the text starts on it when
 * it leaves a gap of two spaces before indent, else on the next line. */
static void wrap(FILE *out, const char *text, size_t len, int col, int indent, int width)
{
    const char *p = text, *end = text + len;
    if (col > 0 && col > indent - 2) {
        fputc('\n', out);
        col = 0;
    }
    fprintf(out, "%*s", indent - col, "");
    col = indent;
    bool line_empty = true;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *w = p;
        while (p < end && *p != ' ')
            p++;
        int n = (int)(p - w);
        if (n == 0)
            break;
        if (!line_empty && col + 1 + n > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
            line_empty = true;
        }
        if (!line_empty) {
            fputc(' ', out);
            col++;
        }
        fwrite(w, 1, (size_t)n, out);
        col += n;
        line_empty = false;
    }
    fputc('\n', out);
}

static void print_synopsis(FILE *out, const struct command_help *c)
{
    const char *p = c->synopsis;
    bool first = true;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        /* a line starting with "[" or "(" continues the line before */
        bool cont = (*p == '[' || *p == '(' || *p == '-') && !first;
        if (cont)
            fprintf(out, "%*s%.*s\n", (int)strlen(c->name) + 15, "", (int)n, p);
        else
            fprintf(out, "%s herald %s %.*s\n", first ? "usage:" : "      ", c->name, (int)n, p);
        first = false;
        p += n + (nl ? 1 : 0);
    }
}

void hd_cli_usage(FILE *out, const char *name)
{
    const struct command_help *c = find(name);
    if (c == NULL)
        return;
    print_synopsis(out, c);
    fprintf(out, "`herald help %s` describes it.\n", name);
}

static void print_help(FILE *out, const struct command_help *c)
{
    print_synopsis(out, c);
    fputc('\n', out);
    for (const char *p = c->description; *p;) {
        const char *nl = strstr(p, "\n\n");
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        wrap(out, p, n, 0, 0, 78);
        p += n;
        if (nl) {
            fputc('\n', out);
            p += 2;
        }
    }
    fputs("\noptions:\n", out);
    for (size_t i = 0; i < MAX_OPTIONS && c->options[i].spelling; i++) {
        const struct option_help *o = &c->options[i];
        fprintf(out, "  %s", o->spelling);
        wrap(out, o->text, strlen(o->text), 2 + (int)strlen(o->spelling), 26, 78);
    }
}

static void print_list(FILE *out)
{
    fprintf(out, "usage: herald COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`herald help COMMAND` or `herald COMMAND --help` describes a command;\n"
                 "man herald-COMMAND has the same. Exit codes: docs/exit-codes.md\n");
}

/* ---- roff ---- */

/* Text for a roff line: backslashes and hyphens escaped, and a line that
 * would start with '.' or '\'' protected. */
static void roff_text(FILE *out, const char *s, size_t n)
{
    if (n > 0 && (*s == '.' || *s == '\''))
        fputs("\\&", out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            fputs("\\e", out);
        else if (s[i] == '-')
            fputs("\\-", out);
        else
            fputc(s[i], out);
    }
}

static void roff_header(FILE *out, const char *title, const char *section)
{
    fputs(".\\\" Made by `herald help --man` from cmd/help.c; do not edit.\n", out);
    fprintf(out, ".TH \"%s\" \"%s\" \"\" \"herald %s\" \"Herald Manual\"\n.nh\n.ad l\n", title,
            section, HERALD_VERSION);
}

static void roff_paragraphs(FILE *out, const char *text)
{
    for (const char *p = text; *p;) {
        const char *nl = strstr(p, "\n\n");
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fputs(".PP\n", out);
        roff_text(out, p, n);
        fputc('\n', out);
        p += n + (nl ? 2 : 0);
    }
}

static void print_man(FILE *out, const struct command_help *c)
{
    char title[64];
    snprintf(title, sizeof title, "HERALD-%s", c->name);
    for (char *t = title; *t; t++)
        if (*t >= 'a' && *t <= 'z')
            *t = (char)(*t - 'a' + 'A');
    roff_header(out, title, "1");
    fprintf(out, ".SH NAME\nherald\\-%s \\- ", c->name);
    roff_text(out, c->summary, strlen(c->summary));
    fputs("\n.SH SYNOPSIS\n", out);
    for (const char *p = c->synopsis; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        bool cont = (*p == '[' || *p == '(' || *p == '-') && p != c->synopsis;
        if (!cont)
            fprintf(out, "%s.B herald %s\n", p == c->synopsis ? "" : ".br\n", c->name);
        roff_text(out, p, n);
        fputc('\n', out);
        p += n + (nl ? 1 : 0);
    }
    fputs(".SH DESCRIPTION\n", out);
    roff_paragraphs(out, c->description);
    fputs(".SH OPTIONS\n", out);
    for (size_t i = 0; i < MAX_OPTIONS && c->options[i].spelling; i++) {
        fputs(".TP\n.B ", out);
        roff_text(out, c->options[i].spelling, strlen(c->options[i].spelling));
        fputc('\n', out);
        roff_text(out, c->options[i].text, strlen(c->options[i].text));
        fputc('\n', out);
    }
    fputs(".SH EXIT STATUS\n.PP\n0 on success; 64 for a usage error; the other codes are listed in "
          "herald(1) and docs/exit\\-codes.md.\n.SH SEE ALSO\n.BR herald (1)\n",
          out);
}

static void print_man_main(FILE *out)
{
    roff_header(out, "HERALD", "1");
    fputs(".SH NAME\nherald \\- tell every affected person, in their language, with proof\n"
          ".SH SYNOPSIS\n.B herald\n.I COMMAND\n[\\fIARGS\\fR]\n.SH DESCRIPTION\n.PP\n"
          "Herald dispatches legally mandated notice campaigns: it tells every affected "
          "person, in their own language, about a change that touches their rights, with a "
          "personal link to object, and keeps signed evidence of who was told what, when and "
          "how.\n.SH COMMANDS\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(out, ".TP\n.BR herald\\-%s (1)\n", commands[i].name);
        roff_text(out, commands[i].summary, strlen(commands[i].summary));
        fputc('\n', out);
    }
    fputs(".SH ENVIRONMENT\n"
          ".TP\n.B HERALD_STATE_DIR\nthe folder that holds the state stores, one per campaign "
          "id\n"
          ".TP\n.B HERALD_MODULES_DIR\nwhere external channel modules are\n"
          ".TP\n.B HERALD_SIGNING_KEY\nthe key file that signs proof bundles\n"
          ".TP\n.B HERALD_PSEUDONYM_KEY\nthe key that makes pseudonyms in proofs (else "
          "pseudonym.key beside the campaign)\n"
          ".TP\n.B HERALD_CAMPAIGN\nthe campaign of herald link\n"
          ".PP\nSecrets (relay passwords, push tokens, the link key) come from the variables "
          "or key files that the campaign names, never from the campaign file.\n"
          ".SH EXIT STATUS\n.PP\n0 success; 1 a proof or link that does not verify; 2 a run "
          "that ended with failed deliveries; 3 only paused or held work left; 4 a canary "
          "halt; 5 stopped by a signal; 64 usage; 65 bad input data; 66 a missing input; 69 "
          "a service unavailable; 70 an internal error; 73 an output that cannot be created; "
          "74 an I/O error or a full disk; 75 a temporary failure; 78 a configuration or trust "
          "problem. docs/exit\\-codes.md has each case.\n"
          ".SH SEE ALSO\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, ".BR herald\\-%s (1)%s\n", commands[i].name, i + 1 < NCOMMANDS ? "," : "");
}

/* ---- completions ---- */

/* Writes the option names of c (first word of each spelling, both of
 * "-h, --help"), space-separated. */
static void option_words(FILE *out, const struct command_help *c)
{
    bool first = true;
    for (size_t i = 0; i < MAX_OPTIONS && c->options[i].spelling; i++) {
        const char *s = c->options[i].spelling;
        while (*s == '-') {
            size_t n = strcspn(s, " ,=");
            fprintf(out, "%s%.*s", first ? "" : " ", (int)n, s);
            first = false;
            s += n;
            if (strncmp(s, ", ", 2) != 0)
                break;
            s += 2;
        }
    }
}

static void print_bash(FILE *out)
{
    fputs("# bash completion for herald; made by `herald completion bash`.\n"
          "_herald() {\n"
          "  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]:-} words\n"
          "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n    words=\"",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "%s%s", i ? " " : "", commands[i].name);
    fputs("\"\n    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n    return\n  fi\n"
          "  case $cmd in\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(out, "    %s) words=\"", commands[i].name);
        option_words(out, &commands[i]);
        fputs("\" ;;\n", out);
    }
    fputs("    *) words=\"\" ;;\n  esac\n"
          "  if [[ $cur == -* ]]; then\n"
          "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
          "  else\n"
          "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "  fi\n"
          "}\n"
          "complete -o filenames -F _herald herald\n",
          out);
}

static void print_zsh(FILE *out)
{
    fputs("#compdef herald\n# zsh completion for herald; made by `herald completion zsh`.\n"
          "_herald() {\n  local -a commands\n  commands=(\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(out, "    '%s:", commands[i].name);
        for (const char *s = commands[i].summary; *s; s++)
            fputs(*s == '\'' ? "'\\''" : (char[]){*s, 0}, out);
        fputs("'\n", out);
    }
    fputs("  )\n  if (( CURRENT == 2 )); then\n    _describe 'command' commands\n    return\n"
          "  fi\n  local -a opts\n  case ${words[2]} in\n",
          out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fprintf(out, "    %s) opts=(", commands[i].name);
        option_words(out, &commands[i]);
        fputs(") ;;\n", out);
    }
    fputs("  esac\n  _alternative \"options:option:(${opts[*]})\" 'files:file:_files'\n}\n"
          "_herald \"$@\"\n",
          out);
}

/* ---- entry points ---- */

bool hd_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int hd_cli_help(FILE *out, const char *name)
{
    const struct command_help *c = name ? find(name) : NULL;
    if (name == NULL) {
        print_list(out);
        return HD_EX_OK;
    }
    if (c == NULL)
        return hd_cli_fail(HD_EX_USAGE, "help: no command \"%s\" (herald help lists them)", name);
    print_help(out, c);
    return HD_EX_OK;
}

int hd_cmd_help(int argc, char **argv)
{
    bool man = false;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--man") == 0)
            man = true;
        else if (name == NULL && argv[i][0] != '-')
            name = argv[i];
        else
            return hd_cli_fail(HD_EX_USAGE, "help: unexpected argument \"%s\"", argv[i]);
    }
    if (!man)
        return hd_cli_help(stdout, name);
    if (name == NULL) {
        print_man_main(stdout);
        return HD_EX_OK;
    }
    const struct command_help *c = find(name);
    if (c == NULL)
        return hd_cli_fail(HD_EX_USAGE, "help: no command \"%s\" (herald help lists them)", name);
    print_man(stdout, c);
    return HD_EX_OK;
}

int hd_cmd_completion(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "bash") == 0)
        print_bash(stdout);
    else if (argc == 2 && strcmp(argv[1], "zsh") == 0)
        print_zsh(stdout);
    else
        return hd_cli_fail(HD_EX_USAGE, "completion: name a shell, bash or zsh");
    return HD_EX_OK;
}

int hd_cli_dispatch(int argc, char **argv)
{
    const struct command_help *c = find(argv[0]);
    if (c == NULL) {
        hd_cli_fail(HD_EX_USAGE, "unknown command \"%s\"", argv[0]);
        print_list(stderr);
        return HD_EX_USAGE;
    }
    if (hd_cli_wants_help(argc, argv)) {
        print_help(stdout, c);
        return HD_EX_OK;
    }
    return c->run(argc, argv);
}
