/*
** tests/unit/testutil.h — shared helpers for the unit tests.
*/
#ifndef JC_TESTUTIL_H
#define JC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Make a fresh private (0700) temporary directory; returns a malloc'd path. */
char *tu_tmpdir(void);
/* Remove a directory tree made by tu_tmpdir. */
void tu_rmtree(const char *path);
/* Path of a helper program built beside the tests. */
const char *tu_helper(const char *name);
/* Run argv as a child process; returns its exit status (or 128+signal). */
int tu_run(char *const argv[]);

#endif
