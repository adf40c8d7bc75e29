/*
** jcache/error.h — status codes and error messages.
**
** Every libjcache call that can fail returns a jc_err.  JC_OK is zero; every
** other value names what went wrong, and jc_strerror() turns it into a fixed
** sentence.  The details of the last failure in the calling thread (which file,
** which record, which relocation) are kept in a thread-local string that
** jc_last_error() returns.  Nothing in the library aborts or exits the host
** program: a failure is always a return value.
*/
#ifndef JCACHE_ERROR_H
#define JCACHE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro list: name, message.  Order is ABI: append only. */
#define JC_ERRDEF(_)                                                           \
  _(OK, "success")                                                             \
  _(MISS, "replay miss: the program disagrees with the recorded tape")         \
  _(INVAL, "invalid argument")                                                 \
  _(NOMEM, "out of memory")                                                    \
  _(STATE, "call not valid in the object's current state")                     \
  _(UNSAFE, "cache directory or file is not private to this user")            \
  _(DISABLED, "cache is disabled")                                             \
  _(IO, "I/O error in the cache store")                                        \
  _(FULL, "cache store is full")                                               \
  _(CORRUPT, "corrupted record")                                               \
  _(RANGE, "relocation target out of range")                                   \
  _(SYMBOL, "symbol could not be resolved")                                    \
  _(ARENA, "code arena exhausted or unavailable")                              \
  _(LIMIT, "a size or count limit was exceeded")                               \
  _(NOTFOUND, "no such trace, exit or patch point")                          \
  _(EXIT, "every candidate left through an exit: nothing left to check")      \
  _(BRIDGE, "the check continues in a saved bridge of the exit just taken")

typedef enum jc_err {
#define JC_ERRENUM(name, msg) JC_##name,
  JC_ERRDEF(JC_ERRENUM)
#undef JC_ERRENUM
  JC_ERR__MAX
} jc_err;

/* A fixed English sentence for a status code; never NULL. */
const char *jc_strerror(jc_err err);

/* Details of the last failure in this thread ("" if none).  The string stays
** valid until the next libjcache call in the same thread. */
const char *jc_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
