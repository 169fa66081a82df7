/* rkserve: one binary, Ollama-style subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} COMMANDS[] = {
    {"run", cmd_run, "generate from a model, once (-p) or as an interactive chat"},
    {"bench", cmd_bench, "measure prefill and decode speed of a model (llama-bench style)"},
    {"serve", cmd_serve, "serve models over OpenAI- and Ollama-compatible HTTP APIs"},
    {"list", cmd_list, "list the models a running server offers"},
    {"ps", cmd_ps, "list the models a running server has loaded"},
    {"show", cmd_show, "describe a model of a running server"},
    {"rm", cmd_rm, "delete a model through a running server"},
    {"pull", cmd_pull, "download a model from Hugging Face or a URL into the models directory"},
    {"doctor", cmd_doctor, "check the board, NPU driver and runtime libraries (--fix-freq pins clocks)"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "rkserve %s: LLM and VLM server for Rockchip NPUs, with a portable CPU engine\n\n"
            "usage: rkserve COMMAND [options]\n\ncommands:\n",
            RKSERVE_VERSION);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n'rkserve COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (argc >= 3 && !strcmp(argv[1], "help")) {
            char *help_argv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
                if (!strcmp(COMMANDS[i].name, argv[2])) return COMMANDS[i].fn(2, help_argv);
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-v") || !strcmp(argv[1], "version")) {
        printf("rkserve %s\n", RKSERVE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(COMMANDS[i].name, argv[1])) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "rkserve: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
