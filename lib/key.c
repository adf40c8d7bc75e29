/*
** lib/key.c — 128-bit keys: hashing helpers for clients.
*/
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "internal.h"
#include "jcache/cache.h"

JC_API jc_key jc_key_hash(const void *data, size_t len) {
  XXH128_hash_t h = XXH3_128bits(data, len);
  return (jc_key){h.low64, h.high64};
}

JC_API jc_key jc_key_combine(jc_key key, const void *data, size_t len) {
  /* Seed with the key's low half and mix the high half in as data, so that
  ** combine(k, x) differs for every k even when len is 0. */
  XXH3_state_t st;
  XXH3_128bits_reset_withSeed(&st, key.lo);
  XXH3_128bits_update(&st, &key.hi, sizeof key.hi);
  XXH3_128bits_update(&st, data, len);
  XXH128_hash_t h = XXH3_128bits_digest(&st);
  return (jc_key){h.low64, h.high64};
}

/* Bridge keys: `lo` names the parent alone (jc_key_family), so that in the
** store, where keys sort as bytes and lo comes first, every bridge of one
** trace lies in one contiguous range that the prefetch thread reads in one
** cursor pass (jc_store_each_family); `hi` names the exit.  Domain tags
** keep them apart from clients' loop keys. */
uint64_t jc_key_family(uint64_t parent_trace) {
  struct {
    char tag[8];
    uint64_t parent;
  } b;
  memcpy(b.tag, "jcbridge", 8);
  b.parent = parent_trace;
  return XXH3_64bits(&b, sizeof b);
}

JC_API jc_key jc_key_bridge(uint64_t parent_trace, uint32_t exit) {
  struct {
    char tag[8];
    uint64_t parent;
    uint32_t exit, pad;
  } b;
  memset(&b, 0, sizeof b);
  memcpy(b.tag, "jcbrexit", 8);
  b.parent = parent_trace;
  b.exit = exit;
  return (jc_key){jc_key_family(parent_trace), XXH3_64bits(&b, sizeof b)};
}
