/* Fuzz the microdata decoder (network input: every received object is decoded). No crash, and
 * round trips: when decode(x) succeeds, y = encode(decode(x)) must exist, decode(y) must succeed
 * and encode it to y again; if x was canonical (y == x) that is "decode -> encode reproduces the
 * input bytes". validate() agrees with decode(), every reference of a valid object parses, and
 * the ID hash of a valid versioned object can be computed. Both parsers (object, ID object). */
#include "chum/err.h"
#include "chum/log.h"
#include "chum/object.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The custom recipes of vectors/objects/recipes.json that the seed corpus uses. */
static const char custom[] =
    "[{\"$type$\":\"Recipe\",\"name\":\"OneRef$Str\",\"rule\":[{\"itemprop\":\"s\"}]},{\"$type$\":\"Recipe\",\"nam"
    "e\":\"OneRef$StrRe\",\"rule\":[{\"itemprop\":\"s\",\"itemtype\":{\"type\":\"string\",\"regexp\":{\"$regexp\":"
    "\"^[a-z]+$\",\"flags\":\"\"}}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Int\",\"rule\":[{\"itemprop\":\"i\","
    "\"itemtype\":{\"type\":\"integer\"}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Num\",\"rule\":[{\"itemprop"
    "\":\"n\",\"itemtype\":{\"type\":\"number\"}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Bool\",\"rule\":[{\"it"
    "emprop\":\"b\",\"itemtype\":{\"type\":\"boolean\"}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Strf\",\"rule"
    "\":[{\"itemprop\":\"v\",\"itemtype\":{\"type\":\"stringifiable\"}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRe"
    "f$Refs\",\"rule\":[{\"itemprop\":\"obj\",\"itemtype\":{\"type\":\"referenceToObj\",\"allowedTypes\":{\"$se"
    "t\":[\"*\"]}}},{\"itemprop\":\"id\",\"itemtype\":{\"type\":\"referenceToId\",\"allowedTypes\":{\"$set\":[\"*"
    "\"]}}},{\"itemprop\":\"blob\",\"itemtype\":{\"type\":\"referenceToBlob\"}},{\"itemprop\":\"clob\",\"itemty"
    "pe\":{\"type\":\"referenceToClob\"}}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Coll\",\"rule\":[{\"itempr"
    "op\":\"arr\",\"itemtype\":{\"type\":\"array\",\"item\":{\"type\":\"string\"}},\"optional\":true},{\"itemprop"
    "\":\"bag\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"string\"}},\"optional\":true},{\"itemprop\":\"s"
    "et\",\"itemtype\":{\"type\":\"set\",\"item\":{\"type\":\"string\"}},\"optional\":true},{\"itemprop\":\"arrNu"
    "m\",\"itemtype\":{\"type\":\"array\",\"item\":{\"type\":\"number\"}},\"optional\":true},{\"itemprop\":\"bagI"
    "nt\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"integer\"}},\"optional\":true},{\"itemprop\":\"setR"
    "ef\",\"itemtype\":{\"type\":\"set\",\"item\":{\"type\":\"referenceToObj\",\"allowedTypes\":{\"$set\":[\"*\"]}"
    "}},\"optional\":true},{\"itemprop\":\"bagId\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"reference"
    "ToId\",\"allowedTypes\":{\"$set\":[\"*\"]}}},\"optional\":true},{\"itemprop\":\"bagBlob\",\"itemtype\":{\""
    "type\":\"bag\",\"item\":{\"type\":\"referenceToBlob\"}},\"optional\":true},{\"itemprop\":\"arrArr\",\"item"
    "type\":{\"type\":\"array\",\"item\":{\"type\":\"array\",\"item\":{\"type\":\"string\"}}},\"optional\":true},{"
    "\"itemprop\":\"bagBag\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"bag\",\"item\":{\"type\":\"string\"}"
    "}},\"optional\":true},{\"itemprop\":\"arrMap\",\"itemtype\":{\"type\":\"array\",\"item\":{\"type\":\"map\",\""
    "key\":{\"type\":\"string\"},\"value\":{\"type\":\"integer\"}}},\"optional\":true},{\"itemprop\":\"bagObj\","
    "\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"object\",\"rules\":[{\"itemprop\":\"k\"},{\"itemprop\":\"n\""
    ",\"itemtype\":{\"type\":\"integer\"},\"optional\":true}]}},\"optional\":true},{\"itemprop\":\"setBool\","
    "\"itemtype\":{\"type\":\"set\",\"item\":{\"type\":\"boolean\"}},\"optional\":true},{\"itemprop\":\"arrStrf\""
    ",\"itemtype\":{\"type\":\"array\",\"item\":{\"type\":\"stringifiable\"}},\"optional\":true}]},{\"$type$\":"
    "\"Recipe\",\"name\":\"OneRef$Map\",\"rule\":[{\"itemprop\":\"mStr\",\"itemtype\":{\"type\":\"map\",\"key\":{\"t"
    "ype\":\"string\"},\"value\":{\"type\":\"string\"}},\"optional\":true},{\"itemprop\":\"mInt\",\"itemtype\":{"
    "\"type\":\"map\",\"key\":{\"type\":\"integer\"},\"value\":{\"type\":\"string\"}},\"optional\":true},{\"itempr"
    "op\":\"mNum\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"number\"},\"value\":{\"type\":\"boolean\"}},\"o"
    "ptional\":true},{\"itemprop\":\"mBool\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"boolean\"},\"valu"
    "e\":{\"type\":\"integer\"}},\"optional\":true},{\"itemprop\":\"mRef\",\"itemtype\":{\"type\":\"map\",\"key\":"
    "{\"type\":\"referenceToObj\",\"allowedTypes\":{\"$set\":[\"*\"]}},\"value\":{\"type\":\"string\"}},\"option"
    "al\":true},{\"itemprop\":\"mId\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"referenceToId\",\"allowe"
    "dTypes\":{\"$set\":[\"*\"]}},\"value\":{\"type\":\"referenceToClob\"}},\"optional\":true},{\"itemprop\":\""
    "mNested\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"map\",\"key\":{\"ty"
    "pe\":\"string\"},\"value\":{\"type\":\"integer\"}}},\"optional\":true},{\"itemprop\":\"mArr\",\"itemtype\":"
    "{\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"array\",\"item\":{\"type\":\"string\"}}},\""
    "optional\":true},{\"itemprop\":\"mObj\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value"
    "\":{\"type\":\"object\",\"rules\":[{\"itemprop\":\"a\"}]}},\"optional\":true},{\"itemprop\":\"mSet\",\"itemt"
    "ype\":{\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"set\",\"item\":{\"type\":\"integer\"}"
    "}},\"optional\":true},{\"itemprop\":\"mStrf\",\"itemtype\":{\"type\":\"map\",\"key\":{\"type\":\"string\"},\""
    "value\":{\"type\":\"stringifiable\"}},\"optional\":true}]},{\"$type$\":\"Recipe\",\"name\":\"OneRef$Nest"
    "ed\",\"rule\":[{\"itemprop\":\"title\"},{\"itemprop\":\"meta\",\"itemtype\":{\"type\":\"object\",\"rules\":[{"
    "\"itemprop\":\"author\"},{\"itemprop\":\"year\",\"itemtype\":{\"type\":\"integer\"},\"optional\":true},{\"i"
    "temprop\":\"inner\",\"itemtype\":{\"type\":\"object\",\"rules\":[{\"itemprop\":\"deep\",\"itemtype\":{\"type"
    "\":\"boolean\"}}]},\"optional\":true},{\"itemprop\":\"tags\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type"
    "\":\"string\"}},\"optional\":true}]}},{\"itemprop\":\"list\",\"itemtype\":{\"type\":\"array\",\"item\":{\"ty"
    "pe\":\"object\",\"rules\":[{\"itemprop\":\"name\"},{\"itemprop\":\"ref\",\"itemtype\":{\"type\":\"referenceT"
    "oObj\",\"allowedTypes\":{\"$set\":[\"*\"]}},\"optional\":true}]}},\"optional\":true}]},{\"$type$\":\"Rec"
    "ipe\",\"name\":\"OneRef$Opt\",\"rule\":[{\"itemprop\":\"req\"},{\"itemprop\":\"optStr\",\"optional\":true},"
    "{\"itemprop\":\"optInt\",\"itemtype\":{\"type\":\"integer\"},\"optional\":true},{\"itemprop\":\"optBag\",\""
    "itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"string\"}},\"optional\":true},{\"itemprop\":\"optMap\",\"i"
    "temtype\":{\"type\":\"map\",\"key\":{\"type\":\"string\"},\"value\":{\"type\":\"string\"}},\"optional\":true}"
    ",{\"itemprop\":\"optObj\",\"itemtype\":{\"type\":\"object\",\"rules\":[{\"itemprop\":\"x\"}]},\"optional\":t"
    "rue},{\"itemprop\":\"optStrf\",\"itemtype\":{\"type\":\"stringifiable\"},\"optional\":true}]},{\"$type$"
    "\":\"Recipe\",\"name\":\"OneRef$VMulti\",\"rule\":[{\"itemprop\":\"kind\",\"isId\":true},{\"itemprop\":\"num"
    "\",\"isId\":true,\"itemtype\":{\"type\":\"integer\"}},{\"itemprop\":\"ids\",\"isId\":true,\"itemtype\":{\"ty"
    "pe\":\"array\",\"item\":{\"type\":\"string\"}}},{\"itemprop\":\"ref\",\"isId\":true,\"itemtype\":{\"type\":\"r"
    "eferenceToObj\",\"allowedTypes\":{\"$set\":[\"*\"]}}},{\"itemprop\":\"note\",\"optional\":true},{\"itemp"
    "rop\":\"data\",\"itemtype\":{\"type\":\"bag\",\"item\":{\"type\":\"string\"}}}]}]";

static chum_recipes *R;
static char json[1 << 21], md[1 << 20], md2[1 << 20], json2[1 << 21];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!R) {
    chum_log_set_sink(NULL, NULL);
    if (chum_recipes_new(&R, 0) != 0) abort();
    if (chum_recipes_load_json(R, custom, strlen(custom), NULL, NULL, NULL) != 0) abort();
  }
  const char *in = (const char *)data;
  for (unsigned flags = 0; flags <= CHUM_OBJ_ID; flags += CHUM_OBJ_ID) {
    size_t jn = 0;
    int rc = chum_object_decode(R, in, size, flags, json, sizeof json, &jn, NULL);
    int vrc = chum_object_validate(R, in, size, flags, NULL);
    if ((rc == 0) != (vrc == 0)) abort();
    if (rc != 0) continue;
    size_t n = 0;
    if (chum_object_encode_json(R, json, jn, flags | CHUM_OBJ_QUIRKS, md, sizeof md, &n, NULL) != 0)
      abort();
    size_t jn2 = 0, n2 = 0;
    if (chum_object_decode(R, md, n, flags, json2, sizeof json2, &jn2, NULL) != 0) abort();
    if (chum_object_encode_json(R, json2, jn2, flags | CHUM_OBJ_QUIRKS, md2, sizeof md2, &n2, NULL) != 0)
      abort();
    if (n2 != n || memcmp(md, md2, n) != 0) abort();
    /* canonical input: the JSON forms agree too */
    if (n == size && memcmp(md, in, size) == 0 && (jn2 != jn || memcmp(json, json2, jn) != 0))
      abort();
    size_t pos = 0;
    chum_ref_kind k;
    char h[CHUM_HASH_HEX_SIZE];
    int r;
    while ((r = chum_object_ref_next(in, size, &pos, &k, h)) == 1) {
    }
    if (r < 0) abort();
    const char *type;
    size_t tl;
    if (chum_object_type(in, size, &type, &tl, NULL) != 0) abort();
    if (!flags && chum_recipe_is_versioned(chum_recipes_find(R, type, tl))) {
      char ih[CHUM_HASH_HEX_SIZE];
      if (chum_object_id_hash(R, in, size, ih, NULL) != 0) abort();
    }
  }
  return 0;
}
