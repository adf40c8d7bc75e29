/*
** lib/error.c — status messages and the per-thread last-error string.
*/
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static const char *const messages[] = {
#define JC_ERRMSG(name, msg) msg,
    JC_ERRDEF(JC_ERRMSG)
#undef JC_ERRMSG
};

static _Thread_local char last_error[512];
static _Thread_local const char *last_const; /* the message, if constant */

JC_API const char *jc_strerror(jc_err err) {
  if ((unsigned)err >= JC_COUNTOF(messages)) return "unknown error";
  return messages[err];
}

JC_API const char *jc_last_error(void) {
  return last_const ? last_const : last_error;
}

jc_err jc_fail(jc_err err, const char *fmt, ...) {
  last_const = NULL;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return err;
}

jc_err jc_fail_const(jc_err err, const char *msg) {
  last_const = msg;
  return err;
}

void jc_clear_error(void) {
  last_const = NULL;
  last_error[0] = '\0';
}
