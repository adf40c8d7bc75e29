/*
** lib/giveup.c — keys a JIT gave up on, kept for the next run.
**
** A loop whose every recording aborts (it calls what the JIT cannot
** compile, it recurses deeper than traces go) is recorded again by every
** run, and every run throws the recordings away: warm binary-trees spent
** about 1.4 ms per run recording a bridge that always ran out of snapshots.
** The client saves the keys it gave up on (jc_giveup_save); a later run that
** finds no record under a key asks (jc_giveup_find) before recording.
**
** Store: the LMDB table "giveups" (created with the others, lib/store.c).
** Key: namespace hash | lookup key, 32 bytes: the record key without the
** trace id, so a key has at most one entry and another namespace's are
** never visited.  Value: 64 bytes, little-endian, untrusted like a record:
**
**   0   u32  magic "JCGU"
**   4   u16  version (1)
**   6   u16  length of the reason, < JC_GIVEUP_WHY_MAX
**   8   u64  unix seconds when saved
**   16  48   the reason, then zeros to the end
**
** An entry of another length, magic or version, or with a reason that is
** not followed by zeros only, is counted as a rejected record (reject probe,
** records_rejected and the reason's counter; trace id 0) and ignored.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "internal.h"

#define GIVEUP_MAGIC 0x5547434au /* "JCGU" */
#define GIVEUP_VERSION 1
#define GIVEUP_WHY_OFF 16

_Static_assert(GIVEUP_WHY_OFF + JC_GIVEUP_WHY_MAX == JC_GIVEUP_VAL_SIZE,
               "a give-up's value is its header and the reason");

static void encode(uint8_t v[JC_GIVEUP_VAL_SIZE], const char *why) {
  size_t len = why ? strnlen(why, JC_GIVEUP_WHY_MAX - 1) : 0;
  uint32_t magic = GIVEUP_MAGIC;
  uint16_t version = GIVEUP_VERSION, n = (uint16_t)len;
  uint64_t now = (uint64_t)time(NULL);
  memset(v, 0, JC_GIVEUP_VAL_SIZE);
  memcpy(v, &magic, 4);
  memcpy(v + 4, &version, 2);
  memcpy(v + 6, &n, 2);
  memcpy(v + 8, &now, 8);
  if (len) memcpy(v + GIVEUP_WHY_OFF, why, len);
}

/* The reason's length, or -1 (counted) if v is not a give-up this version
** wrote. */
static int decode(jc_key key, const void *val, size_t size) {
  if (size != JC_GIVEUP_VAL_SIZE) {
    jc_store_count_reject(key, 0, JC_REJECT_TRUNCATED, "give-up entry of another size");
    return -1;
  }
  const uint8_t *v = val;
  uint16_t version, n;
  memcpy(&version, v + 4, 2);
  memcpy(&n, v + 6, 2);
  if (jc_ld32(v) != GIVEUP_MAGIC || version != GIVEUP_VERSION) {
    jc_store_count_reject(key, 0, JC_REJECT_MAGIC, "give-up entry: bad magic or version");
    return -1;
  }
  bool ok = n < JC_GIVEUP_WHY_MAX;
  for (size_t i = GIVEUP_WHY_OFF + n; ok && i < JC_GIVEUP_VAL_SIZE; i++) ok = !v[i];
  if (!ok) {
    jc_store_count_reject(key, 0, JC_REJECT_ENTRY, "give-up entry: bad reason");
    return -1;
  }
  return n;
}

JC_API jc_err jc_giveup_save(jc_cache *c, jc_key key, const char *why) {
  if (!c) return jc_fail(JC_INVAL, "jcache: jc_giveup_save without a cache");
  uint8_t *v = malloc(JC_GIVEUP_VAL_SIZE);
  if (!v) return jc_fail(JC_NOMEM, "jcache: out of memory queueing a give-up");
  encode(v, why);
  return jc_store_put_side(c, c->giveup_dbi, c->has_giveups, key, v,
                           JC_GIVEUP_VAL_SIZE);
}

JC_API jc_err jc_giveup_find(jc_cache *c, jc_key key, char *why, size_t cap) {
  if (why && cap) why[0] = 0;
  if (!c) return jc_fail(JC_INVAL, "jcache: jc_giveup_find without a cache");
  if (!c->has_giveups) return JC_NOTFOUND;
  MDB_txn *txn;
  if (jc_store_read_txn(c, &txn))
    return jc_fail(JC_IO, "jcache: cannot read the give-ups in %s", c->dir);
  uint8_t k[40];
  jc_store_key(k, c->ns, key, 0);
  MDB_val mk = {32, k}, mv;
  jc_err err = JC_NOTFOUND;
  if (mdb_get(txn, c->giveup_dbi, &mk, &mv) == 0) {
    int n = decode(key, mv.mv_data, mv.mv_size);
    if (n < 0) {
      err = jc_fail(JC_CORRUPT, "jcache: a give-up entry in %s does not parse",
                    c->dir);
    } else {
      if (why && cap) {
        size_t m = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
        memcpy(why, (const uint8_t *)mv.mv_data + GIVEUP_WHY_OFF, m);
        why[m] = 0;
      }
      err = JC_OK;
    }
  }
  jc_store_release_txn(c, txn);
  return err;
}
