/* chum get: stream a stored BLOB, CLOB or object out of the store, verifying its hash
 * (src/store/stream.c). */
#include "store_cli.h"

#include "chum/err.h"
#include "chum/port.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* To standard output: bytes leave before the end is verified, so a mismatch can only be
 * reported (exit 1) after the fact; -o FILE is all or nothing. */
static int get_stdout(chum_store *st, chum_store_kind kind, const char *hash, cli_progress *p) {
  chum_store_reader *r = NULL;
  int rc = chum_store_reader_new(&r, st, kind, hash, 1, cli_progress_cb, p);
  if (rc) return rc;
  uint8_t buf[CHUM_STREAM_BUFFER_SIZE];
  for (;;) {
    rc = chum_store_reader_read(r, buf, sizeof buf);
    if (rc <= 0) break;
    if (fwrite(buf, 1, (size_t)rc, stdout) != (size_t)rc) {
      rc = CHUM_ERR_IO;
      break;
    }
  }
  chum_store_reader_free(r);
  if (fflush(stdout) != 0 && rc == 0) rc = CHUM_ERR_IO;
  return rc;
}

int cmd_get(cli_ctx *ctx, int argc, char **argv) {
  const char *out = NULL;
  const cli_opt opts[] = {
      {"output", 'o', CLI_OPT_STRING, "FILE", "write to FILE (atomically) instead of stdout", &out,
       0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {
      "chum get HASH [-o FILE]",
      "Copy the stored BLOB, CLOB, object or ID object named HASH out of the store, checking\n"
      "on the way that its bytes still hash to HASH. With -o FILE the copy goes to a\n"
      "temporary file beside FILE and is renamed only when complete and verified, so FILE is\n"
      "never left half-written or corrupt. Without -o the bytes go to standard output; a\n"
      "mismatch found at the end is reported and the exit code is 1. A progress bar is shown\n"
      "on a terminal for large files.",
      opts, 1, 1,
      "examples:\n"
      "  chum get 0c6c96cc... -o photo.jpg\n"
      "  chum get 9af2fe88... | less"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  char hash[65];
  rc = cli_hash_arg(args.v[0], "hash", hash);
  if (rc != CLI_OK) return rc;
  if (out && chum_port_is_dir(out)) {
    cli_error("give a file name after -o", "%s is a directory", out);
    return CLI_USAGE;
  }
  chum_store *st = NULL;
  chum_store_kind kind;
  rc = cli_open_store_find(ctx, hash, &st, &kind);
  if (rc != CLI_OK) return rc;
  uint64_t size = 0;
  chum_store_size(st, kind, hash, &size);
  cli_progress p;
  cli_progress_init(&p, ctx, "get", size);
  int err = out ? chum_store_get_file(st, kind, hash, out, cli_progress_cb, &p)
                : get_stdout(st, kind, hash, &p);
  cli_progress_end(&p);
  chum_store_close(st);
  if (err == CHUM_ERR_INTEGRITY) {
    cli_error("run 'chum fsck' to move the corrupt file to quarantine/; a peer that has it can "
              "send it again",
              "the stored %s %s is corrupt: its bytes do not hash to its name%s",
              chum_store_kind_name(kind), hash,
              out ? " (nothing written)" : " (the output is not to be trusted)");
    return CLI_RUNTIME;
  }
  if (err) {
    cli_error(NULL, "cannot copy %s %s%s%s: %s", chum_store_kind_name(kind), hash,
              out ? " to " : "", out ? out : "", chum_strerror(err));
    return CLI_RUNTIME;
  }
  if (out && ctx->json)
    printf("{\"hash\":\"%s\",\"type\":\"%s\",\"size\":%" PRIu64 ",\"file\":", hash,
           chum_store_kind_name(kind), size);
  if (out && ctx->json) {
    cli_json_string(out);
    printf("}\n");
  }
  return CLI_OK;
}
