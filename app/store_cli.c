/* The chum command: helpers of the object and store commands (app/store_cli.h). */
#include "store_cli.h"

#include "chum/crypto.h"
#include "chum/err.h"
#include "chum/node.h"
#include "chum/port.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_open_store(const cli_ctx *ctx, chum_store **st) {
  *st = NULL;
  if (cli_node_check(ctx) != CLI_OK) return CLI_RUNTIME;
  int rc = chum_store_open_flags(st, ctx->dir, CHUM_STORE_SHARED);
  if (rc) {
    cli_error("check the directory's permissions and free space",
              "cannot open the store in %s: %s", ctx->dir, chum_strerror(rc));
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

int cli_open_store_find(const cli_ctx *ctx, const char *hash, chum_store **st,
                        chum_store_kind *kind) {
  int rc = cli_open_store(ctx, st);
  if (rc != CLI_OK) return rc;
  if (!cli_find_hash(*st, hash, kind)) {
    chum_store_close(*st);
    *st = NULL;
    cli_error("'chum ls' lists what is stored", "%s is not in the store", hash);
    return CLI_RUNTIME;
  }
  return CLI_OK;
}

int cli_open_store_recipes(const cli_ctx *ctx, chum_store **st, chum_recipes **r) {
  *r = NULL;
  int rc = cli_open_store(ctx, st);
  if (rc != CLI_OK) return rc;
  rc = cli_load_recipes(ctx, r);
  if (rc != CLI_OK) {
    chum_store_close(*st);
    *st = NULL;
  }
  return rc;
}

int cli_hash_arg(const char *arg, const char *what, char out[65]) {
  size_t n = strlen(arg);
  bool ok = n == 64;
  for (size_t i = 0; ok && i < n; i++) ok = isxdigit((unsigned char)arg[i]) != 0;
  if (!ok) {
    cli_error("a hash is 64 hexadecimal characters, as printed by 'chum put' or 'chum ls'",
              "'%s' is not a %s", arg, what);
    return CLI_USAGE;
  }
  for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)arg[i]);
  out[64] = '\0';
  return CLI_OK;
}

int cli_person_arg(const char *arg, char out[65]) {
  if (strchr(arg, '@')) {
    const char *why = NULL;
    if (chum_node_check_email(arg, &why) != 0 || chum_node_person_id(arg, out) != 0) {
      cli_error("give a Person ID hash (64 hex) or an e-mail address", "'%s' is not a valid e-mail: %s",
                arg, why ? why : "invalid");
      return CLI_USAGE;
    }
    return CLI_OK;
  }
  size_t n = strlen(arg);
  bool ok = n == 64;
  for (size_t i = 0; ok && i < n; i++) ok = isxdigit((unsigned char)arg[i]) != 0;
  if (!ok) {
    cli_error("give a Person ID hash (64 hex, 'chum id' shows a node's) or an e-mail address",
              "'%s' is not a person", arg);
    return CLI_USAGE;
  }
  for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)arg[i]);
  out[64] = '\0';
  return CLI_OK;
}

int cli_find_hash(chum_store *st, const char *hash, chum_store_kind *kind) {
  static const chum_store_kind order[] = {CHUM_STORE_OBJECT, CHUM_STORE_ID, CHUM_STORE_BLOB,
                                          CHUM_STORE_CLOB};
  for (size_t i = 0; i < 4; i++) {
    if (chum_store_has(st, order[i], hash)) {
      *kind = order[i];
      return 1;
    }
  }
  return 0;
}

/* ---- progress bar ---------------------------------------------------------------------------- */

void cli_progress_init(cli_progress *p, const cli_ctx *ctx, const char *label, uint64_t total) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->on = total >= CLI_PROGRESS_MIN && ctx->verbosity >= 0 && !ctx->json &&
          isatty(STDERR_FILENO) != 0;
  p->start_ms = chum_port_now_ms();
}

void cli_progress_cb(uint64_t done, uint64_t total, void *user) {
  cli_progress *p = user;
  if (!p || !p->on) return;
  uint64_t now = chum_port_now_ms();
  if (p->drawn && now - p->last_ms < 100 && done != total) return;
  p->last_ms = now;
  p->drawn = true;
  enum { WIDTH = 30 };
  unsigned pct = total ? (unsigned)(done * 100u / total) : 0;
  unsigned fill = total ? (unsigned)(done * WIDTH / total) : 0;
  char bar[WIDTH + 1];
  for (unsigned i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
  bar[WIDTH] = '\0';
  double secs = (double)(now - p->start_ms) / 1000.0;
  double rate = secs > 0 ? (double)done / 1048576.0 / secs : 0;
  fprintf(stderr, "\r%s [%s] %3u%% %8.1f MiB  %6.1f MiB/s", p->label, bar, pct,
          (double)done / 1048576.0, rate);
  fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
  if (p->on && p->drawn) fputc('\n', stderr);
}

/* ---- input ---------------------------------------------------------------------------------- */

int cli_read_input(const char *path, size_t max, bool strip_nl, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  bool is_stdin = !path || strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    cli_error(NULL, "cannot read %s: %s", path, chum_port_exists(path) ? "permission denied or unreadable" : "no such file");
    return CLI_RUNTIME;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  int rc = CLI_OK;
  while (buf) {
    if (n + 1 >= cap) {
      if (cap > max + 2) {
        cli_error(NULL, "the input is larger than %zu bytes", max);
        rc = CLI_USAGE;
        break;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        cli_error(NULL, "cannot read %s", is_stdin ? "standard input" : path);
        rc = CLI_RUNTIME;
      }
      break;
    }
  }
  if (!is_stdin) fclose(f);
  if (!buf) {
    cli_error(NULL, "out of memory reading the input");
    return CLI_RUNTIME;
  }
  if (rc == CLI_OK && n > max) {
    cli_error(NULL, "the input is larger than %zu bytes", max);
    rc = CLI_USAGE;
  }
  if (rc != CLI_OK) {
    free(buf);
    return rc;
  }
  if (strip_nl && n > 0 && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return CLI_OK;
}

void cli_object_error(const char *what, int rc, const chum_object_error *err) {
  if (err && err->message[0])
    cli_error(NULL, "%s: %s (%s at byte %zu)", what, err->message, err->code[0] ? err->code : "?",
              err->offset);
  else
    cli_error(NULL, "%s: %s", what, chum_strerror(rc));
}

void cli_write_exact(const cli_ctx *ctx, const void *data, size_t len) {
  fwrite(data, 1, len, stdout);
  if (ctx->tty) fputc('\n', stdout);
}

/* ---- access objects -------------------------------------------------------------------------- */

/* Encode {"$type$":type, key: value} as ID microdata and hash it: the ID hash of the access
 * object for |key| (Access: object, IdAccess: id, Group: name; spec/objects.md §7, §9). */
static int id_hash_of(const chum_recipes *r, const char *type, const char *key, char out[65]) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddStringToObject(o, "$type$", type);
  if (strcmp(type, "Group") == 0) {
    cJSON_AddStringToObject(o, "name", key);
  } else {
    cJSON_AddStringToObject(o, strcmp(type, "Access") == 0 ? "object" : "id", key);
    cJSON_AddItemToObject(o, "group", cJSON_CreateArray());
  }
  cJSON_AddItemToObject(o, "person", cJSON_CreateArray());
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!json) return CHUM_ERR_NOMEM;
  char md[1024];
  size_t len = 0;
  chum_object_error err;
  int rc = chum_object_encode_json(r, json, strlen(json), CHUM_OBJ_ID, md, sizeof md, &len, &err);
  free(json);
  if (rc) return rc;
  chum_object_hash_hex(md, len, out);
  return 0;
}

int cli_group_id(const chum_recipes *r, const char *name, char out[65]) {
  return id_hash_of(r, "Group", name, out);
}

static int copy_list(cJSON *arr, char (*dst)[65], size_t *n) {
  *n = 0;
  if (!arr) return 0;
  if (!cJSON_IsArray(arr)) return CHUM_ERR_PROTO;
  cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it) || strlen(it->valuestring) != 64) return CHUM_ERR_PROTO;
    if (*n == CLI_ACCESS_MAX) return CHUM_ERR_TOOBIG;
    memcpy(dst[(*n)++], it->valuestring, 65);
  }
  return 0;
}

int cli_access_load(chum_store *st, const chum_recipes *r, const char *type, const char *key,
                    cli_access *a) {
  memset(a, 0, sizeof *a);
  bool group = strcmp(type, "Group") == 0;
  if (group) {
    if (strlen(key) >= sizeof a->name) {
      cli_error(NULL, "the group name is too long (at most %zu bytes)", sizeof a->name - 1);
      return CHUM_ERR_TOOBIG;
    }
    snprintf(a->name, sizeof a->name, "%s", key);
  } else {
    snprintf(a->target, sizeof a->target, "%s", key);
  }
  int rc = id_hash_of(r, type, key, a->id_hash);
  if (rc) {
    cli_error(NULL, "cannot compute the ID of the %s object: %s", type, chum_strerror(rc));
    return rc;
  }
  chum_store_head head;
  rc = chum_store_head_get(st, a->id_hash, &head);
  if (rc == CHUM_ERR_NOTFOUND) return 0;
  if (rc) {
    cli_error("run 'chum fsck'", "cannot read the latest %s %s: %s", type, a->id_hash,
              chum_strerror(rc));
    return rc;
  }
  uint8_t *md = NULL;
  size_t len = 0;
  rc = chum_store_get_alloc(st, CHUM_STORE_OBJECT, head.data, &md, &len, CHUM_MAX_OBJECT_SIZE, 1);
  if (rc) {
    cli_error("run 'chum fsck'", "cannot read %s %s: %s", type, head.data, chum_strerror(rc));
    return rc;
  }
  size_t cap = len * 2 + 256;
  char *json = malloc(cap);
  size_t jlen = 0;
  chum_object_error err;
  rc = json ? chum_object_decode(r, (const char *)md, len, 0, json, cap, &jlen, &err)
            : CHUM_ERR_NOMEM;
  free(md);
  cJSON *o = rc == 0 ? cJSON_ParseWithLength(json, jlen) : NULL;
  free(json);
  if (rc == 0 && !o) rc = CHUM_ERR_NOMEM;
  if (rc == 0) rc = copy_list(cJSON_GetObjectItemCaseSensitive(o, "person"), a->person, &a->n_person);
  if (rc == 0 && !group)
    rc = copy_list(cJSON_GetObjectItemCaseSensitive(o, "group"), a->group, &a->n_group);
  cJSON_Delete(o);
  if (rc) {
    cli_error("run 'chum fsck'", "the latest %s %s does not decode: %s", type, head.data,
              chum_strerror(rc));
    return rc;
  }
  a->exists = true;
  return 0;
}

int cli_access_edit(cli_access *a, bool group, const char *hash, bool add) {
  char(*list)[65] = group ? a->group : a->person;
  size_t *n = group ? &a->n_group : &a->n_person;
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(list[i], hash) == 0) {
      if (add) return 0;
      memmove(list[i], list[i + 1], (*n - i - 1) * sizeof list[0]);
      (*n)--;
      return 1;
    }
  }
  if (!add) return 0;
  if (*n == CLI_ACCESS_MAX) return CHUM_ERR_NOBUF;
  memcpy(list[(*n)++], hash, 65);
  return 1;
}

int cli_access_store(chum_store *st, const chum_recipes *r, const char *type, const cli_access *a,
                     char out_hash[65]) {
  bool group = strcmp(type, "Group") == 0;
  cJSON *o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddStringToObject(o, "$type$", type);
  if (group) cJSON_AddStringToObject(o, "name", a->name);
  else cJSON_AddStringToObject(o, strcmp(type, "Access") == 0 ? "object" : "id", a->target);
  cJSON *p = cJSON_AddArrayToObject(o, "person");
  for (size_t i = 0; p && i < a->n_person; i++)
    cJSON_AddItemToArray(p, cJSON_CreateString(a->person[i]));
  if (!group) {
    cJSON *g = cJSON_AddArrayToObject(o, "group");
    for (size_t i = 0; g && i < a->n_group; i++)
      cJSON_AddItemToArray(g, cJSON_CreateString(a->group[i]));
  }
  char *json = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!json) return CHUM_ERR_NOMEM;
  size_t cap = strlen(json) + 1024;
  char *md = malloc(cap);
  size_t len = 0;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int rc = md ? chum_object_encode_json(r, json, strlen(json), 0, md, cap, &len, &err)
              : CHUM_ERR_NOMEM;
  free(json);
  if (rc) {
    cli_object_error(type, rc, &err);
    free(md);
    return rc;
  }
  char idh[65];
  rc = chum_store_put_version(st, r, md, len, chum_port_wall_ms(), out_hash, idh, NULL);
  free(md);
  if (rc) cli_error("run 'chum fsck' if the store may be damaged", "cannot store the %s: %s", type,
                    chum_strerror(rc));
  return rc;
}

/* ---- the node's identity objects -------------------------------------------------------------- */

/* Encode |json|, store it (a new version when versioned) and check its hash or ID hash against
 * |want| (the one node.json records). */
static int store_json(chum_store *st, const chum_recipes *r, const char *json, bool versioned,
                      const char *want_id, const char *what) {
  char md[2048];
  size_t len = 0;
  chum_object_error err;
  memset(&err, 0, sizeof err);
  int rc = chum_object_encode_json(r, json, strlen(json), 0, md, sizeof md, &len, &err);
  if (rc) {
    cli_object_error(what, rc, &err);
    return rc;
  }
  char h[65], idh[65];
  chum_store_head head;
  if (versioned && chum_object_id_hash(r, md, len, idh, NULL) == 0 &&
      chum_store_head_get(st, idh, &head) == 0) {
    chum_object_hash_hex(md, len, h);
    if (strcmp(head.data, h) == 0) return 0; /* already the latest version */
  }
  rc = versioned ? chum_store_put_version(st, r, md, len, chum_port_wall_ms(), h, idh, NULL)
                 : chum_store_put_object(st, r, 0, md, len, NULL, h, idh);
  if (rc) {
    cli_error(NULL, "cannot store the %s: %s", what, chum_strerror(rc));
    return rc;
  }
  if (want_id && strcmp(versioned ? idh : h, want_id) != 0) {
    cli_error("this is a bug; please report it", "the stored %s has hash %s, node.json says %s",
              what, versioned ? idh : h, want_id);
    return CHUM_ERR_INTEGRITY;
  }
  return 0;
}

int cli_store_identity(chum_store *st, const chum_recipes *r, const chum_node_identity *id) {
  char json[1024];
  cJSON *o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddStringToObject(o, "$type$", "Person");
  cJSON_AddStringToObject(o, "email", id->email);
  int rc = cJSON_PrintPreallocated(o, json, sizeof json, 0) ? 0 : CHUM_ERR_NOBUF;
  cJSON_Delete(o);
  if (rc == 0) rc = store_json(st, r, json, true, id->person_id, "Person");
  if (rc) return rc;
  /* The Instance as one.core's initInstance writes it (vectors: instance-like-initInstance). */
  o = cJSON_CreateObject();
  if (!o) return CHUM_ERR_NOMEM;
  cJSON_AddStringToObject(o, "$type$", "Instance");
  cJSON_AddStringToObject(o, "name", id->instance_name);
  cJSON_AddStringToObject(o, "owner", id->person_id);
  cJSON *set = cJSON_AddObjectToObject(o, "recipe");
  cJSON_AddArrayToObject(set, "$set");
  cJSON *map = cJSON_AddObjectToObject(o, "enabledReverseMapTypes");
  cJSON *entries = cJSON_AddArrayToObject(map, "$map");
  cJSON *pair = cJSON_CreateArray();
  cJSON_AddItemToArray(pair, cJSON_CreateString("Access"));
  cJSON *star = cJSON_CreateObject();
  cJSON *stars = cJSON_AddArrayToObject(star, "$set");
  cJSON_AddItemToArray(stars, cJSON_CreateString("*"));
  cJSON_AddItemToArray(pair, star);
  cJSON_AddItemToArray(entries, pair);
  cJSON *map2 = cJSON_AddObjectToObject(o, "enabledReverseMapTypesForIdObjects");
  cJSON_AddArrayToObject(map2, "$map");
  rc = cJSON_PrintPreallocated(o, json, sizeof json, 0) ? 0 : CHUM_ERR_NOBUF;
  cJSON_Delete(o);
  if (rc == 0) rc = store_json(st, r, json, true, id->instance_id, "Instance");
  if (rc) return rc;
  /* The two Keys objects (unversioned), byte for byte as the node module computes them. */
  const char *owners[2] = {id->person_id, id->instance_id};
  const uint8_t *enc[2] = {id->person_enc_pk, id->instance_enc_pk};
  const uint8_t *sign[2] = {id->person_sign_pk, id->instance_sign_pk};
  const char *want[2] = {id->person_keys_hash, id->instance_keys_hash};
  for (int i = 0; i < 2; i++) {
    char md[1024], h[65];
    int len = chum_node_keys_microdata(owners[i], enc[i], sign[i], md, sizeof md);
    if (len < 0) return len;
    rc = chum_store_put_object(st, r, 0, md, (size_t)len, want[i], h, NULL);
    if (rc) {
      cli_error(NULL, "cannot store the %s Keys object: %s", i ? "Instance" : "Person",
                chum_strerror(rc));
      return rc;
    }
  }
  return 0;
}
