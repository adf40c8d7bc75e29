/*
** tools/bundle.h — the bundle file of `jcache export` / `jcache import`:
** a cache's records in one file, to ship a warmed cache with an application.
**
** All integers are little-endian.  Version 1:
**
**   header, 32 bytes
**      0   8  magic      "JCBUNDL\0"
**      8   4  version    JT_BUNDLE_VERSION (1)
**     12   4  format     JC_FORMAT_VERSION of the records' writer (informational)
**     16   8  count      number of entries
**     24   8  created    unix seconds when exported (informational)
**   count entries, back to back, each
**      0   4  key_len    length of the LMDB key (40: ns | key | trace id)
**      4   4  value_len  length of the record
**      8   8  checksum   XXH3-64 of the key bytes followed by the value bytes
**     16      key_len bytes of key, then value_len bytes of record
**   trailer, 16 bytes
**      0   8  magic      "JCBEND\0\0"
**      8   8  checksum   XXH3-64 of every byte before the trailer
**
** The file is untrusted input: import checks every length against the file
** size, each entry's checksum, and then each record with jc_fmt_parse()
** (namespace from its key) and the key/id match, exactly as `jcache verify`
** does, before inserting it.  Bad entries are skipped and named.  Usage
** statistics are not exported: imported records start unused.
*/
#ifndef JC_TOOLS_BUNDLE_H
#define JC_TOOLS_BUNDLE_H

#define JT_BUNDLE_MAGIC "JCBUNDL" /* 8 bytes with the NUL */
#define JT_BUNDLE_END "JCBEND"    /* 8 bytes, NUL padded */
#define JT_BUNDLE_VERSION 1
#define JT_BUNDLE_HDR 32
#define JT_BUNDLE_ENTRY 16
#define JT_BUNDLE_TRAILER 16

#endif
