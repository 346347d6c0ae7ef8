/* chum fsck: verify every stored object, ID object, BLOB, CLOB, head and reverse-map record
 * against its name and move corrupt files to <dir>/quarantine/ (src/store/fsck.c). */
#include "cli.h"

#include "chum/err.h"
#include "chum/port.h"
#include "chum/store.h"

#include <stdio.h>
#include <string.h>

typedef struct fsck_out {
  cli_ctx *ctx;
  int repair;
  int first;
} fsck_out;

static void on_problem(const char *what, const char *path, const char *detail, void *user) {
  fsck_out *o = user;
  if (o->ctx->json) {
    printf("%s{\"problem\":", o->first ? "" : ",");
    cli_json_string(what);
    printf(",\"path\":");
    cli_json_string(path);
    printf(",\"detail\":");
    cli_json_string(detail);
    printf("}");
    o->first = 0;
    return;
  }
  printf("%-10s store/%s: %s%s\n", what, path, detail,
         !o->repair              ? ""
         : strcmp(what, "stray") == 0 && strncmp(path, "tmp/", 4) == 0 ? " (removed)"
                                                                      : " (moved to quarantine/)");
}

int cmd_fsck(cli_ctx *ctx, int argc, char **argv) {
  bool dry_run = false;
  const cli_opt opts[] = {
      {"dry-run", 'n', CLI_OPT_FLAG, NULL, "only list problems; move nothing", &dry_run, 0},
      {0}};
  const cli_spec spec = {
      "chum fsck [--dry-run] [--json]",
      "Verify every object, ID object, BLOB and CLOB in the node directory against its\n"
      "SHA-256 name, and every version head and reverse-map record against its checksum.\n"
      "Corrupt files are moved to DIR/quarantine/ (with --dry-run they are only listed);\n"
      "temporary files of interrupted writes are removed.",
      opts, 0, 0,
      "fsck exits 1 when it found corruption, 0 when everything is intact."};
  cli_args args;
  int prc = cli_parse(ctx, &spec, argc, argv, &args);
  if (prc != CLI_CONTINUE) return prc;
  cli_apply_verbosity(ctx);
  int repair = !dry_run;
  if (!chum_port_is_dir(ctx->dir)) {
    cli_error("create one with 'chum init', or pass --dir DIR", "no node directory at %s",
              ctx->dir);
    return CLI_RUNTIME;
  }
  chum_store *st = NULL;
  int rc = chum_store_open(&st, ctx->dir);
  if (rc) {
    cli_error(NULL, "cannot open the store in %s: %s", ctx->dir, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  fsck_out o = {ctx, repair, 1};
  chum_store_fsck_report rep;
  if (ctx->json) printf("{\"problems\":[");
  rc = chum_store_fsck(st, repair, on_problem, &o, &rep);
  chum_store_close(st);
  if (ctx->json) {
    printf("],\"checked\":%llu,\"bytes\":%llu,\"corrupt\":%llu,\"stray\":%llu,\"repaired\":%s,"
           "\"ok\":%s}\n",
           (unsigned long long)rep.checked, (unsigned long long)rep.bytes,
           (unsigned long long)rep.corrupt, (unsigned long long)rep.stray,
           repair ? "true" : "false", rc == 0 ? "true" : "false");
  } else if (rc == 0) {
    printf("fsck: %llu files (%llu bytes) verified, all intact%s\n",
           (unsigned long long)rep.checked, (unsigned long long)rep.bytes,
           rep.stray ? "; stray files listed above" : "");
  } else if (rc == CHUM_ERR_INTEGRITY) {
    printf("fsck: %llu files verified, %llu corrupt%s\n", (unsigned long long)rep.checked,
           (unsigned long long)rep.corrupt,
           repair ? ": moved to quarantine/ (the data is gone here; a peer that has it can send "
                    "it again)"
                  : " (dry run: nothing moved; run 'chum fsck' to quarantine them)");
  } else {
    cli_error(NULL, "fsck failed: %s", chum_strerror(rc));
  }
  return rc == 0 ? CLI_OK : CLI_RUNTIME;
}
