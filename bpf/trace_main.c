/*
** bpf/trace_main.c — jcache-trace: `jcache trace` as a program of its own,
** for testing the BPF side without the jcache CLI.
*/
#include "loader.h"

int main(int argc, char **argv) { return jc_cmd_trace(argc, argv); }
