/* Fuzz the dial-URL parser of the chum command (app/stream.c: URLs from invitations, known
 * peers and the command line). No crash; whatever parses is written back as
 * scheme://host:port/path (host in brackets when it has a ':') and parses to the same parts. */
#include "../../app/stream.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char in[2048], host[256], path[2048], url[4096], host2[256], path2[2048];
  chum_log_set_sink(NULL, NULL);
  if (size >= sizeof in) return 0;
  memcpy(in, data, size);
  in[size] = '\0';
  bool tls = false, tls2 = true;
  uint16_t port = 0, port2 = 0;
  if (app_stream_parse_url(in, &tls, host, sizeof host, &port, path, sizeof path) != 0) return 0;
  if (!host[0] || port == 0 || path[0] != '/' || strchr(path, '#')) abort();
  bool br = strchr(host, ':') != NULL;
  snprintf(url, sizeof url, "%s://%s%s%s:%u%s", tls ? "wss" : "ws", br ? "[" : "", host,
           br ? "]" : "", (unsigned)port, path);
  if (app_stream_parse_url(url, &tls2, host2, sizeof host2, &port2, path2, sizeof path2) != 0)
    abort();
  if (tls != tls2 || port != port2 || strcmp(host, host2) != 0 || strcmp(path, path2) != 0)
    abort();
  return 0;
}
