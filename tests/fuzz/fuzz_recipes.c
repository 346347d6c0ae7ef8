/* Fuzz the recipe loader (disk input: `chum recipe import`, the node's recipes directory; and stored
 * Recipe objects). No crash, all-or-nothing, and every loaded recipe's canonical JSON loads
 * into a fresh registry as the same recipe. */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chum_log_set_sink(NULL, NULL);
  chum_recipes *r = NULL, *r2 = NULL;
  if (chum_recipes_new(&r, CHUM_RECIPES_CORE_ONLY) != 0) abort();
  size_t before = chum_recipes_count(r), added = 0;
  int rc = chum_recipes_load_json(r, (const char *)data, size, &added, NULL, NULL);
  if (rc != 0 && chum_recipes_count(r) != before) abort();
  if (rc == 0 && chum_recipes_count(r) != before + added) abort();
  if (rc == 0 && added) {
    if (chum_recipes_new(&r2, CHUM_RECIPES_CORE_ONLY) != 0) abort();
    /* load in order: inheritFrom may point at an earlier recipe of the same batch, so load the
     * whole batch as one array */
    size_t total = 2;
    for (size_t i = before; i < chum_recipes_count(r); i++) {
      size_t l;
      chum_recipe_json(chum_recipes_at(r, i), &l);
      total += l + 1;
    }
    char *all = malloc(total + 1);
    size_t w = 0;
    all[w++] = '[';
    for (size_t i = before; i < chum_recipes_count(r); i++) {
      size_t l;
      const char *j = chum_recipe_json(chum_recipes_at(r, i), &l);
      if (i > before) all[w++] = ',';
      memcpy(all + w, j, l);
      w += l;
    }
    all[w++] = ']';
    size_t added2 = 0;
    if (chum_recipes_load_json(r2, all, w, &added2, NULL, NULL) != 0 || added2 != added) abort();
    for (size_t i = 0; i < added; i++) {
      size_t l1, l2;
      const char *a = chum_recipe_json(chum_recipes_at(r, before + i), &l1);
      const char *b = chum_recipe_json(chum_recipes_at(r2, before + i), &l2);
      if (l1 != l2 || memcmp(a, b, l1) != 0) abort();
    }
    free(all);
    chum_recipes_free(r2);
  }
  chum_recipes_free(r);
  return 0;
}
