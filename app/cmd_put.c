/* chum put: store a file as a BLOB (or a CLOB with --clob), streamed through the store's fixed
 * buffer and hashed on the fly (src/store/stream.c); prints the hash. */
#include "store_cli.h"

#include "chum/err.h"
#include "chum/port.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Standard input through a writer: the same fixed buffer as chum_store_put_file. */
static int put_stdin(chum_store *st, chum_store_kind kind, cli_progress *p, char hash[65],
                     uint64_t *size) {
  chum_store_writer *w = NULL;
  int rc = chum_store_writer_new(&w, st, kind, NULL, 0, cli_progress_cb, p);
  if (rc) return rc;
  uint8_t buf[CHUM_STREAM_BUFFER_SIZE];
  for (;;) {
    size_t n = fread(buf, 1, sizeof buf, stdin);
    if (n == 0) {
      if (ferror(stdin)) rc = CHUM_ERR_IO;
      break;
    }
    rc = chum_store_writer_write(w, buf, n);
    if (rc) break;
  }
  if (rc) {
    chum_store_writer_abort(w);
    return rc;
  }
  *size = chum_store_writer_bytes(w);
  return chum_store_writer_finish(w, hash);
}

int cmd_put(cli_ctx *ctx, int argc, char **argv) {
  bool clob = false;
  const cli_opt opts[] = {
      {"clob", 'c', CLI_OPT_FLAG, NULL, "store UTF-8 text as a CLOB (refused if not UTF-8)", &clob,
       0},
      {NULL, 0, CLI_OPT_FLAG, NULL, NULL, NULL, 0}};
  const cli_spec spec = {
      "chum put FILE [--clob] [--json]",
      "Store FILE (\"-\": standard input) in the node's store as a BLOB (binary) or, with\n"
      "--clob, as a CLOB (UTF-8 text), and print its hash: the SHA-256 of its bytes, its name\n"
      "in ONE. The file streams through a fixed buffer, so its size does not matter for\n"
      "memory (limit: CHUM_MAX_BLOB_SIZE). Nothing is visible under the hash until all of it\n"
      "is written and synced. A progress bar is shown on a terminal for large files.\n"
      "Storing a file does not share it: 'chum share HASH --with PERSON' does.",
      opts, 1, 1,
      "examples:\n"
      "  chum put photo.jpg\n"
      "  chum put --clob notes.txt\n"
      "  h=$(chum put report.pdf) && chum share $h --with bob@example.org --name report.pdf"};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  const char *path = args.v[0];
  bool is_stdin = strcmp(path, "-") == 0;
  uint64_t size = 0;
  if (!is_stdin) {
    if (!chum_port_exists(path)) {
      cli_error(NULL, "cannot read %s: no such file", path);
      return CLI_RUNTIME;
    }
    if (chum_port_is_dir(path)) {
      cli_error("put stores one file; for a directory, put each file", "%s is a directory", path);
      return CLI_RUNTIME;
    }
    if (chum_port_file_size(path, &size) == 0 && size > CHUM_MAX_BLOB_SIZE) {
      cli_error(NULL, "%s is %" PRIu64 " bytes; the store takes at most %llu", path, size,
                (unsigned long long)CHUM_MAX_BLOB_SIZE);
      return CLI_RUNTIME;
    }
  }
  chum_store *st = NULL;
  rc = cli_open_store(ctx, &st);
  if (rc != CLI_OK) return rc;
  chum_store_kind kind = clob ? CHUM_STORE_CLOB : CHUM_STORE_BLOB;
  cli_progress p;
  cli_progress_init(&p, ctx, "put", is_stdin ? 0 : size);
  char hash[65];
  int err = is_stdin ? put_stdin(st, kind, &p, hash, &size)
                     : chum_store_put_file(st, kind, path, cli_progress_cb, &p, hash);
  cli_progress_end(&p);
  chum_store_close(st);
  if (err) {
    const char *what = is_stdin ? "standard input" : path;
    if (err == CHUM_ERR_UTF8)
      cli_error("store it as a BLOB (without --clob)", "%s is not UTF-8 text: nothing stored",
                what);
    else if (err == CHUM_ERR_TOOBIG)
      cli_error(NULL, "%s is larger than the store's limit of %llu bytes: nothing stored", what,
                (unsigned long long)CHUM_MAX_BLOB_SIZE);
    else
      cli_error("check free space ('chum status') and permissions", "cannot store %s: %s",
                what, chum_strerror(err));
    return CLI_RUNTIME;
  }
  if (ctx->json) {
    printf("{\"hash\":\"%s\",\"type\":\"%s\",\"size\":%" PRIu64 "}\n", hash,
           clob ? "clob" : "blob", size);
  } else {
    printf("%s\n", hash);
  }
  return CLI_OK;
}
