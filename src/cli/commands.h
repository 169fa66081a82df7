/* Subcommands of the rkserve binary; each takes argv with argv[0] = its name. */
#ifndef RK_COMMANDS_H
#define RK_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

#endif
