/* chum topology: the neighbour graph (spec/discovery.md §5) from <dir>/peers.json. */
#include "cli.h"

#include "chum/disc.h"
#include "chum/err.h"

#include <stdlib.h>

char *cli_read_snapshot(const cli_ctx *ctx, double *age_s);

int cmd_topology(cli_ctx *ctx, int argc, char **argv) {
  bool dot = false;
  const cli_opt opts[] = {
      {"dot", 0, CLI_OPT_FLAG, NULL, "Graphviz output (e.g. | dot -Tsvg > net.svg)", &dot, 0},
      {0}};
  const cli_spec spec = {
      "chum topology [--json|--dot]",
      "Show the network map: this node, its neighbours and theirs (two hops), from the\n"
      "neighbour sets peers publish (capability 'topo'). Text is a tree from this node;\n"
      "--json gives {self, nodes[{id, label}], edges[{from, to}]} with directed edges (Y→Z:\n"
      "Z is in Y's set); --dot an undirected Graphviz graph. Reads <dir>/peers.json written\n"
      "by the discovery loop ('chum discover').",
      opts, 0, 0, NULL};
  cli_args args;
  int rc = cli_parse(ctx, &spec, argc, argv, &args);
  if (rc != CLI_CONTINUE) return rc;
  if (dot && ctx->json) {
    cli_error(NULL, "choose one of --json and --dot");
    return CLI_USAGE;
  }
  char *json = cli_read_snapshot(ctx, NULL);
  if (!json) return CLI_RUNTIME;
  chum_topology *t = NULL;
  rc = chum_topology_from_snapshot(json, &t);
  free(json);
  if (rc != 0) {
    cli_error("run 'chum discover --iface IFACE' to rewrite it", "peers.json is not a peer-table snapshot");
    return CLI_RUNTIME;
  }
  size_t cap = 64 * 1024;
  char *out = malloc(cap);
  int n = !out ? CHUM_ERR_NOMEM
          : dot ? chum_topology_dot(t, out, cap)
          : ctx->json ? chum_topology_json(t, out, cap)
                      : chum_topology_text(t, out, cap);
  if (n < 0) {
    cli_error(NULL, "cannot render the topology: %s", chum_strerror(n));
    rc = CLI_RUNTIME;
  } else {
    fputs(out, stdout);
    if (ctx->json) fputc('\n', stdout);
    rc = CLI_OK;
  }
  free(out);
  chum_topology_free(t);
  return rc;
}
